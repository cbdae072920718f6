//! Vercel AI SDK telemetry (`ai.*`). See docs/conventions/vercel_ai.md.

use super::{Consumed, Extracted, fill};
use crate::messages::{self, Message};
use crate::view::SpanView;
use spyglass_model::{SpanKind, Tokens};

pub fn map(v: &SpanView, x: &mut Extracted) {
    x.kind(operation_kind(operation(v)));
    // `gen_ai.system` holds the same `openai.chat` string as `ai.model.provider` on do* spans.
    fill(
        &mut x.provider,
        v.text(&["ai.model.provider", "gen_ai.system"])
            .map(|p| provider_name(&p)),
    );
    fill(
        &mut x.request_model,
        v.text(&["ai.model.id", "gen_ai.request.model"]),
    );
    fill(
        &mut x.response_model,
        v.text(&["ai.response.model", "gen_ai.response.model"]),
    );
    x.tokens(Tokens {
        input: v.count(&[
            "ai.usage.inputTokens",
            "ai.usage.promptTokens",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            // The embedding spans' only count.
            "ai.usage.tokens",
        ]),
        output: v.count(&[
            "ai.usage.outputTokens",
            "ai.usage.completionTokens",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ]),
        cache_read: v.count(&[
            "ai.usage.inputTokenDetails.cacheReadTokens",
            "ai.usage.cachedInputTokens",
        ]),
        cache_write: v.count(&["ai.usage.inputTokenDetails.cacheWriteTokens"]),
        reasoning: v.count(&[
            "ai.usage.outputTokenDetails.reasoningTokens",
            "ai.usage.reasoningTokens",
        ]),
        total: v.count(&["ai.usage.totalTokens", "ai.usage.tokens"]),
    });
    fill(
        &mut x.session_id,
        v.text(&["ai.telemetry.metadata.sessionId"]),
    );
    fill(&mut x.user_id, v.text(&["ai.telemetry.metadata.userId"]));
    fill(&mut x.tool_name, v.text(&["ai.toolCall.name"]));

    x.input_messages(
        v.payload("ai.prompt.messages")
            .and_then(|t| messages::parse_array(&t)),
        &[Consumed::Key("ai.prompt.messages")],
    );
    // The outer span's `ai.prompt` is `{system, prompt, messages}`, not a message array: it is
    // kept verbatim (a naive "take `messages`" would drop the system prompt).
    x.input_text(v, "ai.prompt");
    x.input_text(v, "ai.toolCall.args");
    x.input_text(v, "ai.toolCall.input");
    x.input_text(v, "ai.value");
    x.input_text(v, "ai.values");
    response(v, x);
    x.output_text(v, "ai.response.object");
    x.output_text(v, "ai.result.object");
    x.output_text(v, "ai.toolCall.result");
    x.output_text(v, "ai.toolCall.output");
}

/// `ai.operationId`, else `operation.name` up to its first space (the function id follows it),
/// else the span name.
fn operation<'a>(v: &SpanView<'a>) -> &'a str {
    v.str("ai.operationId")
        .or_else(|| {
            v.str("operation.name")
                .map(|o| o.split_once(' ').map_or(o, |(op, _)| op))
        })
        .unwrap_or(v.name)
}

/// The provider call (`doGenerate`, `doStream`, `doEmbed`) is the billed unit; the outer
/// `ai.generateText` wraps one or more of them and is a chain, so usage is not counted twice.
fn operation_kind(op: &str) -> Option<SpanKind> {
    if !op.starts_with("ai.") {
        return None;
    }
    Some(if op == "ai.toolCall" {
        SpanKind::Tool
    } else if op.ends_with(".doGenerate") || op.ends_with(".doStream") {
        SpanKind::Llm
    } else if op.ends_with(".doEmbed") {
        SpanKind::Embedding
    } else {
        SpanKind::Chain
    })
}

/// `openai.chat` → `openai`, `google.generative-ai` → `google`: the part before the first dot.
fn provider_name(p: &str) -> String {
    p.split_once('.')
        .map_or(p, |(head, _)| head)
        .to_ascii_lowercase()
}

