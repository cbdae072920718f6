//! OpenInference (Arize-ai/openinference, spec/semantic_conventions.md).
//! See docs/conventions/openinference.md.

use super::{Consumed, Extracted, fill, lowercase};
use crate::anyvalue;
use crate::messages::{
    self, Fields, Message, ToolCall, field_text, group_indexed, indexed_tool_calls,
};
use crate::view::SpanView;
use serde::Deserialize;
use spyglass_model::{SpanKind, Tokens};
use std::borrow::Cow;
use std::collections::BTreeMap;

pub fn map(v: &SpanView, x: &mut Extracted) {
    let kind = v.str("openinference.span.kind").and_then(span_kind);
    x.kind(kind);
    fill(
        &mut x.provider,
        v.text(&["llm.provider", "llm.system"]).map(lowercase),
    );
    if x.request_model.is_none() {
        x.request_model = v
            .text(&["llm.request.model_name"])
            .or_else(|| invocation_model(v, "llm.invocation_parameters"))
            .or_else(|| invocation_model(v, "embedding.invocation_parameters"))
            .or_else(|| {
                v.text(&[
                    "llm.model_name",
                    "embedding.model_name",
                    "reranker.model_name",
                ])
            });
    }
    fill(
        &mut x.response_model,
        v.text(&[
            "llm.response.model_name",
            "llm.model_name",
            "embedding.model_name",
        ]),
    );
    x.tokens(Tokens {
        input: v.count(&["llm.token_count.prompt"]),
        output: v.count(&["llm.token_count.completion"]),
        // `cache_input`: what one openai-instrumentor revision wrote for OpenAI's cached tokens.
        cache_read: v.count(&[
            "llm.token_count.prompt_details.cache_read",
            "llm.token_count.prompt_details.cache_input",
        ]),
        cache_write: v.count(&["llm.token_count.prompt_details.cache_write"]),
        reasoning: v.count(&["llm.token_count.completion_details.reasoning"]),
        total: v.count(&["llm.token_count.total"]),
    });
    fill(&mut x.cost, v.float(&["llm.cost.total"]));
    fill(&mut x.session_id, v.text(&["session.id"]));
    fill(&mut x.user_id, v.text(&["user.id"]));
    fill(&mut x.agent_name, v.text(&["agent.name"]));
    // The graph node of an AGENT span is the agent; on other kinds it is just a graph position.
    if kind == Some(SpanKind::Agent) {
        fill(&mut x.agent_name, v.text(&["graph.node.name"]));
        fill(&mut x.agent_id, v.text(&["graph.node.id"]));
    }
    fill(
        &mut x.tool_name,
        v.text(&["tool.name", "tool_call.function.name"]),
    );

    x.input_messages(
        messages(v, "llm.input_messages.", None),
        &[Consumed::Prefix("llm.input_messages.")],
    );
    let finish_reason = v.text(&["llm.finish_reason"]);
    x.output_messages(
        messages(v, "llm.output_messages.", Some(finish_reason)),
        &[Consumed::Prefix("llm.output_messages.")],
    );
    x.input_text(v, "input.value");
    x.output_text(v, "output.value");
    if !x.input.has_value() {
        x.input_plain(
            legacy_texts(v, "llm.prompts", "llm.prompts.", "prompt.text"),
            &[
                Consumed::Key("llm.prompts"),
                Consumed::Prefix("llm.prompts."),
            ],
        );
    }
    if !x.output.has_value() {
        x.output_plain(
            legacy_texts(v, "llm.choices", "llm.choices.", "completion.text"),
            &[
                Consumed::Key("llm.choices"),
                Consumed::Prefix("llm.choices."),
            ],
        );
    }
}

