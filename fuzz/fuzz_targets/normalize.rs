#![no_main]
//! Structured spans whose attribute keys come from every convention's vocabulary (with
//! adversarial indexes and suffixes) and whose values are arbitrary AnyValues, so the mapping
//! code sees the shapes it parses: indexed messages, JSON message payloads, token counts.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

const KEYS: &[&str] = &[
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.name",
    "gen_ai.tool.call.arguments", "gen_ai.agent.name", "gen_ai.conversation.id", "gen_ai.prompt.", "gen_ai.completion.",
    "openinference.span.kind", "llm.model_name", "llm.invocation_parameters", "llm.token_count.prompt",
    "llm.input_messages.", "llm.output_messages.", "input.value", "output.value", "session.id", "user.id", "tool.name",
    "traceloop.span.kind", "traceloop.entity.name", "traceloop.entity.input", "llm.request.type", "llm.usage.total_tokens",
    "ai.operationId", "operation.name", "ai.model.provider", "ai.prompt", "ai.prompt.messages", "ai.response.text",
    "ai.response.toolCalls", "ai.toolCall.name", "ai.usage.promptTokens", "langfuse.observation.type", "tracectrl.",
    "goclaw.", "llm.model", "llm.tokens.in", "llm.cost", "memory.action", "error.message", "error.type", "x",
];
const SUFFIXES: &[&str] = &[
    "", "0.role", "0.content", "1.message.role", "0.message.content", "0.message.contents.0.message_content.text",
    "0.message.tool_calls.0.tool_call.function.name", "99999999999999999999.content", "-1.role", "0.tool_calls.0.arguments",
    "agent.name", "guardrail.name", ".",
];

#[derive(Arbitrary, Debug)]
enum V {
    S(String),
    Json(u8, String),
    I(i64),
    D(f64),
    B(bool),
    A(Vec<V>),
    M(Vec<(String, V)>),
    Bytes(Vec<u8>),
    None,
}

fn any(v: V, depth: u32) -> AnyValue {
    use any_value::Value as AV;
    let value = match v {
        V::S(s) => Some(AV::StringValue(s)),
        // A string that looks like the JSON message payloads the mappings parse.
        V::Json(k, s) => Some(AV::StringValue(match k % 4 {
            0 => format!(r#"[{{"role":"user","parts":[{{"type":"text","content":{}}}]}}]"#, serde_json::Value::String(s)),
            1 => format!(r#"[{{"role":"assistant","tool_calls":[{{"id":"1","function":{{"name":{},"arguments":"{{}}"}}}}]}}]"#, serde_json::Value::String(s)),
            2 => format!(r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":{}}}]}}]}}"#, serde_json::Value::String(s)),
            _ => format!("[{s}"),
        })),
        V::I(i) => Some(AV::IntValue(i)),
        V::D(d) => Some(AV::DoubleValue(d)),
        V::B(b) => Some(AV::BoolValue(b)),
        V::A(items) if depth < 40 => Some(AV::ArrayValue(ArrayValue { values: items.into_iter().map(|i| any(i, depth + 1)).collect() })),
        V::M(items) if depth < 40 => Some(AV::KvlistValue(KeyValueList {
            values: items.into_iter().map(|(k, v)| KeyValue { key: k, value: Some(any(v, depth + 1)), key_strindex: 0 }).collect(),
        })),
        V::Bytes(b) => Some(AV::BytesValue(b)),
        _ => None,
    };
    AnyValue { value }
}

#[derive(Arbitrary, Debug)]
struct FSpan {
    trace: [u8; 16],
    span: [u8; 8],
    parent: Option<[u8; 8]>,
    start: u64,
    len: u64,
    status: u8,
    attrs: Vec<(u8, u8, V)>,
    events: Vec<(String, Vec<(u8, u8, V)>)>,
}

fn attrs(list: Vec<(u8, u8, V)>) -> Vec<KeyValue> {
    list.into_iter()
        .map(|(k, s, v)| KeyValue {
            key: format!("{}{}", KEYS[k as usize % KEYS.len()], SUFFIXES[s as usize % SUFFIXES.len()]),
            value: Some(any(v, 0)),
            key_strindex: 0,
        })
        .collect()
}

fuzz_target!(|spans: Vec<FSpan>| {
    let spans = spans
        .into_iter()
        .map(|f| Span {
            trace_id: f.trace.to_vec(),
            span_id: f.span.to_vec(),
            parent_span_id: f.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: "fuzz".into(),
            // Mostly valid times, so spans reach the mappings.
            start_time_unix_nano: 1_700_000_000_000_000_000 + f.start % 1_000_000_000_000_000,
            end_time_unix_nano: (1_700_000_000_000_000_000 + f.start % 1_000_000_000_000_000).saturating_add(f.len % 1_000_000_000_000),
            attributes: attrs(f.attrs),
            events: f.events.into_iter().map(|(n, a)| span::Event { name: n, attributes: attrs(a), ..Default::default() }).collect(),
            status: Some(Status { code: (f.status % 3) as i32, message: String::new() }),
            ..Default::default()
        })
        .collect();
    common::check(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }],
    });
});