/// The assistant message of a generation span, when it has response text (even empty) or tool
/// calls. v3 used `ai.result.*` and `ai.finishReason`.
fn response(v: &SpanView, x: &mut Extracted) {
    let text_key = v.first_key(&["ai.response.text", "ai.result.text"]);
    let calls_key = v.first_key(&["ai.response.toolCalls", "ai.result.toolCalls"]);
    if text_key.is_none() && calls_key.is_none() {
        return;
    }
    let mut m = Message::new("assistant");
    if let Some(t) = text_key.and_then(|k| v.str(k)) {
        messages::push_text(&mut m.content, t);
    }
    if let Some(calls) = calls_key.and_then(|k| v.payload(k)) {
        m.tool_calls = messages::parse_tool_calls(&calls);
    }
    m.finish_reason = v.text(&["ai.response.finishReason", "ai.finishReason"]);
    let keys: Vec<Consumed> = [text_key, calls_key]
        .into_iter()
        .flatten()
        .map(Consumed::Key)
        .collect();
    x.output_messages(Some(vec![m]), &keys);
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn kind_from_operation_name_when_operation_id_is_missing() {
        let x = run(
            "custom span name",
            &[
                ("operation.name", s("ai.embedMany.doEmbed my-fn")),
                ("ai.usage.tokens", i(12)),
            ],
        );
        assert_eq!(x.kind, Some(SpanKind::Embedding));
        assert_eq!((x.tokens.input, x.tokens.total), (Some(12), Some(12)));
        let x = run("ai.streamObject", &[("ai.model.id", s("m"))]);
        assert_eq!(x.kind, Some(SpanKind::Chain));
    }

    #[test]
    fn provider_from_gen_ai_system_gets_the_same_rule() {
        let x = run(
            "ai.generateText.doGenerate",
            &[
                ("ai.operationId", s("ai.generateText.doGenerate")),
                ("gen_ai.system", s("Anthropic.messages")),
            ],
        );
        assert_eq!(x.provider.as_deref(), Some("anthropic"));
    }

    #[test]
    fn v6_token_details() {
        let x = run(
            "ai.generateText.doGenerate",
            &[
                ("ai.usage.inputTokens", i(100)),
                ("ai.usage.inputTokenDetails.cacheReadTokens", i(60)),
                ("ai.usage.inputTokenDetails.cacheWriteTokens", i(10)),
                ("ai.usage.cachedInputTokens", i(1)),
                ("ai.usage.outputTokens", i(20)),
                ("ai.usage.outputTokenDetails.reasoningTokens", i(5)),
            ],
        );
        let t = x.tokens;
        assert_eq!(
            (t.input, t.cache_read, t.cache_write, t.output, t.reasoning),
            (Some(100), Some(60), Some(10), Some(20), Some(5))
        );
    }

    #[test]
    fn empty_response_text_means_no_content() {
        let x = run(
            "ai.streamText.doStream",
            &[
                ("ai.operationId", s("ai.streamText.doStream")),
                ("ai.response.text", s("")),
                ("ai.response.finishReason", s("stop")),
            ],
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","finish_reason":"stop"}]"#)
        );
        assert!(x.is_consumed("ai.response.text"));
        assert!(!x.is_consumed("ai.response.finishReason"));
    }

    #[test]
    fn v3_result_names_and_object_output() {
        let x = run(
            "ai.generateText",
            &[
                ("ai.operationId", s("ai.generateText")),
                ("ai.result.text", s("hi")),
                ("ai.finishReason", s("stop")),
            ],
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","content":"hi","finish_reason":"stop"}]"#)
        );
        let x = run(
            "ai.generateObject",
            &[
                ("ai.operationId", s("ai.generateObject")),
                ("ai.response.object", s(r#"{"a":1}"#)),
            ],
        );
        assert_eq!(text(&x.output).as_deref(), Some(r#"{"a":1}"#));
    }
}
