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
