//! Conformance case of retention.

use super::{T0, span, write};
use crate::Store;
use spyglass_model::TraceId;
use spyglass_model::analytics::{AnalyticsFilter, Metric, TimeseriesQuery};
use spyglass_model::query::TraceQuery;

const MIN: i64 = 60_000;

/// Retention removes exactly the traces that ended their spans before the cutoff (every span
/// older), keeps a trace that crosses it whole, keeps other projects' data, and a late span of
/// a deleted trace starts it afresh.
pub async fn retention_removes_exactly_what_is_older(store: &dyn Store) {
    let p = "retention";
    // Times in ms from T0; the cutoff is T0 + 60 minutes.
    let cutoff = T0 + 60 * MIN * 1_000_000;
    let old = vec![span(p, 1, 1, None, 0, 100), span(p, 1, 2, Some(1), 10, 50)];
    let crossing = vec![
        span(p, 2, 1, None, 59 * MIN, 2 * MIN),
        span(p, 2, 2, Some(1), 61 * MIN, 10),
    ];
    let new = vec![span(p, 3, 1, None, 61 * MIN, 100)];
    let other = vec![span("retention-other", 1, 1, None, 0, 100)];
    for batch in [old, crossing, new, other] {
        write(store, batch).await;
    }
    let report = store.apply_retention(p, cutoff).await.expect("retention");
    assert_eq!((report.traces, report.spans), (1, 2));

    let ids = |q: TraceQuery, project: &'static str| async move {
        let mut v: Vec<TraceId> = store
            .traces(project, &q)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.trace_id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(TraceQuery::default(), p).await,
        vec![TraceId::from_u128(2), TraceId::from_u128(3)]
    );
    assert!(
        store
            .trace(p, TraceId::from_u128(1))
            .await
            .unwrap()
            .is_none()
    );
    let (_, crossing_spans) = store
        .trace(p, TraceId::from_u128(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        crossing_spans.len(),
        2,
        "a trace crossing the cutoff is kept whole"
    );
    assert_eq!(ids(TraceQuery::default(), "retention-other").await.len(), 1);
    let q = TimeseriesQuery {
        metric: Metric::Count,
        group_by: None,
        interval_s: 60,
        from_ns: T0 - 3_600_000_000_000,
        to_ns: cutoff,
        filter: AnalyticsFilter::default(),
        limit: 1,
    };
    let before = store.timeseries(p, &q).await.unwrap();
    assert_eq!(
        before.series[0].total,
        Some(0.0),
        "rollups before the cutoff are gone"
    );
    assert_eq!(
        store
            .timeseries("retention-other", &q)
            .await
            .unwrap()
            .series[0]
            .total,
        Some(1.0)
    );

    // A late span of the deleted trace: a new trace of one span, not the old one revived.
    let mut late = span(p, 1, 9, None, 120 * MIN, 5);
    late.received_ns += 1;
    write(store, vec![late]).await;
    let (summary, spans) = store
        .trace(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.span_count, spans.len()), (1, 1));
}
