//! GenAI content carried by span events (gen_ai.md, "Deprecated span events"). The spec emits
//! the per-message events as log records; they reach a trace backend only when an SDK puts
//! them on the span (the Azure AI SDKs do, with the body in `gen_ai.event.content`).

use crate::anyvalue::{self, ValueCaps};
use crate::messages::{self, EventBody, Message};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::Event;

/// Event names that put a span in `gen_ai`.
pub fn is_message_event(name: &str) -> bool {
    matches!(
        name,
        "gen_ai.content.prompt"
            | "gen_ai.content.completion"
            | "gen_ai.system.message"
            | "gen_ai.user.message"
            | "gen_ai.assistant.message"
            | "gen_ai.tool.message"
            | "gen_ai.choice"
            | "gen_ai.client.inference.operation.details"
    )
}

/// Message sources found in a span's events.
#[derive(Debug, Default)]
pub struct Payloads {
    /// From `gen_ai.client.inference.operation.details`.
    pub details_input: Option<String>,
    pub details_instructions: Option<String>,
    pub details_output: Option<String>,
    /// `gen_ai.prompt` of `gen_ai.content.prompt`.
    pub prompt: Option<String>,
    /// `gen_ai.completion` of `gen_ai.content.completion`.
    pub completion: Option<String>,
    /// The per-message input events, in event order.
    pub messages: Vec<Message>,
    /// `gen_ai.choice` events, ordered by their body's `index`.
    pub choices: Vec<Message>,
}

/// The fields a per-message event body can have, when they arrive as event attributes.
const BODY_FIELDS: &[&str] = &[
    "role",
    "content",
    "tool_calls",
    "id",
    "index",
    "finish_reason",
    "message",
    "name",
];

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(anyvalue::as_text)
}

/// The body as JSON text: `gen_ai.event.content` when present, else the event's own attributes
/// named like the body fields.
fn body_json(attrs: &[KeyValue]) -> Option<String> {
    if let Some(body) = attr(attrs, "gen_ai.event.content") {
        return Some(body);
    }
    let caps = ValueCaps::new(usize::MAX, 64);
    let mut out = String::from("{");
    for kv in attrs
        .iter()
        .filter(|kv| BODY_FIELDS.contains(&kv.key.as_str()))
    {
        let Some(value) = &kv.value else { continue };
        if out.len() > 1 {
            out.push(',');
        }
        anyvalue::write_json_str(&mut out, &kv.key);
        out.push(':');
        anyvalue::write_json(&mut out, value, &caps, 0);
    }
    out.push('}');
    (out.len() > 2).then_some(out)
}

pub fn read(events: &[Event]) -> Payloads {
    let mut p = Payloads::default();
    let mut choices: Vec<(i64, Vec<Message>)> = Vec::new();
    let mut details_seen = false;
    for ev in events {
        let a = &ev.attributes;
        let body = match ev.name.as_str() {
            "gen_ai.client.inference.operation.details" if !details_seen => {
                details_seen = true;
                p.details_input = attr(a, "gen_ai.input.messages");
                p.details_instructions = attr(a, "gen_ai.system_instructions");
                p.details_output = attr(a, "gen_ai.output.messages");
                continue;
            }
            "gen_ai.content.prompt" => {
                super::fill(&mut p.prompt, attr(a, "gen_ai.prompt"));
                continue;
            }
            "gen_ai.content.completion" => {
                super::fill(&mut p.completion, attr(a, "gen_ai.completion"));
                continue;
            }
            "gen_ai.system.message" => EventBody::Message("system"),
            "gen_ai.user.message" => EventBody::Message("user"),
            "gen_ai.assistant.message" => EventBody::Message("assistant"),
            "gen_ai.tool.message" => EventBody::Tool,
            "gen_ai.choice" => EventBody::Choice,
            _ => continue,
        };
        let Some((index, msgs)) =
            body_json(a).and_then(|json| messages::event_messages(&json, body))
        else {
            continue;
        };
        if body == EventBody::Choice {
            // Event order for choices without an index (a stable sort keeps it).
            choices.push((index.unwrap_or(i64::MAX), msgs));
        } else {
            p.messages.extend(msgs);
        }
    }
    choices.sort_by_key(|(i, _)| *i);
    p.choices = choices.into_iter().flat_map(|(_, m)| m).collect();
    p
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValueList, any_value::Value};

    #[test]
    fn azure_style_bodies_and_attribute_bodies() {
        let events = [
            event(
                "gen_ai.system.message",
                &[("gen_ai.event.content", s(r#"{"content":"be brief"}"#))],
            ),
            event(
                "gen_ai.user.message",
                &[("content", s("weather in Paris?"))],
            ),
            event(
                "gen_ai.choice",
                &[(
                    "gen_ai.event.content",
                    s(r#"{"index":1,"finish_reason":"stop","message":{"content":"second"}}"#),
                )],
            ),
            event(
                "gen_ai.choice",
                &[
                    ("index", i(0)),
                    ("finish_reason", s("stop")),
                    (
                        "message",
                        AnyValue {
                            value: Some(Value::KvlistValue(KeyValueList {
                                values: attrs(&[("content", s("first"))]),
                            })),
                        },
                    ),
                ],
            ),
        ];
        let x = run_with("chat", &[("gen_ai.operation.name", s("chat"))], &events);
        assert_eq!(
            text(&x.input).as_deref(),
            Some(
                r#"[{"role":"system","content":"be brief"},{"role":"user","content":"weather in Paris?"}]"#
            )
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(
                r#"[{"role":"assistant","content":"first","finish_reason":"stop"},{"role":"assistant","content":"second","finish_reason":"stop"}]"#
            )
        );
    }

    #[test]
    fn events_alone_name_the_convention_and_details_event_is_read() {
        let events = [event(
            "gen_ai.client.inference.operation.details",
            &[
                (
                    "gen_ai.input.messages",
                    s(r#"[{"role":"user","parts":[{"type":"text","content":"q"}]}]"#),
                ),
                (
                    "gen_ai.output.messages",
                    s(r#"[{"role":"assistant","parts":[{"type":"text","content":"a"}]}]"#),
                ),
            ],
        )];
        let x = run_with("work", &[], &events);
        assert_eq!(x.conventions.names(), vec!["gen_ai"]);
        assert_eq!(
            text(&x.input).as_deref(),
            Some(r#"[{"role":"user","content":"q"}]"#)
        );
        assert_eq!(
            text(&x.output).as_deref(),
            Some(r#"[{"role":"assistant","content":"a"}]"#)
        );
    }

    #[test]
    fn a_completion_that_is_not_json_is_a_plain_value() {
        let events = [event(
            "gen_ai.content.completion",
            &[("gen_ai.completion", s("{\"role:\" assistant"))],
        )];
        let x = run_with(
            "chat.completions m",
            &[("gen_ai.operation.name", s("chat.completions"))],
            &events,
        );
        assert_eq!(text(&x.output).as_deref(), Some("{\"role:\" assistant"));
    }
}
