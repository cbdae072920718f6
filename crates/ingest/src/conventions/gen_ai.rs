//! OpenTelemetry GenAI semantic conventions, current and deprecated names, plus the `gen_ai.*`
//! spellings of Semantic Kernel and AutoGen. See docs/conventions/gen_ai.md.

use super::{Consumed, Extracted, fill, gen_ai_events, lowercase};
use crate::anyvalue;
use crate::messages;
use crate::view::SpanView;
use spyglass_model::{SpanKind, Tokens};
use std::borrow::Cow;

const INPUT_MESSAGES: &str = "gen_ai.input.messages";
const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";

pub fn map(v: &SpanView, x: &mut Extracted) {
    if let Some(op) = v.str("gen_ai.operation.name") {
        x.kind(operation_kind(op));
    }
    fill(
        &mut x.provider,
        v.text(&["gen_ai.provider.name", "gen_ai.system"])
            .map(lowercase),
    );
    fill(&mut x.request_model, v.text(&["gen_ai.request.model"]));
    fill(&mut x.response_model, v.text(&["gen_ai.response.model"]));
    x.tokens(Tokens {
        input: v.count(&[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "gen_ai.response.prompt_tokens",
        ]),
        output: v.count(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "gen_ai.response.completion_tokens",
        ]),
        cache_read: v.count(&["gen_ai.usage.cache_read.input_tokens"]),
        cache_write: v.count(&["gen_ai.usage.cache_creation.input_tokens"]),
        reasoning: v.count(&["gen_ai.usage.reasoning.output_tokens"]),
        total: None,
    });
    fill(&mut x.cost, v.float(&["gen_ai.usage.cost"]));
    fill(&mut x.session_id, v.text(&["gen_ai.conversation.id"]));
    fill(&mut x.agent_name, v.text(&["gen_ai.agent.name"]));
    fill(&mut x.agent_id, v.text(&["gen_ai.agent.id"]));
    fill(&mut x.tool_name, v.text(&["gen_ai.tool.name"]));
    payloads(v, x);
}

/// `gen_ai.operation.name` to a span kind; values are compared exactly.
pub fn operation_kind(op: &str) -> Option<SpanKind> {
    Some(match op {
        // `chat.completions` / `text.completions`: Semantic Kernel's spelling.
        "chat" | "text_completion" | "generate_content" | "chat.completions"
        | "text.completions" => SpanKind::Llm,
        "embeddings" => SpanKind::Embedding,
        "retrieval" | "search_memory" => SpanKind::Retriever,
        "execute_tool" => SpanKind::Tool,
        "invoke_agent" | "create_agent" => SpanKind::Agent,
        "invoke_workflow" | "plan" => SpanKind::Chain,
        _ => return None,
    })
}

/// Input and output, in gen_ai.md's source order. A later message source still replaces an
/// earlier plain value (canonical-span.md: messages win); once a slot holds messages, later
/// sources are not even parsed.
fn payloads(v: &SpanView, x: &mut Extracted) {
    offer_input(
        x,
        v.payload(INPUT_MESSAGES),
        v.payload(SYSTEM_INSTRUCTIONS),
        true,
    );
    offer_output(x, v, v.payload(OUTPUT_MESSAGES), true);
    let events = if v.events.is_empty() || (x.input.has_messages() && x.output.has_messages()) {
        gen_ai_events::Payloads::default()
    } else {
        gen_ai_events::read(v.events)
    };
    let owned = |s: Option<String>| s.map(Cow::Owned);
    offer_input(
        x,
        owned(events.details_input),
        owned(events.details_instructions),
        false,
    );
    offer_output(x, v, owned(events.details_output), false);

    offer_openai_format(x, true, v.payload("gen_ai.prompt"), Some("gen_ai.prompt"));
    offer_openai_format(
        x,
        false,
        v.payload("gen_ai.completion"),
        Some("gen_ai.completion"),
    );
    offer_openai_format(x, true, owned(events.prompt), None);
    offer_openai_format(x, false, owned(events.completion), None);
    x.input_messages(
        (!events.messages.is_empty()).then_some(events.messages),
        &[],
    );
    x.output_messages((!events.choices.is_empty()).then_some(events.choices), &[]);

    x.input_text(v, "gen_ai.tool.call.arguments");
    x.input_text(v, "autogen.tool.arguments");
    x.output_text(v, "gen_ai.tool.call.result");
}

/// `gen_ai.input.messages` with `gen_ai.system_instructions` prepended (instructions alone
/// make a one-message array). From the span (`from_span`) the keys used leave the attributes;
/// events are never changed.
fn offer_input(
    x: &mut Extracted,
    messages: Option<Cow<str>>,
    instructions: Option<Cow<str>>,
    from_span: bool,
) {
    if x.input.has_messages() || (messages.is_none() && instructions.is_none()) {
        return;
    }
    let system = instructions.as_deref().and_then(messages::system_message);
    let all = [
        Consumed::Key(INPUT_MESSAGES),
        Consumed::Key(SYSTEM_INSTRUCTIONS),
    ];
    let keys = |k: &'static [Consumed]| if from_span { k } else { &[] };
    match messages.map(|t| (messages::parse_array(&t), t)) {
        Some((Some(mut list), _)) => {
            let used: &[Consumed] = if system.is_some() { &all } else { &all[..1] };
            if let Some(s) = system {
                list.insert(0, s);
            }
            x.input_messages(Some(list), if from_span { used } else { &[] });
        }
        unparsed => {
            // Not a JSON array: a plain value, which instructions (messages) then outrank.
            if let Some(s) = system {
                x.input_messages(Some(vec![s]), keys(&[Consumed::Key(SYSTEM_INSTRUCTIONS)]));
            }
            if let Some((None, text)) = unparsed {
                x.input_plain(
                    Some(text.into_owned()),
                    keys(&[Consumed::Key(INPUT_MESSAGES)]),
                );
            }
        }
    }
}

