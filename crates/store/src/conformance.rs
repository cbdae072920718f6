//! The store conformance suite: behaviour every backend must have. A backend's test file
//! invokes [`store_conformance_tests!`] with an expression that builds a fresh store; each
//! case becomes its own test. Cases use their own project ids, so they may share a store.

mod analytics;
mod auth;
pub use auth::auth_records_round_trip;
mod archive;
pub use archive::export_then_import_round_trips_a_day;
mod deletion;
mod retention;
pub use deletion::deletion_removes_a_users_data_from_every_query;
pub use retention::retention_removes_exactly_what_is_older;
mod cost;
mod versions;
pub use analytics::{
    alert_rules_and_events_round_trip, analytics_timeseries_top_and_usage,
    rollups_agree_with_a_recomputation, rollups_follow_trace_structure,
};
pub use cost::{price_overrides_round_trip, recompute_costs_updates_summaries_and_rollups};
pub use versions::agent_versions_record_changes_once;

use crate::Batch;
use crate::Store;
use spyglass_model::query::{
    Cursor, FindingQuery, Order, SessionQuery, StatusFilter, TraceQuery, TraceSort,
};
use spyglass_model::{
    Category, Field, Finding, JsonText, Link, Severity, Span, SpanFinding, SpanId, SpanKind,
    SpanOutline, Status, Tokens, TraceId,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Expands to one `#[tokio::test]` per conformance case. `$make` must evaluate to
/// `(Arc<dyn Store>, guard)`, the guard living as long as the test (a temp dir, a server).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            write_and_read_trace, latest_version_wins, retries_do_not_double_count,
            tenants_are_isolated, trace_list_filters, trace_list_sorts_and_pages,
            sessions_in_order, facets_count_values, linked_traces_found,
            missing_things_are_none, large_batches_and_many_traces,
            list_sees_only_latest_versions, findings_filter_page_and_count,
            analytics_timeseries_top_and_usage, rollups_agree_with_a_recomputation,
            rollups_follow_trace_structure, retention_removes_exactly_what_is_older,
            deletion_removes_a_users_data_from_every_query,
            alert_rules_and_events_round_trip, price_overrides_round_trip,
            recompute_costs_updates_summaries_and_rollups, agent_versions_record_changes_once,
            export_then_import_round_trips_a_day, auth_records_round_trip);
    };
    (@cases $make:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make;
                $crate::conformance::$case(&*store).await;
            }
        )+
    };
}

pub(crate) const T0: i64 = 1_760_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// A finished span with the given shape; `received_ns` orders versions.
pub fn span(
    project: &str,
    trace: u128,
    id: u64,
    parent: Option<u64>,
    start_ms: i64,
    dur_ms: i64,
) -> Span {
    let mut s = Span::new(
        TraceId::from_u128(trace),
        SpanId::from_u64(id),
        &format!("span-{id}"),
        T0 + start_ms * MS,
    );
    s.project_id = project.into();
    s.parent_span_id = parent.map(SpanId::from_u64);
    s.finish(T0 + (start_ms + dur_ms) * MS);
    s.received_ns = T0 + 10_000 * MS + id as i64;
    s.service_name = "svc".into();
    s
}

pub(crate) fn llm(mut s: Span, model: &str, input: i64, output: i64, cost: Option<f64>) -> Span {
    s.kind = SpanKind::Llm;
    s.request_model = Some(model.into());
    s.response_model = Some(model.into());
    s.provider = Some("openai".into());
    s.tokens = Tokens {
        input: Some(input),
        output: Some(output),
        total: Some(input + output),
        ..Default::default()
    };
    s.cost_usd = cost;
    s
}

pub(crate) async fn write(store: &dyn Store, spans: Vec<Span>) {
    store.write(Arc::new(spans.into())).await.expect("write");
}

fn q() -> TraceQuery {
    TraceQuery::default()
}

async fn list(store: &dyn Store, project: &str, q: TraceQuery) -> Vec<TraceId> {
    store
        .traces(project, &q)
        .await
        .expect("traces")
        .items
        .into_iter()
        .map(|t| t.trace_id)
        .collect()
}

