//! Langfuse (`langfuse.*`): its SDKs and its "property mapping" names on other producers'
//! spans. See docs/conventions/langfuse.md.

use super::{Extracted, fill};
use crate::view::SpanView;
use serde_json::{Map, Value};
use spyglass_model::{SpanKind, Tokens};

pub fn map(v: &SpanView, x: &mut Extracted) {
    if let Some(t) = v.str("langfuse.observation.type") {
        x.kind(observation_kind(t));
    }
    // Langfuse has one model field.
    let model = v.text(&["langfuse.observation.model.name"]);
    fill(&mut x.request_model, model.clone());
    fill(&mut x.response_model, model);
    if let Some(u) = v.str("langfuse.observation.usage_details") {
        x.tokens(usage(u));
    }
    fill(
        &mut x.cost,
        v.str("langfuse.observation.cost_details").and_then(cost),
    );
    // Langfuse's own extractor order (`extractSessionId`, `extractUserId`).
    fill(
        &mut x.session_id,
        v.text(&[
            "langfuse.session.id",
            "session.id",
            "gen_ai.conversation.id",
            "langfuse.observation.metadata.langfuse_session_id",
            "langfuse.trace.metadata.langfuse_session_id",
        ]),
    );
    fill(
        &mut x.user_id,
        v.text(&[
            "langfuse.user.id",
            "user.id",
            "langfuse.observation.metadata.langfuse_user_id",
            "langfuse.trace.metadata.langfuse_user_id",
        ]),
    );
    x.input_explicit(v, "langfuse.observation.input");
    x.output_explicit(v, "langfuse.observation.output");
    if v.root {
        x.input_explicit(v, "langfuse.trace.input");
        x.output_explicit(v, "langfuse.trace.output");
    }
    if v.str("langfuse.observation.level")
        .is_some_and(|l| l.eq_ignore_ascii_case("ERROR"))
    {
        x.failed = true;
        fill(
            &mut x.error_message,
            v.text(&["langfuse.observation.status_message"]),
        );
    }
}

/// `span` is the SDKs' default type, so it says nothing about the span.
fn observation_kind(t: &str) -> Option<SpanKind> {
    Some(match t {
        "generation" => SpanKind::Llm,
        "embedding" => SpanKind::Embedding,
        "agent" => SpanKind::Agent,
        "tool" => SpanKind::Tool,
        "chain" => SpanKind::Chain,
        "retriever" => SpanKind::Retriever,
        "guardrail" => SpanKind::Guardrail,
        "event" => SpanKind::Event,
        "evaluator" => SpanKind::Other,
        _ => return None,
    })
}

fn count(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .filter(|n| *n >= 0)
}

/// Langfuse usage types are disjoint (input without cache, output without reasoning); the
/// canonical counts include them, so the parts are added up.
fn usage(json: &str) -> Tokens {
    let Ok(map) = serde_json::from_str::<Map<String, Value>>(json) else {
        return Tokens::default();
    };
    let first = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k).and_then(count));
    let sum = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| map.get(*k).and_then(count))
            .reduce(|a, b| a.saturating_add(b))
    };
    let sum_of = |parts: &[Option<i64>]| {
        parts
            .iter()
            .flatten()
            .copied()
            .reduce(|a, b| a.saturating_add(b))
    };
    let input = first(&["input", "input_tokens", "prompt_tokens"]);
    let output = first(&["output", "output_tokens", "completion_tokens"]);
    let cache_read = sum(&[
        "input_cached_tokens",
        "input_cache_read",
        "cache_read_input_tokens",
    ]);
    let cache_write = sum(&[
        "input_cache_creation",
        "input_cache_creation_5m",
        "input_cache_creation_1h",
        "input_cache_write",
        "cache_creation_input_tokens",
    ]);
    let reasoning = first(&["output_reasoning_tokens"]);
    Tokens {
        input: sum_of(&[input, cache_read, cache_write]),
        output: sum_of(&[output, reasoning]),
        cache_read,
        cache_write,
        reasoning,
        total: first(&["total", "total_tokens"]),
    }
}

/// `total`, else the sum of every reported amount.
fn cost(json: &str) -> Option<f64> {
    let map = serde_json::from_str::<Map<String, Value>>(json).ok()?;
    if let Some(t) = map.get("total").and_then(Value::as_f64) {
        return Some(t);
    }
    map.values().filter_map(Value::as_f64).reduce(|a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn disjoint_usage_types_are_added_up() {
        let t = usage(
            r#"{"input": 100, "input_cached_tokens": 300, "input_cache_creation_5m": 20, "input_cache_creation_1h": 5,
                "output": 40, "output_reasoning_tokens": 60, "audio_input": 7}"#,
        );
        assert_eq!(
            (
                t.input,
                t.cache_read,
                t.cache_write,
                t.output,
                t.reasoning,
                t.total
            ),
            (Some(425), Some(300), Some(25), Some(100), Some(60), None)
        );
        assert_eq!(usage("not json"), Tokens::default());
    }

    #[test]
    fn cost_without_total_is_the_sum() {
        assert_eq!(cost(r#"{"input": 0.5, "output": 0.25}"#), Some(0.75));
        assert_eq!(cost(r#"{"input": 0.5, "total": 2}"#), Some(2.0));
    }

    #[test]
    fn observation_input_beats_messages_and_trace_input_is_for_roots() {
        let x = run(
            "chat",
            &[
                ("langfuse.observation.input", s("what the user typed")),
                (
                    "gen_ai.input.messages",
                    s(r#"[{"role":"user","parts":[{"type":"text","content":"x"}]}]"#),
                ),
                ("langfuse.trace.output", s("root answer")),
            ],
        );
        assert_eq!(text(&x.input).as_deref(), Some("what the user typed"));
        assert!(!x.is_consumed("gen_ai.input.messages"));
        assert_eq!(text(&x.output).as_deref(), Some("root answer"));
    }

    #[test]
    fn error_level_and_metadata_ids() {
        let x = run(
            "step",
            &[
                ("langfuse.observation.level", s("ERROR")),
                ("langfuse.observation.metadata.langfuse_session_id", s("s1")),
                ("langfuse.trace.metadata.langfuse_user_id", s("u1")),
                ("langfuse.observation.type", s("span")),
            ],
        );
        assert!(x.failed);
        assert_eq!(x.error_message, None);
        assert_eq!(
            (x.session_id.as_deref(), x.user_id.as_deref()),
            (Some("s1"), Some("u1"))
        );
        assert_eq!(x.kind, None);
    }
}
