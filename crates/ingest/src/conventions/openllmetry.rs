//! OpenLLMetry / Traceloop (traceloop/openllmetry, opentelemetry-semantic-conventions-ai).
//! See docs/conventions/openllmetry.md.

use super::registry::after_index;
use super::{Consumed, Extracted, fill};
use crate::messages::{self, Message, ToolCall, field_text, group_indexed, indexed_tool_calls};
use crate::view::SpanView;
use spyglass_model::{SpanKind, Tokens};

pub(super) const PROMPT: &str = "gen_ai.prompt.";
pub(super) const COMPLETION: &str = "gen_ai.completion.";
pub(super) const FUNCTIONS: &str = "llm.request.functions.";

fn tool_call_field(f: &str) -> bool {
    f.strip_prefix("tool_calls.")
        .and_then(after_index)
        .is_some_and(|r| matches!(r, "id" | "name" | "arguments"))
}

/// The fields after `gen_ai.prompt.<N>.` that a prompt message is read from.
pub(super) fn prompt_field(f: &str) -> bool {
    matches!(f, "role" | "content" | "tool_call_id") || tool_call_field(f)
}

/// The fields after `gen_ai.completion.<N>.` that a completion message is read from.
fn completion_read_field(f: &str) -> bool {
    matches!(
        f,
        "role"
            | "content"
            | "finish_reason"
            | "refusal"
            | "function_call.name"
            | "function_call.arguments"
    ) || tool_call_field(f)
}

/// Understood completion fields: the read ones plus `content_filter_results`, which feeds
/// nothing and so stays in the attributes.
pub(super) fn completion_field(f: &str) -> bool {
    completion_read_field(f) || f == "content_filter_results"
}

pub(super) fn function_field(f: &str) -> bool {
    matches!(f, "name" | "description" | "parameters")
}

pub fn map(v: &SpanView, x: &mut Extracted) {
    x.kind(match v.str("llm.request.type") {
        Some("chat" | "completion") => Some(SpanKind::Llm),
        Some("embedding") => Some(SpanKind::Embedding),
        Some("rerank") => Some(SpanKind::Reranker),
        _ => None,
    });
    let span_kind = v.str("traceloop.span.kind");
    x.kind(match span_kind {
        // `session` only appears in the Java attribute constants.
        Some("workflow" | "task" | "session") => Some(SpanKind::Chain),
        Some("agent") => Some(SpanKind::Agent),
        Some("tool") => Some(SpanKind::Tool),
        _ => None,
    });
    match span_kind {
        Some("agent") => {
            fill(&mut x.agent_name, v.text(&["traceloop.entity.name"]));
        }
        Some("tool") => {
            fill(&mut x.tool_name, v.text(&["traceloop.entity.name"]));
        }
        _ => {}
    }
    // Reported zeros stay zeros: the OpenAI instrumentation writes `cached_tokens or 0`.
    x.tokens(Tokens {
        cache_read: v.count(&["gen_ai.usage.cache_read_input_tokens"]),
        cache_write: v.count(&["gen_ai.usage.cache_creation_input_tokens"]),
        reasoning: v.count(&[
            "gen_ai.usage.reasoning_tokens",
            "llm.usage.reasoning_tokens",
        ]),
        total: v.count(&["gen_ai.usage.total_tokens", "llm.usage.total_tokens"]),
        ..Default::default()
    });
    fill(
        &mut x.session_id,
        v.text(&["traceloop.association.properties.session_id"]),
    );
    fill(
        &mut x.user_id,
        v.text(&[
            "traceloop.association.properties.user_id",
            "gen_ai.user",
            "llm.user",
        ]),
    );

    x.input_messages(
        indexed(v, PROMPT, false),
        &[Consumed::Indexed(PROMPT, prompt_field)],
    );
    x.output_messages(
        indexed(v, COMPLETION, true),
        &[Consumed::Indexed(COMPLETION, completion_read_field)],
    );
    x.output_messages(
        unindexed_completion(v),
        &[
            Consumed::Key("gen_ai.completion.role"),
            Consumed::Key("gen_ai.completion.content"),
        ],
    );
    x.input_text(v, "traceloop.entity.input");
    x.output_text(v, "traceloop.entity.output");
}

