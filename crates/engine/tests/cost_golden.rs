//! Golden pricing cases (tests/golden/cost.toml): each case is a span priced by the engine
//! with the bundled table and the fixture's configuration.

use serde::Deserialize;
use spyglass_engine::cost::{CostConfig, CostEngine, parse_day_ns};
use spyglass_model::{CostSource, Span, SpanId, SpanKind, Tokens, TraceId};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    config: CostConfig,
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    model: String,
    #[serde(default)]
    provider: Option<String>,
    at: String,
    tokens: Tokens,
    #[serde(default)]
    reported_cost_usd: Option<f64>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    cost_usd: Option<f64>,
}

fn span(c: &Case) -> Span {
    let start = parse_day_ns(&c.at).expect("case date") + 3_600_000_000_000;
    let mut s = Span::new(
        TraceId::from_u128(1),
        "00000000000000aa".parse::<SpanId>().unwrap(),
        &c.name,
        start,
    );
    s.project_id = Arc::from(c.project.as_deref().unwrap_or("default"));
    s.kind = match c.kind.as_deref() {
        Some(k) => SpanKind::parse(k).expect("kind"),
        None => SpanKind::Llm,
    };
    s.request_model = Some(c.model.clone());
    s.provider = c.provider.clone();
    s.tokens = c.tokens;
    if let Some(r) = c.reported_cost_usd {
        s.cost_usd = Some(r);
        s.cost_source = Some(CostSource::Reported);
    }
    s
}

#[test]
fn golden_pricing_cases() {
    let text = include_str!("golden/cost.toml");
    let fixture: Fixture = toml::from_str(text).expect("fixture parses");
    let engine = CostEngine::new(&fixture.config).expect("engine");
    assert!(fixture.case.len() >= 15);
    let mut failures = Vec::new();
    for c in &fixture.case {
        let mut spans = [span(c)];
        engine.price_spans(&mut spans);
        let s = &spans[0];
        let source = s.cost_source.map(|c| c.as_str().to_string());
        let cost_ok = match (s.cost_usd, c.expect.cost_usd) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        let model_ok = match &c.expect.model_id {
            None => true,
            Some(want) => {
                let project = c.project.as_deref().unwrap_or("default");
                engine
                    .resolve(project, &c.model, c.provider.as_deref())
                    .is_some_and(|m| m.id == *want)
            }
        };
        if source != c.expect.source || !cost_ok || !model_ok {
            failures.push(format!(
                "{}: got source {source:?} cost {:?}, expected {:?} {:?} (model {:?}, resolved {:?})",
                c.name,
                s.cost_usd,
                c.expect.source,
                c.expect.cost_usd,
                c.expect.model_id,
                engine
                    .resolve(
                        c.project.as_deref().unwrap_or("default"),
                        &c.model,
                        c.provider.as_deref()
                    )
                    .map(|m| m.id),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
