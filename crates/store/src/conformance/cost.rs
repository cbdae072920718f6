//! Conformance cases of price overrides and cost recomputation.

use super::{T0, llm, span, write};
use crate::{PriceFn, RecomputeReport, Store};
use spyglass_model::analytics::{AnalyticsFilter, GroupBy, Metric, TimeseriesQuery};
use spyglass_model::query::TraceQuery;
use spyglass_model::{CostSource, Span, SpanId, SpanKind, TraceId};
use std::collections::BTreeMap;
use std::sync::Arc;

const MS: i64 = 1_000_000;
const MINUTE_MS: i64 = 60_000;

pub async fn price_overrides_round_trip(store: &dyn Store) {
    let ours = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(p, _)| p.starts_with("conf-overrides"))
            .collect()
    };
    let doc = |s: &str| s.to_string();
    store
        .put_price_overrides("conf-overrides-b", Some(r#"{"models":[]}"#))
        .await
        .unwrap();
    store
        .put_price_overrides("conf-overrides-a", Some(r#"{"aliases":{"x":"y"}}"#))
        .await
        .unwrap();
    store
        .put_price_overrides("conf-overrides-b", Some(r#"{"models":[],"aliases":{}}"#))
        .await
        .unwrap();
    assert_eq!(
        ours(store.price_overrides().await.unwrap()),
        vec![
            (doc("conf-overrides-a"), doc(r#"{"aliases":{"x":"y"}}"#)),
            (
                doc("conf-overrides-b"),
                doc(r#"{"models":[],"aliases":{}}"#)
            ),
        ],
        "one document per project, replaced, in project order"
    );
    store
        .put_price_overrides("conf-overrides-a", None)
        .await
        .unwrap();
    store
        .put_price_overrides("conf-overrides-missing", None)
        .await
        .unwrap();
    assert_eq!(
        ours(store.price_overrides().await.unwrap()),
        vec![(
            doc("conf-overrides-b"),
            doc(r#"{"models":[],"aliases":{}}"#)
        )]
    );
}

/// Prices as the engine would with a table of two rates per input token: `acme-*` models
/// (unknown, so unpriced, when `acme` is `None`) and every other model. Reported costs are
/// kept, other kinds left alone, like `CostEngine::price_spans`.
fn prices(acme: Option<f64>, other: f64) -> PriceFn {
    Arc::new(move |spans: &mut [Span]| {
        for s in spans.iter_mut() {
            if !matches!(s.kind, SpanKind::Llm | SpanKind::Embedding)
                || s.cost_source == Some(CostSource::Reported)
            {
                continue;
            }
            let rate = match s.model() {
                Some(m) if m.starts_with("acme") => acme,
                _ => Some(other),
            };
            s.cost_usd = rate.and_then(|r| s.tokens.input.map(|i| i as f64 * r));
            s.cost_source = Some(if s.cost_usd.is_some() {
                CostSource::Computed
            } else {
                CostSource::Unpriced
            });
        }
    })
}

fn priced(mut s: Span, price: &PriceFn) -> Span {
    price(std::slice::from_mut(&mut s));
    s
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    }
}

async fn cost_by_model(store: &dyn Store, p: &str) -> BTreeMap<Option<String>, Option<f64>> {
    let q = TimeseriesQuery {
        metric: Metric::Cost,
        group_by: Some(GroupBy::Model),
        interval_s: 600,
        from_ns: T0 - 60 * MINUTE_MS * MS,
        to_ns: T0 + 60 * MINUTE_MS * MS,
        filter: AnalyticsFilter::default(),
        limit: 100,
    };
    let ts = store.timeseries(p, &q).await.expect("timeseries");
    ts.series.into_iter().map(|s| (s.group, s.total)).collect()
}

fn assert_costs(
    got: &BTreeMap<Option<String>, Option<f64>>,
    want: &[(&str, Option<f64>)],
    ctx: &str,
) {
    for (model, cost) in want {
        let g = got.get(&Some(model.to_string())).copied().flatten();
        assert!(
            close(g, *cost),
            "{ctx}: {model} costs {g:?}, expected {cost:?}"
        );
    }
}

async fn trace_cost(store: &dyn Store, p: &str, t: u128) -> (Option<f64>, BTreeMap<u64, Span>) {
    let (summary, spans) = store
        .trace(p, TraceId::from_u128(t))
        .await
        .unwrap()
        .expect("trace");
    let spans = spans.into_iter().map(|s| (s.span_id.as_u64(), s)).collect();
    (summary.cost_usd, spans)
}

async fn listed_cost(store: &dyn Store, p: &str, t: u128) -> Option<f64> {
    store
        .traces(p, &TraceQuery::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.trace_id == TraceId::from_u128(t))
        .expect("listed")
        .cost_usd
}

/// After a price change, re-pricing a range updates the spans that started in it (not
/// reported costs, not other projects or times), their traces' summaries and the rollups; a
/// later version of a re-priced span then replaces the new figure, so nothing drifts.
pub async fn recompute_costs_updates_summaries_and_rollups(store: &dyn Store) {
    let p = "conf-reprice";
    let other_project = "conf-reprice-other";
    let old = prices(None, 1e-6);
    let new = prices(Some(3e-6), 5e-6);

    let mut agent = span(p, 1, 1, None, 0, 1_000);
    agent.kind = SpanKind::Agent;
    let mut embed = llm(span(p, 1, 5, Some(1), 40, 10), "acme-embed", 500, 0, None);
    embed.kind = SpanKind::Embedding;
    let mut reported = llm(span(p, 1, 4, Some(1), 30, 10), "gpt-4o", 100, 10, Some(0.5));
    reported.cost_source = Some(CostSource::Reported);
    // Trace 2 starts in the range's second hour (the range is worked through by the hour),
    // sent running first.
    let done = llm(
        span(p, 2, 1, None, 59 * MINUTE_MS + 30_000, 500),
        "acme-llm",
        4_000,
        10,
        None,
    );
    let mut running = done.clone();
    running.end_ns = None;
    running.duration_ns = None;
    running.received_ns -= 5_000 * MS;
    let spans = vec![
        agent,
        llm(span(p, 1, 2, Some(1), 10, 10), "acme-llm", 1_000, 10, None),
        llm(span(p, 1, 3, Some(1), 20, 10), "gpt-4o", 2_000, 10, None),
        reported,
        embed,
        running,
        done,
        // Before the range: keeps its price.
        llm(
            span(p, 3, 1, None, -2 * MINUTE_MS, 10),
            "acme-llm",
            700,
            1,
            None,
        ),
        // Another project, same trace id: not re-priced.
        llm(
            span(other_project, 1, 2, None, 10, 10),
            "acme-llm",
            1_000,
            1,
            None,
        ),
    ];
    write(store, spans.into_iter().map(|s| priced(s, &old)).collect()).await;
    let (cost, _) = trace_cost(store, p, 1).await;
    assert!(close(cost, Some(0.002 + 0.5)), "{cost:?}");
    assert_costs(
        &cost_by_model(store, p).await,
        &[("acme-llm", None), ("gpt-4o", Some(0.502))],
        "before",
    );

    let from = T0 - MINUTE_MS * MS;
    let to = T0 + 120 * MINUTE_MS * MS;
    let report = store
        .recompute_costs(p, from, to, new.clone())
        .await
        .expect("recompute");
    assert_eq!(
        report,
        RecomputeReport {
            spans_examined: 5,
            spans_changed: 4,
            traces_touched: 2,
        }
    );

    let (cost, spans) = trace_cost(store, p, 1).await;
    let cost_of = |id: u64| (spans[&id].cost_usd, spans[&id].cost_source);
    assert!(close(cost_of(2).0, Some(0.003)));
    assert_eq!(cost_of(2).1, Some(CostSource::Computed));
    assert!(close(cost_of(3).0, Some(0.01)));
    assert_eq!(cost_of(4), (Some(0.5), Some(CostSource::Reported)));
    assert!(close(cost_of(5).0, Some(0.0015)));
    assert_eq!(cost_of(1), (None, None), "the agent span is not priced");
    let want_t1 = 0.003 + 0.01 + 0.5 + 0.0015;
    assert!(close(cost, Some(want_t1)), "trace 1 costs {cost:?}");
    assert!(close(listed_cost(store, p, 1).await, Some(want_t1)));
    assert!(close(listed_cost(store, p, 2).await, Some(0.012)));
    let (cost, spans) = trace_cost(store, p, 2).await;
    assert!(close(cost, Some(0.012)));
    assert_eq!(spans[&1].cost_source, Some(CostSource::Computed));
    let (cost, spans) = trace_cost(store, p, 3).await;
    assert_eq!(cost, None, "started before the range");
    assert_eq!(spans[&1].cost_source, Some(CostSource::Unpriced));
    let (cost, _) = trace_cost(store, other_project, 1).await;
    assert_eq!(cost, None, "another project");
    assert_costs(
        &cost_by_model(store, p).await,
        &[
            ("acme-llm", Some(0.015)),
            ("gpt-4o", Some(0.51)),
            ("acme-embed", Some(0.0015)),
        ],
        "after",
    );
    assert_costs(
        &cost_by_model(store, other_project).await,
        &[("acme-llm", None)],
        "other project",
    );

    // The same prices again change nothing.
    let again = store
        .recompute_costs(p, from, to, new.clone())
        .await
        .unwrap();
    assert_eq!((again.spans_examined, again.spans_changed), (5, 0));

    // A later version of a re-priced span, priced at ingest with the new prices: it replaces
    // the re-priced figure everywhere.
    let mut later = priced(
        llm(span(p, 1, 2, Some(1), 10, 10), "acme-llm", 2_000, 10, None),
        &new,
    );
    later.received_ns += 1_000 * MS;
    write(store, vec![later]).await;
    let want_t1 = 0.006 + 0.01 + 0.5 + 0.0015;
    let (cost, _) = trace_cost(store, p, 1).await;
    assert!(close(cost, Some(want_t1)), "trace 1 costs {cost:?}");
    let after = [
        ("acme-llm", Some(0.006 + 0.012)),
        ("gpt-4o", Some(0.51)),
        ("acme-embed", Some(0.0015)),
    ];
    assert_costs(&cost_by_model(store, p).await, &after, "a later version");
    store.compact().await.unwrap();
    assert_costs(&cost_by_model(store, p).await, &after, "compacted");
    assert!(
        store
            .span(p, TraceId::from_u128(1), SpanId::from_u64(2))
            .await
            .unwrap()
            .is_some_and(|s| s.tokens.input == Some(2_000))
    );

    // Prices change again; a new version of a span arrives while the range is re-priced.
    // Whichever goes first, everything ends at the newest prices.
    let newest = prices(Some(4e-6), 6e-6);
    let mut t2 = priced(
        llm(
            span(p, 2, 1, None, 59 * MINUTE_MS + 30_000, 500),
            "acme-llm",
            4_000,
            10,
            None,
        ),
        &newest,
    );
    t2.received_ns += 2_000 * MS;
    let (report, ()) = tokio::join!(
        store.recompute_costs(p, from, to, newest.clone()),
        write(store, vec![t2])
    );
    report.expect("recompute");
    let (cost, _) = trace_cost(store, p, 1).await;
    assert!(close(cost, Some(0.008 + 0.012 + 0.5 + 0.002)), "{cost:?}");
    let (cost, _) = trace_cost(store, p, 2).await;
    assert!(close(cost, Some(0.016)), "{cost:?}");
    assert_costs(
        &cost_by_model(store, p).await,
        &[
            ("acme-llm", Some(0.008 + 0.016)),
            ("gpt-4o", Some(0.512)),
            ("acme-embed", Some(0.002)),
        ],
        "newest",
    );
}
