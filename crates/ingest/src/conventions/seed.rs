//! The seed's own names (`llm.model`, `llm.tokens.*`, `llm.cost`, `tool.*`, `memory.*`).
//! See docs/conventions/seed.md. `tool.name` is also OpenInference's and is read there;
//! `error.message` is read by the generic status rule.

use super::{Extracted, fill};
use crate::view::SpanView;
use spyglass_model::{SpanKind, Tokens};

pub fn map(v: &SpanView, x: &mut Extracted) {
    if let Some(action) = v.str("memory.action") {
        const READS: &[&str] = &["read", "search", "get", "retrieve"];
        let read = READS.iter().any(|r| r.eq_ignore_ascii_case(action));
        x.kind(Some(if read {
            SpanKind::Retriever
        } else {
            SpanKind::Other
        }));
    }
    let model = v.text(&["llm.model"]);
    fill(&mut x.request_model, model.clone());
    fill(&mut x.response_model, model);
    x.tokens(Tokens {
        input: v.count(&["llm.tokens.in"]),
        output: v.count(&["llm.tokens.out"]),
        ..Default::default()
    });
    fill(&mut x.cost, v.float(&["llm.cost"]));
    fill(&mut x.tool_name, v.text(&["tool.name"]));
    x.input_text(v, "tool.input");
    x.input_text(v, "memory.key");
    x.output_text(v, "tool.output");
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn memory_write_is_other_even_with_a_model() {
        let x = run(
            "memory.write",
            &[
                ("memory.action", s("write")),
                ("memory.key", s("k")),
                ("llm.model", s("m")),
            ],
        );
        assert_eq!(x.kind, Some(SpanKind::Other));
        assert_eq!(text(&x.input).as_deref(), Some("k"));
    }

    #[test]
    fn tool_input_beats_memory_key() {
        let x = run("t", &[("memory.key", s("k")), ("tool.input", s("{}"))]);
        assert_eq!(text(&x.input).as_deref(), Some("{}"));
        assert!(!x.is_consumed("memory.key"));
    }
}
