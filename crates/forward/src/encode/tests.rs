use super::*;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
use proptest::prelude::*;
use spyglass_ingest::Normalizer;
use spyglass_model::{CostSource, Field, Finding, SpanKind};
use std::borrow::Cow;

const T0: i64 = 1_750_000_000_000_000_000;

fn attr<'a>(span: &'a OtlpSpan, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn finding(span: &Span, detector: &'static str, severity: Severity, score: f32) -> SpanFinding {
    SpanFinding::on(
        span,
        Finding {
            category: Category::Secret,
            detector: Cow::Borrowed(detector),
            severity,
            score,
            field: Field::Input,
            key: None,
            start: 0,
            end: 4,
            evidence: "sk-…".into(),
            vector: None,
            encoding: None,
        },
    )
}

fn llm_span(n: u64) -> Span {
    let mut s = Span::new(
        TraceId::from_u128(0xabc),
        SpanId::from_u64(n),
        "chat gpt-4o",
        T0,
    );
    s.finish(T0 + 1_000_000);
    s.kind = SpanKind::Llm;
    s.otel_kind = OtelKind::Client;
    s.status = Status::Error;
    s.status_message = Some("rate limited".into());
    s.parent_span_id = Some(SpanId::from_u64(99));
    s.cost_usd = Some(0.0125);
    s.cost_source = Some(CostSource::Computed);
    s.input = Some("hello".into());
    s.output = Some("world".into());
    s.attributes = JsonText::parse(
        r#"{"gen_ai.request.model":"gpt-4o","gen_ai.usage.input_tokens":10,"spyglass.kind":"stale","spyglass.dropped_attributes_count":3}"#
            .into(),
    )
    .unwrap();
    s.received_ns = n as i64;
    s
}

#[test]
fn a_span_keeps_its_identity_and_gains_the_enrichment() {
    let span = llm_span(1);
    let other = llm_span(2);
    let batch = Batch {
        findings: vec![
            finding(&span, "secret.openai_api_key", Severity::High, 0.5),
            finding(&span, "secret.generic", Severity::Critical, 0.75),
            finding(&other, "secret.generic", Severity::Low, 0.1),
        ],
        spans: vec![span.clone()],
    };
    let req = encode_batch(&batch);
    assert_eq!(req.resource_spans.len(), 1);
    let out = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(out.trace_id, span.trace_id.0.to_vec());
    assert_eq!(out.span_id, span.span_id.0.to_vec());
    assert_eq!(out.parent_span_id, SpanId::from_u64(99).0.to_vec());
    assert_eq!(out.name, "chat gpt-4o");
    assert_eq!(out.kind, 3);
    assert_eq!(out.start_time_unix_nano, T0 as u64);
    assert_eq!(out.end_time_unix_nano, (T0 + 1_000_000) as u64);
    let status = out.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "rate limited"));
    assert_eq!(out.dropped_attributes_count, 3);
    assert_eq!(attr(out, COST_USD), Some(&Value::DoubleValue(0.0125)));
    assert_eq!(
        attr(out, COST_SOURCE),
        Some(&Value::StringValue("computed".into()))
    );
    assert_eq!(attr(out, KIND), Some(&Value::StringValue("llm".into())));
    let kinds = out.attributes.iter().filter(|kv| kv.key == KIND).count();
    assert_eq!(kinds, 1, "an upstream spyglass.kind is replaced");
    assert_eq!(attr(out, FINDINGS_COUNT), Some(&Value::IntValue(2)));
    assert_eq!(
        attr(out, FINDINGS_MAX_SEVERITY),
        Some(&Value::StringValue("critical".into()))
    );
    let Some(Value::StringValue(json)) = attr(out, FINDINGS) else {
        panic!("no findings attribute")
    };
    let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!([
            {"category": "secret", "detector": "secret.openai_api_key", "severity": "high", "score": 0.5},
            {"category": "secret", "detector": "secret.generic", "severity": "critical", "score": 0.75},
        ])
    );
    assert_eq!(
        attr(out, INPUT_KEY),
        Some(&Value::StringValue("hello".into()))
    );
    assert_eq!(
        attr(out, "gen_ai.request.model"),
        Some(&Value::StringValue("gpt-4o".into()))
    );
    assert!(attr(out, DROPPED_ATTRIBUTES).is_none());
}

#[test]
fn a_span_without_cost_or_findings_says_only_its_kind_and_count() {
    let mut span = Span::new(TraceId::from_u128(1), SpanId::from_u64(1), "step", T0);
    span.kind = SpanKind::Tool;
    let out = encode_span(&span, &[]);
    assert_eq!(out.end_time_unix_nano, 0, "a running span stays running");
    assert!(out.status.is_none());
    let keys: Vec<&str> = out.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, [KIND, FINDINGS_COUNT]);
    assert_eq!(attr(&out, FINDINGS_COUNT), Some(&Value::IntValue(0)));
}

