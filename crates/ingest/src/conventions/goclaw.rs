//! GoClaw's OTLP exporter (`goclaw.*`). See docs/conventions/goclaw.md.

use super::{Extracted, fill};
use crate::view::SpanView;
use spyglass_model::SpanKind;

pub fn map(v: &SpanView, x: &mut Extracted) {
    x.kind(match v.str("goclaw.span_type") {
        Some("agent") => Some(SpanKind::Agent),
        Some("llm_call") => Some(SpanKind::Llm),
        Some("tool_call") => Some(SpanKind::Tool),
        Some("embedding") => Some(SpanKind::Embedding),
        Some("event") => Some(SpanKind::Event),
        _ => None,
    });
    fill(&mut x.agent_id, v.text(&["goclaw.agent_id"]));
    fill(&mut x.tool_name, v.text(&["goclaw.tool.name"]));
    // Previews are cut by the exporter, so an LLM input preview is usually broken JSON: plain.
    x.input_text(v, "goclaw.input_preview");
    x.output_text(v, "goclaw.output_preview");
    fill(&mut x.cost, v.float(&["goclaw.llm.cost_usd"]));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn span_types_and_fork_cost() {
        let x = run("x", &[("goclaw.span_type", s("event"))]);
        assert_eq!(x.kind, Some(SpanKind::Event));
        let x = run(
            "x",
            &[
                ("goclaw.span_type", s("subagent")),
                ("goclaw.tool.name", s("exec")),
            ],
        );
        assert_eq!(x.kind, Some(SpanKind::Tool));
        let x = run(
            "m #1",
            &[
                ("goclaw.span_type", s("llm_call")),
                ("goclaw.llm.cost_usd", s("0.5")),
            ],
        );
        assert_eq!(x.cost, Some(0.5));
    }
}
