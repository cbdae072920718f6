//! The DuckDB backend: the shared conformance suite, plus what only an embedded file store
//! has to show (reopening, and summaries that stay exact across restarts and cache eviction).

use spyglass_model::{SpanId, TraceId};
use spyglass_store::conformance::span;
use spyglass_store::duckdb::{DuckDbConfig, DuckDbStore};
use spyglass_store::{Batch, Store, store_conformance_tests};
use std::sync::Arc;

fn config() -> DuckDbConfig {
    DuckDbConfig {
        memory_limit: "512MB".into(),
        threads: 2,
        ..Default::default()
    }
}

store_conformance_tests!({
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &config()).unwrap();
    (Arc::new(store) as Arc<dyn Store>, dir)
});

/// The same suite with traces partitioned across three writers.
mod partitioned_writers {
    use super::*;

    store_conformance_tests!({
        let dir = tempfile::tempdir().unwrap();
        let store = DuckDbStore::open(
            dir.path(),
            &DuckDbConfig {
                writers: 3,
                ..config()
            },
        )
        .unwrap();
        (Arc::new(store) as Arc<dyn Store>, dir)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_spans_and_exact_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let p = "reopen";
    {
        let store = DuckDbStore::open(dir.path(), &config()).unwrap();
        store
            .write(Arc::new(Batch::from(vec![
                span(p, 1, 1, None, 0, 100),
                span(p, 1, 2, Some(1), 1, 5),
            ])))
            .await
            .unwrap();
        store.close();
    }
    let store = DuckDbStore::open(dir.path(), &config()).unwrap();
    // A new span and a re-delivered old one for the same trace after the restart: the summary
    // must know the spans written before (through the bloom filter and a reload).
    store
        .write(Arc::new(Batch::from(vec![
            span(p, 1, 3, Some(1), 2, 5),
            span(p, 1, 2, Some(1), 1, 5),
        ])))
        .await
        .unwrap();
    let (s, spans) = store
        .trace(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(s.span_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_traces_reload_their_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(
        dir.path(),
        &DuckDbConfig {
            summary_cache_spans: 10,
            ..config()
        },
    )
    .unwrap();
    let p = "evict";
    for t in 1..=20u128 {
        store
            .write(Arc::new(Batch::from(vec![
                span(p, t, 1, None, t as i64, 100),
                span(p, t, 2, Some(1), t as i64, 1),
            ])))
            .await
            .unwrap();
    }
    // Trace 1 was evicted long ago; a third span must add to its two, not start over.
    store
        .write(Arc::new(Batch::from(vec![span(p, 1, 3, Some(1), 2, 1)])))
        .await
        .unwrap();
    let (s, _) = store
        .trace(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.span_count, 3);
    assert!(
        store
            .span(p, TraceId::from_u128(1), SpanId::from_u64(3))
            .await
            .unwrap()
            .is_some()
    );
}

/// Cost recomputation with a cache too small to hold the traces: their states are loaded from
/// storage (before the update, with the old costs the rollups hold) instead of patched in
/// memory, and the rollups still come out exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_costs_of_evicted_traces() {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(
        dir.path(),
        &DuckDbConfig {
            summary_cache_spans: 1,
            ..config()
        },
    )
    .unwrap();
    spyglass_store::conformance::recompute_costs_updates_summaries_and_rollups(&store).await;
}

/// The same after a restart, with nothing cached and writes queued behind the recomputation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_costs_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let p = "reprice-reopen";
    let mut s = spyglass_store::conformance::span(p, 1, 1, None, 0, 100);
    s.kind = spyglass_model::SpanKind::Llm;
    s.request_model = Some("m".into());
    s.tokens.input = Some(1_000);
    s.cost_source = Some(spyglass_model::CostSource::Unpriced);
    {
        let store = DuckDbStore::open(dir.path(), &config()).unwrap();
        store
            .write(Arc::new(Batch::from(vec![s.clone()])))
            .await
            .unwrap();
        store.close();
    }
    let store = Arc::new(DuckDbStore::open(dir.path(), &config()).unwrap());
    let price: spyglass_store::PriceFn = Arc::new(|spans: &mut [spyglass_model::Span]| {
        for s in spans {
            s.cost_usd = s.tokens.input.map(|i| i as f64 * 1e-6);
            s.cost_source = Some(spyglass_model::CostSource::Computed);
        }
    });
    let mut sibling = spyglass_store::conformance::span(p, 1, 2, None, 5, 10);
    sibling.received_ns += 1;
    let (report, written) = tokio::join!(
        store.recompute_costs(p, s.start_ns, s.start_ns + 1, price),
        store.write(Arc::new(Batch::from(vec![sibling])))
    );
    written.unwrap();
    assert_eq!(report.unwrap().spans_changed, 1);
    let (summary, spans) = store
        .trace(p, TraceId::from_u128(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.span_count, summary.cost_usd), (2, Some(0.001)));
    assert_eq!(
        spans[0].cost_source,
        Some(spyglass_model::CostSource::Computed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(DuckDbStore::open(dir.path(), &config()).unwrap());
    drop(DuckDbStore::open(dir.path(), &config()).unwrap());
    let conn = duckdb::Connection::open(dir.path().join(spyglass_store::duckdb::DB_FILE)).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, spyglass_store::duckdb::MIGRATION_COUNT);
}

/// The writer commits spans, links and summaries as one transaction by appending inside an
/// explicit BEGIN/COMMIT; this pins the DuckDB behaviour that relies on.
#[test]
fn appends_join_the_open_transaction() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    conn.execute_batch("BEGIN TRANSACTION").unwrap();
    {
        let mut a = conn.appender("t").unwrap();
        a.append_row([1]).unwrap();
        a.flush().unwrap();
    }
    conn.execute_batch("ROLLBACK").unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

/// Recomputing costs writes the new figures into a temporary table through an appender and
/// updates the spans by row id in the open transaction; this pins the DuckDB behaviour that
/// relies on (a temp table reachable by the appender, rowid joins in UPDATE ... FROM).
#[test]
fn updates_by_row_id_from_an_appended_temp_table() {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (k INTEGER, cost DOUBLE, src UTINYINT)")
        .unwrap();
    conn.execute_batch("INSERT INTO t VALUES (1, NULL, 2), (2, 0.5, 1), (3, NULL, 2)")
        .unwrap();
    conn.execute_batch("BEGIN TRANSACTION").unwrap();
    let rid: i64 = conn
        .query_row("SELECT rowid FROM t WHERE k = 3", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(
        "CREATE TEMP TABLE new_costs (rid BIGINT NOT NULL, cost DOUBLE, src UTINYINT)",
    )
    .unwrap();
    {
        let mut a = conn
            .appender_to_catalog_and_db("new_costs", "temp", "main")
            .unwrap();
        a.append_row(duckdb::params![rid, 0.1 + 0.2, 1u8]).unwrap();
        a.flush().unwrap();
    }
    let n = conn
        .execute(
            "UPDATE t SET cost = n.cost, src = n.src FROM new_costs n WHERE t.rowid = n.rid",
            [],
        )
        .unwrap();
    conn.execute_batch("DROP TABLE new_costs; COMMIT").unwrap();
    assert_eq!(n, 1);
    let (cost, src): (f64, u8) = conn
        .query_row("SELECT cost, src FROM t WHERE k = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((cost, src), (0.1 + 0.2, 1), "bit-exact");
    let untouched: Option<f64> = conn
        .query_row("SELECT cost FROM t WHERE k = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(untouched, None);
}

/// Agent versions after a restart: a trace's state is rebuilt from storage (by the next write
/// to it, or by a cost recomputation, which reads fewer columns) and must give the same runs,
/// system prompts included, so that a late span moves its run instead of counting a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_versions_stay_exact_when_trace_states_are_reloaded() {
    use spyglass_model::{Span, SpanKind};
    let dir = tempfile::tempdir().unwrap();
    let p = "versions-reload";
    // Each trace at its own time, so the recomputation below reprices trace 1 alone.
    let at = |trace: u128| trace as i64 * 100;
    let tool = |trace: u128, id: u64, name: &str| {
        let mut s = span(p, trace, id, Some(1), at(trace) + 2, 1);
        s.kind = SpanKind::Tool;
        s.tool_name = Some(name.into());
        s
    };
    let run = |trace: u128| -> Vec<Span> {
        let mut agent = span(p, trace, 1, None, at(trace), 10);
        agent.kind = SpanKind::Agent;
        agent.agent_name = Some("coder".into());
        let mut chat = span(p, trace, 2, Some(1), at(trace) + 1, 1);
        chat.kind = SpanKind::Llm;
        chat.request_model = Some("gpt-4o".into());
        chat.tokens.input = Some(1_000);
        chat.input = Some(r#"[{"role":"system","content":"You code."}]"#.into());
        vec![tool(trace, 3, "read_file"), chat, agent]
    };
    let llm_start = run(1)[1].start_ns;
    {
        let store = DuckDbStore::open(dir.path(), &config()).unwrap();
        for t in [1, 2] {
            store.write(Arc::new(Batch::from(run(t)))).await.unwrap();
        }
        let v = store.agent_versions(p, "coder").await.unwrap();
        assert_eq!((v.len(), v[0].runs), (1, 2));
        store.close();
    }
    let store = DuckDbStore::open(dir.path(), &config()).unwrap();
    // Trace 1's state comes back through the recomputation, trace 2's through the write.
    let price: spyglass_store::PriceFn = Arc::new(|spans: &mut [Span]| {
        for s in spans {
            s.cost_usd = Some(0.5);
        }
    });
    let report = store
        .recompute_costs(p, llm_start, llm_start + 1, price)
        .await
        .unwrap();
    assert_eq!(report.traces_touched, 1);
    store
        .write(Arc::new(Batch::from(vec![
            tool(1, 4, "write_file"),
            tool(2, 4, "write_file"),
        ])))
        .await
        .unwrap();
    let v = store.agent_versions(p, "coder").await.unwrap();
    assert_eq!(v.len(), 1, "both runs moved: {v:#?}");
    assert_eq!(v[0].tools, vec!["read_file", "write_file"]);
    assert_eq!(v[0].runs, 2);
    assert!(v[0].system_prompt_hash.is_some());
}