#[test]
fn spans_group_by_resource_then_scope() {
    let mut a = Span::new(TraceId::from_u128(1), SpanId::from_u64(1), "a", T0);
    a.service_name = "svc-a".into();
    a.resource_attributes =
        Arc::new(JsonText::parse(r#"{"service.name":"svc-a"}"#.into()).unwrap());
    let mut b = a.clone();
    b.span_id = SpanId::from_u64(2);
    b.scope_name = "other-scope".into();
    let mut c = Span::new(TraceId::from_u128(1), SpanId::from_u64(3), "c", T0);
    c.service_name = "svc-c".into();
    let mut d = a.clone();
    d.span_id = SpanId::from_u64(4);
    d.resource_attributes =
        Arc::new(JsonText::parse(r#"{"service.name":"svc-a"}"#.into()).unwrap());
    let req = encode_batch(&Batch::from(vec![a, b, c, d]));
    assert_eq!(req.resource_spans.len(), 2);
    let first = &req.resource_spans[0];
    let scopes: Vec<(&str, usize)> = first
        .scope_spans
        .iter()
        .map(|s| (s.scope.as_ref().unwrap().name.as_str(), s.spans.len()))
        .collect();
    assert_eq!(scopes, [("", 2), ("other-scope", 1)]);
    let svc = &req.resource_spans[1].resource.as_ref().unwrap().attributes;
    assert_eq!(
        svc.len(),
        1,
        "service.name added to a resource that had none"
    );
    assert_eq!(svc[0].key, "service.name");
}

#[test]
fn findings_attach_to_the_span_version_they_were_made_on() {
    let running = llm_span(1);
    let mut finished = running.clone();
    finished.received_ns += 1;
    let f = finding(&finished, "secret.generic", Severity::Medium, 1.0);
    let batch = Batch {
        spans: vec![running, finished],
        findings: vec![f],
    };
    let req = encode_batch(&batch);
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(attr(&spans[0], FINDINGS_COUNT), Some(&Value::IntValue(0)));
    assert_eq!(attr(&spans[1], FINDINGS_COUNT), Some(&Value::IntValue(1)));
}

// --- Round trip through the repository's own normalizer --------------------------------------

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        key_strindex: 0,
    }
}

fn sv(s: &str) -> Value {
    Value::StringValue(s.into())
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[ -~é\n\"\\\\]{0,12}".prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        (-1e12f64..1e12).prop_map(Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::BytesValue),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| {
                Value::ArrayValue(ArrayValue {
                    values: values
                        .into_iter()
                        .map(|v| AnyValue { value: Some(v) })
                        .collect(),
                })
            }),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|pairs| {
                Value::KvlistValue(KeyValueList {
                    values: pairs.into_iter().map(|(k, v)| kv(&k, v)).collect(),
                })
            }),
        ]
    })
}

fn app_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(("app\\.[a-z]{1,6}", any_value()), 0..6).prop_map(|pairs| {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| kv(&k, v))
            .collect()
    })
}

/// Where a producer put the input and output: the normalizer reads each of these differently.
fn payload_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    let text = "[a-zA-Z0-9 .,!?é]{1,40}";
    prop_oneof![
        Just(Vec::new()),
        (text, text).prop_map(|(i, o)| vec![kv("input.value", sv(&i)), kv("output.value", sv(&o))]),
        (text, text).prop_map(|(i, o)| {
            let input = serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": i}]}]);
            let output = serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": o}], "finish_reason": "stop"}]);
            vec![
                kv("gen_ai.input.messages", sv(&input.to_string())),
                kv("gen_ai.output.messages", sv(&output.to_string())),
            ]
        }),
        (text, text).prop_map(|(i, o)| vec![
            kv("llm.input_messages.0.message.role", sv("user")),
            kv("llm.input_messages.0.message.content", sv(&i)),
            kv("llm.output_messages.0.message.role", sv("assistant")),
            kv("llm.output_messages.0.message.content", sv(&o)),
        ]),
        text.prop_map(|i| vec![kv("traceloop.entity.input", sv(&i))]),
    ]
}

fn llm_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop_oneof![
        Just(Vec::new()),
        ("[a-z0-9-]{2,12}", 0i64..100_000, 0i64..100_000).prop_map(|(model, i, o)| vec![
            kv("gen_ai.operation.name", sv("chat")),
            kv("gen_ai.request.model", sv(&model)),
            kv("gen_ai.response.model", sv(&format!("{model}-2025"))),
            kv("gen_ai.usage.input_tokens", Value::IntValue(i)),
            kv("gen_ai.usage.output_tokens", Value::IntValue(o)),
        ]),
        ("[a-z0-9-]{2,12}", 0i64..1000).prop_map(|(model, t)| vec![
            kv("openinference.span.kind", sv("LLM")),
            kv("llm.model_name", sv(&model)),
            kv("llm.token_count.prompt", Value::IntValue(t)),
            kv("llm.token_count.total", Value::IntValue(t + 1)),
        ]),
        Just(vec![
            kv("tool.name", sv("search")),
            kv("openinference.span.kind", sv("TOOL"))
        ]),
    ]
}