/// `openinference.span.kind`, compared case-insensitively. `UNKNOWN` and anything else give no
/// explicit kind.
fn span_kind(k: &str) -> Option<SpanKind> {
    const KINDS: &[(&str, SpanKind)] = &[
        ("LLM", SpanKind::Llm),
        ("CHAIN", SpanKind::Chain),
        ("TOOL", SpanKind::Tool),
        ("AGENT", SpanKind::Agent),
        ("RETRIEVER", SpanKind::Retriever),
        ("EMBEDDING", SpanKind::Embedding),
        ("RERANKER", SpanKind::Reranker),
        ("GUARDRAIL", SpanKind::Guardrail),
        // Rendering a prompt template is a glue step, like a chain.
        ("PROMPT", SpanKind::Chain),
        // No canonical kind fits an evaluation of model output.
        ("EVALUATOR", SpanKind::Other),
    ];
    KINDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(k))
        .map(|(_, kind)| *kind)
}

/// `model`, else `model_name`, inside the invocation-parameters JSON: the request minus
/// messages and tools, so the model the caller asked for.
fn invocation_model(v: &SpanView, key: &'static str) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        model: Option<Cow<'a, str>>,
        #[serde(borrow)]
        model_name: Option<Cow<'a, str>>,
    }
    let text = v.str(key)?;
    let p: Params = serde_json::from_str(text).ok()?;
    [p.model, p.model_name]
        .into_iter()
        .flatten()
        .find(|m| !m.trim().is_empty())
        .map(Cow::into_owned)
}

/// `<prefix><i>.message.*` groups as messages. `finish_reason` is `Some` for output messages:
/// the span-level `llm.finish_reason`, set on each of them.
fn messages(
    v: &SpanView,
    prefix: &str,
    finish_reason: Option<Option<String>>,
) -> Option<Vec<Message>> {
    let groups = group_indexed(v, prefix);
    if groups.is_empty() {
        return None;
    }
    let default_role = if finish_reason.is_some() {
        "assistant"
    } else {
        "user"
    };
    let finish_reason = finish_reason.flatten();
    let mut out = Vec::with_capacity(groups.len());
    for f in groups.values() {
        let mut m =
            Message::new(field_text(f, "message.role").unwrap_or_else(|| default_role.to_string()));
        m.content = field_text(f, "message.content").or_else(|| contents_text(f));
        const CALL: [&str; 3] = [
            "tool_call.id",
            "tool_call.function.name",
            "tool_call.function.arguments",
        ];
        indexed_tool_calls(f, "message.tool_calls.", CALL, &mut m.tool_calls);
        indexed_tool_calls(f, "message.contents.", CALL, &mut m.tool_calls);
        let legacy_name = field_text(f, "message.function_call_name");
        let legacy_args = field_text(f, "message.function_call_arguments_json");
        if legacy_name.is_some() || legacy_args.is_some() {
            m.tool_calls.push(ToolCall {
                id: None,
                name: legacy_name.unwrap_or_default(),
                arguments: legacy_args,
            });
        }
        m.tool_call_id = field_text(f, "message.tool_call_id");
        m.name = field_text(f, "message.name");
        m.finish_reason.clone_from(&finish_reason);
        out.push(m);
    }
    Some(out)
}

/// Text parts of `message.contents.<j>.message_content.*`, in `j` order. A part without a type
/// is text (LangChain writes plain-string parts that way).
fn contents_text(f: &Fields) -> Option<String> {
    let mut parts: BTreeMap<usize, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (k, v) in f {
        let Some(rest) = k.strip_prefix("message.contents.") else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        match field {
            "message_content.type" => parts.entry(i).or_default().0 = anyvalue::as_str(v),
            "message_content.text" => parts.entry(i).or_default().1 = anyvalue::as_str(v),
            _ => {}
        }
    }
    let mut content = None;
    for (ty, text) in parts.into_values() {
        if ty.is_none_or(|t| t == "text")
            && let Some(t) = text
        {
            messages::push_text(&mut content, t);
        }
    }
    content
}