fn offer_output(x: &mut Extracted, v: &SpanView, messages: Option<Cow<str>>, from_span: bool) {
    let Some(text) = messages else { return };
    if x.output.has_messages() {
        return;
    }
    let keys: &[Consumed] = if from_span {
        &[Consumed::Key(OUTPUT_MESSAGES)]
    } else {
        &[]
    };
    let reasons = v
        .get("gen_ai.response.finish_reasons")
        .map(anyvalue::as_string_list)
        .unwrap_or_default();
    match messages::parse_output_array(&text, &reasons) {
        Some(list) => x.output_messages(Some(list), keys),
        None => x.output_plain(Some(text.into_owned()), keys),
    }
}

/// The deprecated `gen_ai.prompt` / `gen_ai.completion`: an OpenAI-format message array, or
/// any other string as a plain value.
fn offer_openai_format(
    x: &mut Extracted,
    input: bool,
    text: Option<Cow<str>>,
    key: Option<&'static str>,
) {
    let Some(text) = text else { return };
    if (if input { &x.input } else { &x.output }).has_messages() {
        return;
    }
    let consumed = key.map(Consumed::Key);
    let keys = consumed.as_slice();
    let parsed = if input {
        messages::parse_array(&text)
    } else {
        messages::parse_output_array(&text, &[])
    };
    match (input, parsed) {
        (true, Some(m)) => x.input_messages(Some(m), keys),
        (false, Some(m)) => x.output_messages(Some(m), keys),
        (true, None) => x.input_plain(Some(text.into_owned()), keys),
        (false, None) => x.output_plain(Some(text.into_owned()), keys),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn operation_names_outside_the_table_give_no_kind() {
        let x = run(
            "create_memory",
            &[("gen_ai.operation.name", s("create_memory"))],
        );
        assert_eq!(x.kind, None);
        let x = run("x", &[("gen_ai.operation.name", s("search_memory"))]);
        assert_eq!(x.kind, Some(spyglass_model::SpanKind::Retriever));
        let x = run(
            "x",
            &[
                ("gen_ai.operation.name", s("Chat")),
                ("gen_ai.request.model", s("m")),
            ],
        );
        // Not an exact match, so rule 3 (a model) decides.
        assert_eq!(x.kind, Some(spyglass_model::SpanKind::Llm));
    }

    #[test]
    fn semantic_kernel_counts_and_negative_values() {
        let x = run(
            "chat.completions m",
            &[
                ("gen_ai.response.prompt_tokens", i(-1)),
                ("gen_ai.response.completion_tokens", i(12)),
            ],
        );
        assert_eq!((x.tokens.input, x.tokens.output), (None, Some(12)));
    }

    #[test]
    fn instructions_alone_and_unparseable_messages() {
        let x = run("chat", &[("gen_ai.system_instructions", s("be brief"))]);
        assert_eq!(
            text(&x.input).as_deref(),
            Some(r#"[{"role":"system","content":"be brief"}]"#)
        );
        assert!(x.is_consumed("gen_ai.system_instructions"));
        // The spec's own Python-repr example is not JSON: a plain value.
        let x = run(
            "chat",
            &[("gen_ai.input.messages", s("[{'role': 'user'}]"))],
        );
        assert_eq!(text(&x.input).as_deref(), Some("[{'role': 'user'}]"));
    }

    #[test]
    fn tool_call_values_and_autogen_arguments() {
        let x = run(
            "execute_tool t",
            &[
                ("gen_ai.operation.name", s("execute_tool")),
                ("autogen.tool.arguments", s(r#"{"q":1}"#)),
            ],
        );
        assert_eq!(text(&x.input).as_deref(), Some(r#"{"q":1}"#));
        assert!(x.is_consumed("autogen.tool.arguments"));
    }

    #[test]
    fn finish_reasons_as_a_json_string() {
        let x = run(
            "invoke_agent a",
            &[
                (
                    "gen_ai.output.messages",
                    s(r#"[{"role":"assistant","parts":[{"type":"text","content":"hi"}]}]"#),
                ),
                ("gen_ai.response.finish_reasons", s(r#"["stop"]"#)),
            ],
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","content":"hi","finish_reason":"stop"}]"#)
        );
    }

    #[test]
    fn deprecated_attributes_are_read_and_moved() {
        let x = run(
            "chat",
            &[
                ("gen_ai.system", s("openai")),
                ("gen_ai.prompt", s(r#"[{"role":"user","content":"hi"}]"#)),
                ("gen_ai.completion", s("hello")),
            ],
        );
        assert_eq!(
            text(&x.input).as_deref(),
            Some(r#"[{"role":"user","content":"hi"}]"#)
        );
        assert_eq!(text(&x.output).as_deref(), Some("hello"));
        assert!(x.is_consumed("gen_ai.prompt") && x.is_consumed("gen_ai.completion"));
    }
}