prop_compose! {
    fn otlp_span()(
        trace in 1u128..,
        span in 1u64..,
        parent in prop::option::of(1u64..),
        name in "[a-zA-Z0-9 _./-]{1,24}",
        start in 0i64..1_000_000_000_000_000,
        duration in prop::option::of(0i64..10_000_000_000),
        kind in 0i32..=5,
        status in (0i32..=2, prop::option::of("[a-z ]{1,16}")),
        app in app_attributes(),
        payload in payload_attributes(),
        llm in llm_attributes(),
        events in prop::collection::vec(("[a-z.]{1,10}", 0i64..1_000_000, app_attributes()), 0..3),
        links in prop::collection::vec((1u128.., 1u64.., app_attributes()), 0..3),
    ) -> OtlpSpan {
        let start = T0 + start;
        let mut attributes = app;
        attributes.extend(llm);
        attributes.extend(payload);
        OtlpSpan {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: span.to_be_bytes().to_vec(),
            parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
            name,
            kind,
            start_time_unix_nano: start as u64,
            end_time_unix_nano: duration.map_or(0, |d| (start + d) as u64),
            attributes,
            events: events.into_iter().map(|(name, at, attributes)| Event {
                time_unix_nano: (start + at) as u64,
                name,
                attributes,
                dropped_attributes_count: 0,
            }).collect(),
            links: links.into_iter().map(|(t, s, attributes)| Link {
                trace_id: t.to_be_bytes().to_vec(),
                span_id: s.to_be_bytes().to_vec(),
                attributes,
                ..Default::default()
            }).collect(),
            status: Some(OtlpStatus { code: status.0, message: status.1.unwrap_or_default() }),
            ..Default::default()
        }
    }
}

fn request(span: OtlpSpan, service: &str, scope: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", sv(service)),
                    kv("deployment.environment.name", sv("prod")),
                    kv("host.name", sv("h1")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    ..Default::default()
                }),
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn normalize(req: ExportTraceServiceRequest) -> Span {
    let mut out = Normalizer::default().normalize(req, "default", T0);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.spans.len(), 1);
    out.spans.remove(0)
}

/// The attributes as (key, JSON text of the value), in order.
fn members(attributes: &JsonText, skip: &[&str]) -> Vec<(String, String)> {
    use spyglass_ingest::anyvalue::{ValueCaps, write_json};
    anyvalue::key_values(attributes)
        .into_iter()
        .filter(|kv| !skip.contains(&kv.key.as_str()))
        .map(|kv| {
            let mut text = String::new();
            write_json(
                &mut text,
                kv.value.as_ref().unwrap(),
                &ValueCaps::default(),
                0,
            );
            (kv.key, text)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_otlp_canonical_keeps_the_span(span in otlp_span(), service in "[a-z-]{1,10}", scope in "[a-z.]{0,10}") {
        let first = normalize(request(span, &service, &scope));
        let again = normalize(encode_batch(&Batch::from(vec![first.clone()])));
        prop_assert_eq!(again.trace_id, first.trace_id);
        prop_assert_eq!(again.span_id, first.span_id);
        prop_assert_eq!(again.parent_span_id, first.parent_span_id);
        prop_assert_eq!(&again.name, &first.name);
        prop_assert_eq!((again.start_ns, again.end_ns, again.duration_ns), (first.start_ns, first.end_ns, first.duration_ns));
        prop_assert_eq!((again.status, &again.status_message), (first.status, &first.status_message));
        prop_assert_eq!(again.otel_kind, first.otel_kind);
        prop_assert_eq!(again.kind, first.kind);
        prop_assert_eq!((&again.request_model, &again.response_model), (&first.request_model, &first.response_model));
        prop_assert_eq!(again.tokens, first.tokens);
        prop_assert_eq!(&again.tool_name, &first.tool_name);
        prop_assert_eq!((&again.input, &again.output), (&first.input, &first.output));
        prop_assert_eq!(members(&again.attributes, &ENRICHMENT), members(&first.attributes, &[]));
        prop_assert_eq!(&again.events, &first.events);
        prop_assert_eq!(&again.links, &first.links);
        prop_assert_eq!((&again.service_name, &again.scope_name, &again.environment), (&first.service_name, &first.scope_name, &first.environment));
        prop_assert_eq!(&again.resource_attributes, &first.resource_attributes);
    }
}

#[test]
fn dropped_attribute_counts_survive_the_round_trip() {
    let mut span = Span::new(TraceId::from_u128(5), SpanId::from_u64(5), "s", T0);
    span.attributes =
        JsonText::parse(r#"{"a":1,"spyglass.dropped_attributes_count":7}"#.into()).unwrap();
    let again = normalize(encode_batch(&Batch::from(vec![span])));
    assert_eq!(
        members(&again.attributes, &ENRICHMENT),
        [
            ("a".to_string(), "1".to_string()),
            ("spyglass.dropped_attributes_count".into(), "7".into())
        ]
    );
}