pub async fn write_and_read_trace(store: &dyn Store) {
    let p = "conf-read";
    let mut root = span(p, 1, 1, None, 0, 100);
    root.kind = SpanKind::Agent;
    root.agent_name = Some("planner".into());
    root.session_id = Some("s1".into());
    root.user_id = Some("u1".into());
    root.input = Some("plan a trip".into());
    root.output = Some("done".into());
    root.attributes = JsonText::parse(r#"{"app.tier":"gold","n":3}"#.into()).unwrap();
    root.resource_attributes =
        Arc::new(JsonText::parse(r#"{"service.name":"svc","host":"h1"}"#.into()).unwrap());
    root.events = vec![spyglass_model::Event {
        time_ns: T0 + MS,
        name: "note".into(),
        attributes: JsonText::parse(r#"{"k":"v"}"#.into()).unwrap(),
    }];
    root.unmapped_keys = vec!["app.tier".into(), "n".into()];
    root.conventions.insert(spyglass_model::Convention::GenAi);
    let mut call = llm(
        span(p, 1, 2, Some(1), 10, 50),
        "gpt-4o",
        100,
        20,
        Some(0.25),
    );
    call.status = Status::Error;
    call.status_message = Some("rate limited".into());
    call.tokens.cache_read = Some(40);
    let mut tool = span(p, 1, 3, Some(1), 70, 20);
    tool.kind = SpanKind::Tool;
    tool.tool_name = Some("search".into());
    write(store, vec![root.clone(), call.clone(), tool.clone()]).await;

    let (summary, spans) = store
        .trace(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .expect("trace exists");
    assert_eq!(summary.trace_id, TraceId::from_u128(1));
    assert_eq!(summary.span_count, 3);
    assert_eq!(summary.error_count, 1);
    assert_eq!(summary.status, Status::Error);
    assert_eq!(summary.name, "span-1");
    assert_eq!(summary.root_span_id, Some(SpanId::from_u64(1)));
    assert_eq!(summary.start_ns, T0);
    assert_eq!(summary.duration_ns, Some(100 * MS));
    assert_eq!(summary.tokens.input, Some(100));
    assert_eq!(summary.tokens.cache_read, Some(40));
    assert_eq!(summary.cost_usd, Some(0.25));
    assert_eq!(summary.session_id.as_deref(), Some("s1"));
    assert_eq!(summary.user_id.as_deref(), Some("u1"));
    assert_eq!(summary.agents, vec!["planner"]);
    assert_eq!(summary.models, vec!["gpt-4o"]);
    assert_eq!(summary.tools, vec!["search"]);
    assert_eq!(summary.kinds, vec!["agent", "llm", "tool"]);
    assert_eq!(summary.input_preview.as_deref(), Some("plan a trip"));
    assert_eq!(spans.len(), 3);
    let ids: Vec<u64> = spans.iter().map(|s| s.span_id.as_u64()).collect();
    assert_eq!(ids, vec![1, 2, 3], "spans in start order");
    // Every field survives the round trip exactly.
    assert_eq!(spans[0], root);
    assert_eq!(spans[1], call);
    assert_eq!(spans[2], tool);

    // The outline is the same spans, in the same order, without their payloads.
    let (outline_summary, outline) = store
        .trace_outline(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .expect("outline exists");
    assert_eq!(outline_summary, summary);
    let expected: Vec<SpanOutline> = [&root, &call, &tool].map(SpanOutline::from).into();
    assert_eq!(outline, expected);

    let one = store
        .span(p, TraceId::from_u128(1), SpanId::from_u64(2))
        .await
        .unwrap()
        .expect("span");
    assert_eq!(one, call);
}

pub async fn latest_version_wins(store: &dyn Store) {
    let p = "conf-versions";
    let mut running = span(p, 2, 1, None, 0, 0);
    running.end_ns = None;
    running.duration_ns = None;
    running.received_ns = T0 + MS;
    write(store, vec![running.clone()]).await;
    let (s, spans) = store
        .trace(p, TraceId::from_u128(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.running_count, 1);
    assert!(spans[0].is_running());
    assert_eq!(
        list(
            store,
            p,
            TraceQuery {
                status: Some(StatusFilter::Running),
                ..q()
            }
        )
        .await
        .len(),
        1
    );

    let mut finished = span(p, 2, 1, None, 0, 30);
    finished.received_ns = T0 + 2 * MS;
    finished.output = Some("final".into());
    write(store, vec![finished.clone()]).await;
    // A late running copy (an out-of-order retry) must not replace the finished version.
    let mut stale = running.clone();
    stale.received_ns = T0 + 3 * MS;
    write(store, vec![stale]).await;

    let (s, spans) = store
        .trace(p, TraceId::from_u128(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0], finished);
    assert_eq!(s.running_count, 0);
    let (_, outline) = store
        .trace_outline(p, TraceId::from_u128(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outline, vec![SpanOutline::from(&finished)]);
    assert_eq!(s.duration_ns, Some(30 * MS));
    assert_eq!(s.output_preview.as_deref(), Some("final"));
    assert!(
        list(
            store,
            p,
            TraceQuery {
                status: Some(StatusFilter::Running),
                ..q()
            }
        )
        .await
        .is_empty()
    );

    // Between two finished versions, the later received wins.
    let mut newer = finished.clone();
    newer.received_ns = T0 + 4 * MS;
    newer.output = Some("corrected".into());
    write(store, vec![newer.clone()]).await;
    let got = store
        .span(p, TraceId::from_u128(2), SpanId::from_u64(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.output.as_deref(), Some("corrected"));
}

pub async fn retries_do_not_double_count(store: &dyn Store) {
    let p = "conf-retries";
    let batch = vec![
        span(p, 3, 1, None, 0, 100),
        llm(span(p, 3, 2, Some(1), 5, 10), "m", 10, 5, Some(1.0)),
    ];
    for _ in 0..3 {
        write(store, batch.clone()).await;
    }
    // The same spans again in one batch, too.
    let mut twice = batch.clone();
    twice.extend(batch.clone());
    write(store, twice).await;
    let (s, spans) = store
        .trace(p, TraceId::from_u128(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(s.span_count, 2);
    assert_eq!(s.tokens.total, Some(15));
    assert_eq!(s.cost_usd, Some(1.0));
}

pub async fn tenants_are_isolated(store: &dyn Store) {
    let (a, b) = ("conf-tenant-a", "conf-tenant-b");
    let mut sa = span(a, 4, 1, None, 0, 10);
    sa.session_id = Some("shared-session".into());
    sa.user_id = Some("alice".into());
    sa.agent_name = Some("agent-a".into());
    sa.links = vec![Link {
        trace_id: TraceId::from_u128(99),
        span_id: SpanId::from_u64(1),
        attributes: JsonText::empty_object(),
    }];
    write(store, vec![sa]).await;
    // Same trace id in another project: a different trace.
    let mut sb = span(b, 4, 1, None, 0, 20);
    sb.name = "b-root".into();
    write(store, vec![sb]).await;

    let (s, _) = store
        .trace(b, TraceId::from_u128(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.name, "b-root");
    assert_eq!(s.span_count, 1);
    assert!(
        store
            .trace("conf-tenant-none", TraceId::from_u128(4))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .span(
                "conf-tenant-none",
                TraceId::from_u128(4),
                SpanId::from_u64(1)
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(list(store, b, q()).await, vec![TraceId::from_u128(4)]);
    assert!(
        store
            .sessions(b, &SessionQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.session(b, "shared-session").await.unwrap().is_none());
    let fb = store.facets(b, None, None).await.unwrap();
    assert!(fb.agents.is_empty() && fb.users.is_empty());
    assert!(
        store
            .linked_traces(b, TraceId::from_u128(99))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .linked_traces(a, TraceId::from_u128(99))
            .await
            .unwrap(),
        vec![TraceId::from_u128(4)]
    );
}

/// Six traces with distinct properties, for the filter tests.
async fn seed_filter_traces(store: &dyn Store, p: &str) {
    let mut spans = Vec::new();
    for t in 1..=6u128 {
        let mut root = span(p, 100 + t, 1, None, t as i64 * 1000, t as i64 * 100);
        root.service_name = if t % 2 == 0 {
            "api".into()
        } else {
            "worker".into()
        };
        root.session_id = Some(format!("sess-{}", t % 3));
        root.user_id = Some(format!("user-{}", t % 2));
        root.agent_name = Some(if t <= 3 {
            "planner".into()
        } else {
            "coder".into()
        });
        root.kind = SpanKind::Agent;
        root.environment = Some(if t == 6 {
            "staging".into()
        } else {
            "prod".into()
        });
        root.input = Some(format!("question number {t}"));
        root.attributes = JsonText::parse(format!(
            r#"{{"app.tier":"{}","n":{t}}}"#,
            if t == 5 { "gold" } else { "free" }
        ))
        .unwrap();
        let child = llm(
            span(p, 100 + t, 2, Some(1), t as i64 * 1000 + 1, 5),
            if t == 4 { "claude-sonnet-4" } else { "gpt-4o" },
            10 * t as i64,
            1,
            Some(t as f64 / 10.0),
        );
        let mut child = child;
        if t == 3 {
            child.status = Status::Error;
            child.output = Some("needle in the output".into());
        }
        spans.push(root);
        spans.push(child);
    }
    write(store, spans).await;
}

fn ids(v: &[u128]) -> Vec<TraceId> {
    v.iter().map(|t| TraceId::from_u128(100 + t)).collect()
}

pub async fn trace_list_filters(store: &dyn Store) {
    let p = "conf-filters";
    seed_filter_traces(store, p).await;
    let base = TraceQuery {
        order: Order::Asc,
        ..q()
    };
    let run = |f: TraceQuery| async move { list(store, p, f).await };
    assert_eq!(run(base.clone()).await, ids(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(
        run(TraceQuery {
            service: Some("api".into()),
            ..base.clone()
        })
        .await,
        ids(&[2, 4, 6])
    );
    assert_eq!(
        run(TraceQuery {
            agent: Some("coder".into()),
            ..base.clone()
        })
        .await,
        ids(&[4, 5, 6])
    );
    assert_eq!(
        run(TraceQuery {
            session: Some("sess-0".into()),
            ..base.clone()
        })
        .await,
        ids(&[3, 6])
    );
    assert_eq!(
        run(TraceQuery {
            user: Some("user-1".into()),
            ..base.clone()
        })
        .await,
        ids(&[1, 3, 5])
    );
    assert_eq!(
        run(TraceQuery {
            status: Some(StatusFilter::Error),
            ..base.clone()
        })
        .await,
        ids(&[3])
    );
    assert_eq!(
        run(TraceQuery {
            status: Some(StatusFilter::Ok),
            ..base.clone()
        })
        .await,
        ids(&[1, 2, 4, 5, 6])
    );
    assert_eq!(
        run(TraceQuery {
            model: Some("claude-sonnet-4".into()),
            ..base.clone()
        })
        .await,
        ids(&[4])
    );
    assert_eq!(
        run(TraceQuery {
            kind: Some(SpanKind::Tool),
            ..base.clone()
        })
        .await,
        ids(&[])
    );
    assert_eq!(
        run(TraceQuery {
            kind: Some(SpanKind::Llm),
            ..base.clone()
        })
        .await
        .len(),
        6
    );
    assert_eq!(
        run(TraceQuery {
            environment: Some("staging".into()),
            ..base.clone()
        })
        .await,
        ids(&[6])
    );
    assert_eq!(
        run(TraceQuery {
            min_duration_ns: Some(400 * MS),
            ..base.clone()
        })
        .await,
        ids(&[4, 5, 6])
    );
    assert_eq!(
        run(TraceQuery {
            max_duration_ns: Some(200 * MS),
            ..base.clone()
        })
        .await,
        ids(&[1, 2])
    );
    assert_eq!(
        run(TraceQuery {
            min_cost: Some(0.45),
            ..base.clone()
        })
        .await,
        ids(&[5, 6])
    );
    assert_eq!(
        run(TraceQuery {
            from_ns: Some(T0 + 2000 * MS),
            to_ns: Some(T0 + 4000 * MS),
            ..base.clone()
        })
        .await,
        ids(&[2, 3, 4])
    );
    // Full text: root previews and any span's input/output, case-insensitive.
    assert_eq!(
        run(TraceQuery {
            text: Some("QUESTION NUMBER 5".into()),
            ..base.clone()
        })
        .await,
        ids(&[5])
    );
    assert_eq!(
        run(TraceQuery {
            text: Some("needle".into()),
            ..base.clone()
        })
        .await,
        ids(&[3])
    );
    assert_eq!(
        run(TraceQuery {
            text: Some("100%".into()),
            ..base.clone()
        })
        .await,
        ids(&[])
    );
    // Attribute equality: strings and numbers as text.
    assert_eq!(
        run(TraceQuery {
            attrs: vec![("app.tier".into(), "gold".into())],
            ..base.clone()
        })
        .await,
        ids(&[5])
    );
    assert_eq!(
        run(TraceQuery {
            attrs: vec![("n".into(), "2".into())],
            ..base.clone()
        })
        .await,
        ids(&[2])
    );
    assert_eq!(
        run(TraceQuery {
            attrs: vec![("service.name".into(), "svc".into())],
            ..base.clone()
        })
        .await,
        ids(&[]),
        "resource attributes of these spans are empty"
    );
    // Filters combine.
    assert_eq!(
        run(TraceQuery {
            service: Some("worker".into()),
            agent: Some("planner".into()),
            ..base.clone()
        })
        .await,
        ids(&[1, 3])
    );
}

pub async fn trace_list_sorts_and_pages(store: &dyn Store) {
    let p = "conf-paging";
    seed_filter_traces(store, p).await;
    let desc = list(store, p, q()).await;
    assert_eq!(desc, ids(&[6, 5, 4, 3, 2, 1]), "newest first by default");
    let by_cost = list(
        store,
        p,
        TraceQuery {
            sort: TraceSort::Cost,
            ..q()
        },
    )
    .await;
    assert_eq!(by_cost[0], TraceId::from_u128(106));
    let by_dur = list(
        store,
        p,
        TraceQuery {
            sort: TraceSort::Duration,
            order: Order::Asc,
            ..q()
        },
    )
    .await;
    assert_eq!(by_dur, ids(&[1, 2, 3, 4, 5, 6]));

    for sort in [TraceSort::StartTime, TraceSort::Duration, TraceSort::Cost] {
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for _ in 0..10 {
            let page = store
                .traces(
                    p,
                    &TraceQuery {
                        sort,
                        limit: 4,
                        cursor,
                        ..q()
                    },
                )
                .await
                .unwrap();
            assert!(page.items.len() <= 4);
            seen.extend(page.items.iter().map(|t| t.trace_id));
            match page.next_cursor {
                Some(c) => cursor = Some(Cursor::decode(&c).expect("cursor decodes")),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6, "{sort:?}: every trace once");
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            6,
            "{sort:?}: no duplicates"
        );
    }
    let page = store
        .traces(p, &TraceQuery { limit: 6, ..q() })
        .await
        .unwrap();
    assert!(page.next_cursor.is_none(), "no cursor after the last page");
}

/// A trace written in many commits: each left a summary (or a version of one) with a lower
/// cost than the last. Sorted by cost ascending, its stale versions come first; the list must
/// still show each trace once, at the place of its latest version, on every page.
pub async fn list_sees_only_latest_versions(store: &dyn Store) {
    let p = "conf-versions";
    for i in 0..40u64 {
        let parent = if i == 0 { None } else { Some(1) };
        let s = llm(span(p, 1, i + 1, parent, i as i64, 1), "m", 1, 1, Some(1.0));
        write(store, vec![s]).await; // one commit each: trace 1 ends at cost 40
    }
    for (t, cost) in [(2u128, 5.0), (3, 20.0), (4, 60.0)] {
        write(
            store,
            vec![llm(
                span(p, t, 100 + t as u64, None, 0, 1),
                "m",
                1,
                1,
                Some(cost),
            )],
        )
        .await;
    }
    let asc = TraceQuery {
        sort: TraceSort::Cost,
        order: Order::Asc,
        ..q()
    };
    let cheapest = store
        .traces(
            p,
            &TraceQuery {
                limit: 1,
                ..asc.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(cheapest.items.len(), 1);
    assert_eq!(cheapest.items[0].trace_id, TraceId::from_u128(2));
    assert!(cheapest.next_cursor.is_some());
    assert_eq!(
        list(store, p, asc.clone()).await,
        [2, 3, 1, 4].map(TraceId::from_u128)
    );
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .traces(
                p,
                &TraceQuery {
                    limit: 1,
                    cursor,
                    ..asc.clone()
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|t| (t.trace_id, t.cost_usd)));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    let t = TraceId::from_u128;
    assert_eq!(
        seen,
        vec![
            (t(2), Some(5.0)),
            (t(3), Some(20.0)),
            (t(1), Some(40.0)),
            (t(4), Some(60.0))
        ]
    );
}

pub async fn sessions_in_order(store: &dyn Store) {
    let p = "conf-sessions";
    let mut spans = Vec::new();
    for (t, sess, start) in [
        (1u128, "chat-a", 0),
        (2, "chat-a", 5000),
        (3, "chat-b", 2000),
        (4, "chat-a", 9000),
    ] {
        let mut root = span(p, 200 + t, 1, None, start, 100);
        root.session_id = Some(sess.into());
        root.user_id = Some("bob".into());
        root.input = Some(format!("turn {t}"));
        spans.push(root);
        spans.push(llm(
            span(p, 200 + t, 2, Some(1), start + 1, 10),
            "gpt-4o",
            100,
            10,
            Some(0.01),
        ));
    }
    write(store, spans).await;
    let page = store.sessions(p, &SessionQuery::default()).await.unwrap();
    let names: Vec<&str> = page.items.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(
        names,
        vec!["chat-b", "chat-a"],
        "most recently started first"
    );
    let a = &page.items[1];
    assert_eq!(a.trace_count, 3);
    assert_eq!(a.span_count, 6);
    assert_eq!(a.tokens.input, Some(300));
    assert!((a.cost_usd.unwrap() - 0.03).abs() < 1e-9);
    assert_eq!(a.user_id.as_deref(), Some("bob"));
    assert_eq!(a.first_input_preview.as_deref(), Some("turn 1"));
    assert_eq!(a.end_ns, Some(T0 + 9100 * MS));

    let d = store.session(p, "chat-a").await.unwrap().unwrap();
    let order: Vec<TraceId> = d.traces.iter().map(|t| t.trace_id).collect();
    assert_eq!(
        order,
        vec![
            TraceId::from_u128(201),
            TraceId::from_u128(202),
            TraceId::from_u128(204)
        ]
    );

    let p1 = store
        .sessions(
            p,
            &SessionQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cursor = spyglass_model::query::decode_session_cursor(&p1.next_cursor.unwrap()).unwrap();
    let p2 = store
        .sessions(
            p,
            &SessionQuery {
                limit: 1,
                cursor: Some(cursor),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.items[0].session_id, "chat-a");
    assert!(p2.next_cursor.is_none());
    let by_user = store
        .sessions(
            p,
            &SessionQuery {
                user: Some("nobody".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(by_user.items.is_empty());
}

pub async fn facets_count_values(store: &dyn Store) {
    let p = "conf-facets";
    seed_filter_traces(store, p).await;
    let f = store.facets(p, None, None).await.unwrap();
    let get = |v: &[spyglass_model::FacetValue], k: &str| {
        v.iter().find(|x| x.value == k).map(|x| x.count)
    };
    assert_eq!(get(&f.services, "api"), Some(3));
    assert_eq!(get(&f.agents, "planner"), Some(3));
    assert_eq!(get(&f.models, "gpt-4o"), Some(5));
    assert_eq!(f.models[0].value, "gpt-4o", "most frequent first");
    assert_eq!(get(&f.users, "user-0"), Some(3));
    assert_eq!(get(&f.kinds, "llm"), Some(6));
    assert_eq!(get(&f.environments, "staging"), Some(1));
    let windowed = store.facets(p, Some(T0 + 5500 * MS), None).await.unwrap();
    assert_eq!(get(&windowed.agents, "coder"), Some(1));
}

pub async fn linked_traces_found(store: &dyn Store) {
    let p = "conf-links";
    write(store, vec![span(p, 300, 1, None, 0, 10)]).await;
    let mut child = span(p, 301, 1, None, 5, 10);
    child.links = vec![Link {
        trace_id: TraceId::from_u128(300),
        span_id: SpanId::from_u64(1),
        attributes: JsonText::empty_object(),
    }];
    let mut child2 = span(p, 302, 1, None, 6, 10);
    child2.links = child.links.clone();
    write(store, vec![child, child2]).await;
    assert_eq!(
        store
            .linked_traces(p, TraceId::from_u128(300))
            .await
            .unwrap(),
        vec![TraceId::from_u128(301), TraceId::from_u128(302)]
    );
    assert!(
        store
            .linked_traces(p, TraceId::from_u128(301))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn missing_things_are_none(store: &dyn Store) {
    let p = "conf-missing";
    write(store, vec![span(p, 400, 1, None, 0, 10)]).await;
    assert!(
        store
            .trace(p, TraceId::from_u128(401))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .trace_outline(p, TraceId::from_u128(401))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .span(p, TraceId::from_u128(400), SpanId::from_u64(2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session(p, "nope").await.unwrap().is_none());
    store.ping().await.unwrap();
    assert!(store.stats().await.unwrap().span_rows >= 1);
}

pub async fn large_batches_and_many_traces(store: &dyn Store) {
    let p = "conf-large";
    // 20 writes of 1,000 traces x 5 spans, in interleaved order.
    let mut futures = Vec::new();
    for w in 0..20u128 {
        let mut spans = Vec::with_capacity(5000);
        for t in 0..1000u128 {
            let trace = 10_000 + w * 1000 + t;
            for s in 1..=5u64 {
                spans.push(span(
                    p,
                    trace,
                    s,
                    if s == 1 { None } else { Some(1) },
                    (w * 1000 + t) as i64,
                    5,
                ));
            }
        }
        futures.push(store.write(Arc::new(spans.into())));
    }
    for r in futures::future::join_all(futures).await {
        r.unwrap();
    }
    let page = store
        .traces(p, &TraceQuery { limit: 1000, ..q() })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1000);
    assert!(page.items.iter().all(|t| t.span_count == 5));
    let (_, spans) = store
        .trace(p, TraceId::from_u128(10_000 + 19_999))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spans.len(), 5);
}

fn finding(
    s: &Span,
    category: Category,
    detector: &'static str,
    severity: Severity,
) -> SpanFinding {
    SpanFinding::on(
        s,
        Finding {
            category,
            detector: detector.into(),
            severity,
            score: 0.9,
            field: Field::Input,
            key: None,
            start: 3,
            end: 10,
            evidence: format!("{detector} on {}", s.received_ns),
            vector: None,
            encoding: None,
        },
    )
}

/// Findings are stored with their batch, listed newest first with every filter and paging,
/// counted once however many versions of their span arrive, and kept per project.
pub async fn findings_filter_page_and_count(store: &dyn Store) {
    let p = "findings";
    let mut a = span(p, 1, 1, None, 0, 50);
    a.agent_name = Some("planner".into());
    let mut b = span(p, 1, 2, Some(1), 10, 5);
    b.agent_name = Some("coder".into());
    let c = span(p, 2, 1, None, 100, 5);
    let findings = vec![
        finding(
            &a,
            Category::Secret,
            "secret.openai_api_key",
            Severity::Critical,
        ),
        finding(&a, Category::Pii, "pii.email", Severity::Medium),
        finding(
            &b,
            Category::PromptInjection,
            "injection.override",
            Severity::High,
        ),
        finding(&c, Category::Loop, "loop.tool_repeat", Severity::Medium),
    ];
    let batch = Batch {
        spans: vec![a.clone(), b.clone(), c.clone()],
        findings,
    };
    store.write(Arc::new(batch)).await.expect("write");
    // A later version of span a, found again: still one finding each, from the latest version.
    let mut a2 = a.clone();
    a2.received_ns += 1000;
    let again = vec![
        finding(
            &a2,
            Category::Secret,
            "secret.openai_api_key",
            Severity::Critical,
        ),
        finding(&a2, Category::Pii, "pii.email", Severity::Medium),
    ];
    store
        .write(Arc::new(Batch {
            spans: vec![a2.clone()],
            findings: again,
        }))
        .await
        .expect("write");

    let get = |q: FindingQuery| async move { store.findings(p, &q).await.expect("findings") };
    let all = get(FindingQuery::default()).await;
    let detectors: Vec<&str> = all.items.iter().map(|f| &*f.finding.detector).collect();
    assert_eq!(all.items.len(), 4, "{detectors:?}");
    assert_eq!(detectors[0], "loop.tool_repeat", "newest first");
    assert_eq!(detectors[1], "injection.override");
    let secret = all
        .items
        .iter()
        .find(|f| f.finding.category == Category::Secret)
        .unwrap();
    assert_eq!(
        secret.received_ns, a2.received_ns,
        "the latest version's row"
    );
    assert_eq!(
        secret.finding.evidence,
        format!("secret.openai_api_key on {}", a2.received_ns)
    );
    assert_eq!(secret.agent_name.as_deref(), Some("planner"));
    assert_eq!((secret.trace_id, secret.span_id), (a.trace_id, a.span_id));
    assert_eq!(secret.finding.severity, Severity::Critical);
    assert_eq!((secret.finding.start, secret.finding.end), (3, 10));

    let n = |q: FindingQuery| async move { get(q).await.items.len() };
    assert_eq!(
        n(FindingQuery {
            min_severity: Some(Severity::High),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(FindingQuery {
            severities: vec![Severity::Medium],
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(FindingQuery {
            categories: vec![Category::Pii, Category::Loop],
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        n(FindingQuery {
            detector: Some("secret.".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(FindingQuery {
            detector: Some("pii.email".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(FindingQuery {
            detector: Some("pii".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        n(FindingQuery {
            agent: Some("coder".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(FindingQuery {
            trace_id: Some(TraceId::from_u128(2)),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        n(FindingQuery {
            from_ns: Some(T0 + 5 * MS),
            to_ns: Some(T0 + 50 * MS),
            ..Default::default()
        })
        .await,
        1
    );

    // Pages of 3 then 1, no repeats, same order as the whole list.
    let first = get(FindingQuery {
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(first.items.len(), 3);
    let cursor =
        spyglass_model::query::decode_finding_cursor(first.next_cursor.as_deref().unwrap());
    let second = get(FindingQuery {
        limit: 3,
        cursor,
        ..Default::default()
    })
    .await;
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
    let paged: Vec<u64> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|f| f.id)
        .collect();
    assert_eq!(paged, all.items.iter().map(|f| f.id).collect::<Vec<_>>());

    let counts = store.finding_counts(p, None, None).await.expect("counts");
    assert_eq!((counts.total, counts.traces), (4, 2));
    let count_of = |v: &[spyglass_model::FacetValue], k: &str| {
        v.iter().find(|x| x.value == k).map_or(0, |x| x.count)
    };
    assert_eq!(count_of(&counts.by_severity, "medium"), 2);
    assert_eq!(count_of(&counts.by_severity, "critical"), 1);
    assert_eq!(count_of(&counts.by_category, "prompt_injection"), 1);
    assert_eq!(count_of(&counts.by_detector, "pii.email"), 1);
    assert_eq!(count_of(&counts.by_agent, "planner"), 2);
    let later = store
        .finding_counts(p, Some(T0 + 50 * MS), None)
        .await
        .expect("counts");
    assert_eq!((later.total, later.traces), (1, 1));

    // Another project sees nothing.
    assert!(
        store
            .findings("someone-else", &FindingQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        store
            .finding_counts("someone-else", None, None)
            .await
            .unwrap()
            .total,
        0
    );
}
