//! Conformance case of deletion on request and the audit log.

use super::{T0, span, write};
use crate::Store;
use spyglass_model::TraceId;
use spyglass_model::analytics::{AnalyticsFilter, Metric, TimeseriesQuery};
use spyglass_model::audit::{AuditEntry, DeleteTarget};
use spyglass_model::query::TraceQuery;

async fn total_spans(store: &dyn Store, p: &str) -> f64 {
    let q = TimeseriesQuery {
        metric: Metric::Count,
        group_by: None,
        interval_s: 3600,
        from_ns: T0 - 3_600_000_000_000,
        to_ns: T0 + 3_600_000_000_000,
        filter: AnalyticsFilter::default(),
        limit: 1,
    };
    store.timeseries(p, &q).await.unwrap().series[0]
        .total
        .unwrap()
}

/// A user's deletion removes every trace of theirs from every query (traces, spans, sessions,
/// usage, rollups) and nothing else; a session and a trace likewise; the audit log keeps the
/// record.
pub async fn deletion_removes_a_users_data_from_every_query(store: &dyn Store) {
    let p = "deletion";
    let mut traces = Vec::new();
    for (t, user, session) in [
        (1u128, "ann", "s1"),
        (2, "ann", "s2"),
        (3, "bob", "s3"),
        (4, "bob", "s4"),
    ] {
        let mut spans = vec![
            span(p, t, 1, None, t as i64 * 100, 50),
            span(p, t, 2, Some(1), t as i64 * 100 + 5, 10),
        ];
        // The user is only on the child span: deletion finds the trace through its spans.
        spans[1].user_id = Some(user.into());
        spans[0].session_id = Some(session.into());
        traces.push(spans);
    }
    for spans in traces {
        write(store, spans).await;
    }
    write(store, vec![span("deletion-other", 1, 1, None, 0, 5)]).await;
    assert_eq!(total_spans(store, p).await, 8.0);

    let r = store
        .delete(p, &DeleteTarget::User("ann".into()))
        .await
        .unwrap();
    assert_eq!((r.traces, r.spans), (2, 4));
    let left: Vec<TraceId> = store
        .traces(p, &TraceQuery::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.trace_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter()
            .all(|t| *t == TraceId::from_u128(3) || *t == TraceId::from_u128(4))
    );
    assert!(
        store
            .trace(p, TraceId::from_u128(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session(p, "s1").await.unwrap().is_none());
    assert_eq!(
        total_spans(store, p).await,
        4.0,
        "rollups lose the deleted spans at once"
    );

    let r = store
        .delete(p, &DeleteTarget::Session("s3".into()))
        .await
        .unwrap();
    assert_eq!(r.traces, 1);
    let r = store
        .delete(p, &DeleteTarget::Trace(TraceId::from_u128(4)))
        .await
        .unwrap();
    assert_eq!((r.traces, r.spans), (1, 2));
    let again = store
        .delete(p, &DeleteTarget::Trace(TraceId::from_u128(4)))
        .await
        .unwrap();
    assert_eq!(again.traces, 0);
    assert_eq!(total_spans(store, p).await, 0.0);
    assert_eq!(total_spans(store, "deletion-other").await, 1.0);

    // A span of a deleted trace sent later starts a new trace of its own.
    write(store, vec![span(p, 4, 7, None, 500, 5)]).await;
    let (summary, _) = store
        .trace(p, TraceId::from_u128(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.span_count, 1);

    for (i, action) in ["delete.user", "delete.trace"].into_iter().enumerate() {
        store
            .record_audit(&AuditEntry {
                project_id: p.into(),
                time_ns: T0 + i as i64,
                actor: "local".into(),
                action: action.into(),
                target: "x".into(),
                detail: serde_json::json!({"traces": i}),
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(p, None, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["delete.trace", "delete.user"]
    );
    assert_eq!(log[0].detail["traces"], 1);
    assert!(
        store
            .audit_log("deletion-other", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