/// The legacy completions API: `llm.prompts.<i>.prompt.text` (or `llm.prompts` as one string
/// list). One text verbatim; several as the JSON text of the list.
fn legacy_texts(v: &SpanView, key: &'static str, prefix: &str, field: &str) -> Option<String> {
    let mut texts: Vec<String> = group_indexed(v, prefix)
        .values()
        .filter_map(|f| field_text(f, field))
        .collect();
    if texts.is_empty() {
        texts = v.get(key).map(anyvalue::as_string_list).unwrap_or_default();
    }
    match texts.len() {
        0 => None,
        1 => texts.pop(),
        _ => serde_json::to_string(&texts).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn kinds() {
        let kind = |k: &str| run("s", &[("openinference.span.kind", s(k))]).kind;
        assert_eq!(kind("prompt"), Some(SpanKind::Chain));
        assert_eq!(kind("EVALUATOR"), Some(SpanKind::Other));
        assert_eq!(kind("UNKNOWN"), None);
        assert_eq!(kind("Guardrail"), Some(SpanKind::Guardrail));
    }

    #[test]
    fn models_requested_and_answered() {
        let x = run(
            "ChatCompletion",
            &[
                ("llm.request.model_name", s("gpt-4o")),
                ("llm.response.model_name", s("gpt-4o-2024-08-06")),
                ("llm.model_name", s("ignored")),
                (
                    "llm.invocation_parameters",
                    s(r#"{"model": "also-ignored"}"#),
                ),
            ],
        );
        assert_eq!(x.request_model.as_deref(), Some("gpt-4o"));
        assert_eq!(x.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
        let x = run(
            "Embed",
            &[(
                "embedding.invocation_parameters",
                s(r#"{"model_name":"e5"}"#),
            )],
        );
        assert_eq!(x.request_model.as_deref(), Some("e5"));
        let x = run(
            "Rerank",
            &[
                ("llm.invocation_parameters", s("not json")),
                ("reranker.model_name", s("rr")),
            ],
        );
        assert_eq!(x.request_model.as_deref(), Some("rr"));
    }

    #[test]
    fn graph_node_is_the_agent_only_on_agent_spans() {
        let x = run(
            "crew",
            &[
                ("openinference.span.kind", s("AGENT")),
                ("graph.node.id", s("Researcher")),
                ("graph.node.name", s("research")),
            ],
        );
        assert_eq!(
            (x.agent_id.as_deref(), x.agent_name.as_deref()),
            (Some("Researcher"), Some("research"))
        );
        let x = run(
            "node",
            &[
                ("openinference.span.kind", s("CHAIN")),
                ("graph.node.id", s("n1")),
            ],
        );
        assert_eq!(x.agent_id, None);
    }

    #[test]
    fn message_shapes() {
        let x = run(
            "llm",
            &[
                ("llm.input_messages.1.message.role", s("user")),
                (
                    "llm.input_messages.1.message.contents.0.message_content.type",
                    s("text"),
                ),
                (
                    "llm.input_messages.1.message.contents.0.message_content.text",
                    s("a"),
                ),
                (
                    "llm.input_messages.1.message.contents.1.message_content.type",
                    s("image"),
                ),
                (
                    "llm.input_messages.1.message.contents.2.message_content.text",
                    s("b"),
                ),
                ("llm.input_messages.10.message.function_call_name", s("f")),
                (
                    "llm.input_messages.10.message.function_call_arguments_json",
                    s("{}"),
                ),
                ("llm.output_messages.0.message.content", s("done")),
                ("llm.finish_reason", s("stop")),
            ],
        );
        assert_eq!(
            text(&x.input).as_deref(),
            Some(
                r#"[{"role":"user","content":"a\nb"},{"role":"user","tool_calls":[{"name":"f","arguments":"{}"}]}]"#
            )
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","content":"done","finish_reason":"stop"}]"#)
        );
    }

    #[test]
    fn legacy_completions_prompts() {
        let x = run(
            "Completion",
            &[
                ("llm.prompts.0.prompt.text", s("one")),
                ("llm.prompts.1.prompt.text", s("two")),
                ("llm.choices.0.completion.text", s("three")),
            ],
        );
        assert_eq!(text(&x.input).as_deref(), Some(r#"["one","two"]"#));
        assert_eq!(text(&x.output).as_deref(), Some("three"));
        assert!(x.is_consumed("llm.prompts.1.prompt.text"));
        let x = run(
            "Completion",
            &[
                ("input.value", s("raw")),
                ("llm.prompts.0.prompt.text", s("one")),
            ],
        );
        assert_eq!(text(&x.input).as_deref(), Some("raw"));
        assert!(!x.is_consumed("llm.prompts.0.prompt.text"));
    }
}
