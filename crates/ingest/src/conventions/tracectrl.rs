//! TraceCtrl (`tracectrl.*`): its Python SDK's enrichment and guardrail spans, and its OpenClaw
//! plugin's spans. See docs/conventions/tracectrl.md.

use super::{Extracted, fill, lowercase};
use crate::view::SpanView;
use spyglass_model::{SpanKind, Tokens};

pub fn map(v: &SpanView, x: &mut Extracted) {
    x.kind(kind(v));
    fill(&mut x.agent_id, v.text(&["tracectrl.agent.id"]));
    fill(&mut x.agent_name, v.text(&["tracectrl.agent.name"]));
    fill(
        &mut x.session_id,
        v.text(&["tracectrl.session_id", "tracectrl.session.key"]),
    );
    fill(&mut x.tool_name, v.text(&["tracectrl.tool.name"]));
    x.input_text(v, "tracectrl.message.text");
    x.input_text(v, "tracectrl.tool.input_preview");
    fill(&mut x.cost, v.float(&["tracectrl.cost_usd"]));
    tokens(v, x);
}

/// The plugin's own names for what the GenAI keys on the same span already say; they come
/// second (after the GenAI mapping).
pub fn map_models(v: &SpanView, x: &mut Extracted) {
    fill(
        &mut x.provider,
        v.text(&["tracectrl.provider"]).map(lowercase),
    );
    fill(&mut x.request_model, v.text(&["tracectrl.agent.model"]));
    fill(&mut x.response_model, v.text(&["tracectrl.model"]));
}

/// TraceCtrl's part of kind rule 1, first match wins. `tracectrl.agent.id` alone says nothing:
/// guardrail spans carry it too.
fn kind(v: &SpanView) -> Option<SpanKind> {
    let name = v.name;
    Some(
        if v.has("tracectrl.guardrail.decision") || name == "tracectrl.guardrail.evaluation" {
            SpanKind::Guardrail
        } else if name == "tracectrl.guardrail.registered" {
            SpanKind::Event
        } else if name == "tracectrl.agent.invocation" || name == "tracectrl.agent.turn" {
            SpanKind::Agent
        } else if v.has("tracectrl.tool.name") {
            SpanKind::Tool
        } else if name == "tracectrl.model.usage" {
            SpanKind::Llm
        } else if let Some(op) = v.str("tracectrl.memory.operation") {
            // TraceCtrl's own read words (`inference.py`).
            const READS: &[&str] = &[
                "read", "get", "search", "retrieve", "query", "recall", "lookup",
            ];
            if READS.iter().any(|r| r.eq_ignore_ascii_case(op)) {
                SpanKind::Retriever
            } else {
                SpanKind::Other
            }
        } else if name == "tracectrl.request" {
            SpanKind::Chain
        } else if name.starts_with("tracectrl.session.")
            || name == "tracectrl.gateway.startup"
            || name == "tracectrl.webhook.error"
        {
            SpanKind::Event
        } else {
            return None;
        },
    )
}

/// The plugin's `gen_ai.usage.input_tokens` excludes cached tokens; canonical `input` includes
/// them, so the cache counts are added back. The agent-turn total excludes the cache as well
/// (it would otherwise be smaller than `input`); the model-usage total already includes it.
fn tokens(v: &SpanView, x: &mut Extracted) {
    let (cache_read, cache_write, total_excludes_cache) = match (
        v.count(&["tracectrl.tokens.cache_read"]),
        v.count(&["tracectrl.tokens.cache_write"]),
    ) {
        (None, None) => (
            v.count(&["gen_ai.usage.cache_read_tokens"]),
            v.count(&["gen_ai.usage.cache_write_tokens"]),
            false,
        ),
        (r, w) => (r, w, true),
    };
    let total = v.count(&["gen_ai.usage.total_tokens"]);
    if cache_read.is_none() && cache_write.is_none() {
        x.tokens(Tokens {
            total,
            ..Default::default()
        });
        return;
    }
    let cache = cache_read
        .unwrap_or(0)
        .saturating_add(cache_write.unwrap_or(0));
    x.tokens(Tokens {
        input: v
            .count(&["gen_ai.usage.input_tokens"])
            .map(|i| i.saturating_add(cache)),
        cache_read,
        cache_write,
        total: total.map(|t| {
            if total_excludes_cache {
                t.saturating_add(cache)
            } else {
                t
            }
        }),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use spyglass_model::SpanKind;

    #[test]
    fn span_name_and_attribute_kinds() {
        let kind = |name: &str, pairs: &[(&str, _)]| run(name, pairs).kind;
        assert_eq!(
            kind(
                "tracectrl.guardrail.registered",
                &[("tracectrl.guardrail.name", s("g"))]
            ),
            Some(SpanKind::Event)
        );
        assert_eq!(
            kind(
                "tracectrl.session.reset",
                &[("tracectrl.session.key", s("k"))]
            ),
            Some(SpanKind::Event)
        );
        assert_eq!(
            kind("tracectrl.model.usage", &[("tracectrl.model", s("m"))]),
            Some(SpanKind::Llm)
        );
        assert_eq!(
            kind("mem", &[("tracectrl.memory.operation", s("Lookup"))]),
            Some(SpanKind::Retriever)
        );
        assert_eq!(
            kind("mem", &[("tracectrl.memory.operation", s("write"))]),
            Some(SpanKind::Other)
        );
        // TraceCtrl enriches OpenInference spans, whose own kind wins.
        assert_eq!(
            kind(
                "tool",
                &[
                    ("openinference.span.kind", s("CHAIN")),
                    ("tracectrl.tool.name", s("t"))
                ]
            ),
            Some(SpanKind::Chain)
        );
    }

    #[test]
    fn model_usage_tokens_and_names() {
        let x = run(
            "tracectrl.model.usage",
            &[
                ("tracectrl.session.key", s("k")),
                ("gen_ai.system", s("anthropic")),
                ("tracectrl.provider", s("other")),
                ("gen_ai.response.model", s("claude")),
                ("tracectrl.model", s("ignored")),
                ("tracectrl.cost_usd", s("0.012")),
                ("gen_ai.usage.input_tokens", i(100)),
                ("gen_ai.usage.output_tokens", i(20)),
                ("gen_ai.usage.cache_read_tokens", i(300)),
                ("gen_ai.usage.total_tokens", i(420)),
            ],
        );
        assert_eq!(x.conventions.names(), vec!["gen_ai", "tracectrl"]);
        assert!(x.unmapped_keys.is_empty());
        assert_eq!(
            (x.provider.as_deref(), x.response_model.as_deref()),
            (Some("anthropic"), Some("claude"))
        );
        assert_eq!(x.cost, Some(0.012));
        let t = x.tokens;
        assert_eq!(
            (t.input, t.output, t.cache_read, t.cache_write, t.total),
            (Some(400), Some(20), Some(300), None, Some(420))
        );
    }

    #[test]
    fn cache_names_outside_tracectrl_are_unmapped() {
        let x = run(
            "chat",
            &[
                ("gen_ai.usage.input_tokens", i(1)),
                ("gen_ai.usage.cache_read_tokens", i(5)),
            ],
        );
        assert_eq!(x.unmapped_keys, vec!["gen_ai.usage.cache_read_tokens"]);
        assert_eq!(x.tokens.cache_read, None);
    }
}