/// `gen_ai.prompt.<N>.*` or `gen_ai.completion.<N>.*`, ordered by `N`.
fn indexed(v: &SpanView, prefix: &str, completion: bool) -> Option<Vec<Message>> {
    let groups = group_indexed(v, prefix);
    let mut out = Vec::with_capacity(groups.len());
    for f in groups.values() {
        let default_role = if completion { "assistant" } else { "user" };
        let mut m = Message::new(field_text(f, "role").unwrap_or_else(|| default_role.to_string()));
        m.content = match field_text(f, "content") {
            // Multimodal content arrives as `json.dumps(list)` of OpenAI parts.
            Some(c) => match messages::parts_text(&c) {
                Some(t) => (!t.is_empty()).then_some(t),
                None => Some(c),
            },
            None if completion => field_text(f, "refusal"),
            None => None,
        };
        indexed_tool_calls(
            f,
            "tool_calls.",
            ["id", "name", "arguments"],
            &mut m.tool_calls,
        );
        m.tool_calls
            .retain(|c| !c.name.is_empty() || c.arguments.is_some());
        if completion && m.tool_calls.is_empty() {
            // 2024 versions write `function_call` instead.
            let (name, arguments) = (
                field_text(f, "function_call.name"),
                field_text(f, "function_call.arguments"),
            );
            if name.is_some() || arguments.is_some() {
                m.tool_calls.push(ToolCall {
                    id: None,
                    name: name.unwrap_or_default(),
                    arguments,
                });
            }
        }
        m.tool_call_id = field_text(f, "tool_call_id");
        if completion {
            m.finish_reason = field_text(f, "finish_reason");
        }
        if !m.is_empty() || f.contains_key("role") {
            out.push(m);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// LlamaIndex's `set_llm_predict_response` writes the completion without an index.
fn unindexed_completion(v: &SpanView) -> Option<Vec<Message>> {
    let role = v.text(&["gen_ai.completion.role"]);
    let content = v.text(&["gen_ai.completion.content"]);
    if role.is_none() && content.is_none() {
        return None;
    }
    Some(vec![Message {
        role: role.unwrap_or_else(|| "assistant".into()),
        content,
        ..Default::default()
    }])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn request_type_beats_span_kind_and_operation_name_beats_both() {
        let x = run(
            "Groq.task",
            &[
                ("traceloop.span.kind", s("task")),
                ("llm.request.type", s("embedding")),
            ],
        );
        assert_eq!(x.kind, Some(SpanKind::Embedding));
        let x = run(
            "Groq.task",
            &[
                ("traceloop.span.kind", s("task")),
                ("llm.request.type", s("embedding")),
                ("gen_ai.operation.name", s("chat")),
            ],
        );
        assert_eq!(x.kind, Some(SpanKind::Llm));
    }

    #[test]
    fn completions_with_refusal_function_call_and_multimodal_prompt() {
        let x = run(
            "openai.chat",
            &[
                ("llm.request.type", s("chat")),
                (
                    "gen_ai.prompt.0.content",
                    s(
                        r#"[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"x"}}]"#,
                    ),
                ),
                ("gen_ai.prompt.1.role", s("tool")),
                ("gen_ai.prompt.1.content", s(r#"[{"id": 1}]"#)),
                ("gen_ai.prompt.2.foo", s("unknown field")),
                ("gen_ai.completion.0.refusal", s("I can't help with that.")),
                ("gen_ai.completion.0.finish_reason", s("")),
                ("gen_ai.completion.1.function_call.name", s("lookup")),
                (
                    "gen_ai.completion.1.function_call.arguments",
                    s(r#"{"q":"x"}"#),
                ),
                ("gen_ai.completion.1.content_filter_results", s("{}")),
            ],
        );
        assert_eq!(
            text(&x.input).as_deref(),
            Some(
                r#"[{"role":"user","content":"what is this?"},{"role":"tool","content":"[{\"id\": 1}]"}]"#
            )
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(
                r#"[{"role":"assistant","content":"I can't help with that."},{"role":"assistant","tool_calls":[{"name":"lookup","arguments":"{\"q\":\"x\"}"}]}]"#
            )
        );
        assert!(x.is_consumed("gen_ai.prompt.1.role"));
        assert!(!x.is_consumed("gen_ai.prompt.2.foo"));
        assert!(!x.is_consumed("gen_ai.completion.1.content_filter_results"));
        assert_eq!(x.unmapped_keys, vec!["gen_ai.prompt.2.foo"]);
    }

    #[test]
    fn zeros_are_reported_values() {
        let x = run(
            "openai.chat",
            &[
                ("gen_ai.usage.cache_read_input_tokens", i(0)),
                ("gen_ai.usage.reasoning_tokens", i(0)),
                ("llm.usage.total_tokens", i(9)),
            ],
        );
        assert_eq!(
            (x.tokens.cache_read, x.tokens.reasoning, x.tokens.total),
            (Some(0), Some(0), Some(9))
        );
    }

    #[test]
    fn user_and_llamaindex_completion() {
        let x = run(
            "OpenAI.task",
            &[
                ("gen_ai.user", s("u1")),
                ("gen_ai.completion.role", s("assistant")),
                ("gen_ai.completion.content", s("hi")),
            ],
        );
        assert_eq!(x.user_id.as_deref(), Some("u1"));
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","content":"hi"}]"#)
        );
    }
}
