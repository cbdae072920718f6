//! The ClickHouse backend: the shared conformance suite, against a real ClickHouse engine.
//!
//! `SPYGLASS_TEST_CLICKHOUSE_URL` (e.g. `http://default:@127.0.0.1:8123`) points the tests at a
//! real server. Otherwise they start tests/chdb_server.py (ClickHouse's engine in-process
//! through chDB, behind the subset of the HTTP interface the `clickhouse` crate speaks) with
//! `SPYGLASS_TEST_PYTHON` (default: the black-box test venv, else `python3`). Without either,
//! the tests say so and pass, unless `SPYGLASS_REQUIRE_CLICKHOUSE=1` (CI), where they fail.
//! Every test gets its own database.

use spyglass_store::clickhouse::{ClickHouseConfig, ClickHouseStore};
use spyglass_store::{RetentionConfig, Store, store_conformance_tests};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The test server, started once per test binary; it exits with this process.
struct Server {
    url: String,
    _child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

fn python() -> String {
    if let Ok(p) = std::env::var("SPYGLASS_TEST_PYTHON") {
        return p;
    }
    let venv = std::path::Path::new(&std::env::var("HOME").unwrap_or_default())
        .join(".cache/spyglass-test-venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("SPYGLASS_TEST_CLICKHOUSE_URL") {
        return Ok(Server {
            url,
            _child: None,
            _dir: None,
        });
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/chdb_server.py");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = Command::new(python())
        .arg(script)
        .args(["--port", "0", "--exit-with-parent", "--data"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {script} with {}: {e}", python()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port = line
        .strip_prefix("LISTENING ")
        .map(str::trim)
        .ok_or_else(|| {
            format!(
                "the chDB test server did not start (is chdb installed for {}?)",
                python()
            )
        })?;
    Ok(Server {
        url: format!("http://127.0.0.1:{port}"),
        _child: Some(child),
        _dir: Some(dir),
    })
}

fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Mutex<Result<Server, String>>> = OnceLock::new();
    let s = SERVER.get_or_init(|| Mutex::new(start()));
    let guard = s.lock().unwrap();
    match &*guard {
        Ok(s) => Some(Box::leak(s.url.clone().into_boxed_str())),
        Err(e) => {
            if std::env::var("SPYGLASS_REQUIRE_CLICKHOUSE").as_deref() == Ok("1") {
                panic!("ClickHouse is required (SPYGLASS_REQUIRE_CLICKHOUSE=1): {e}");
            }
            eprintln!("skipped: no ClickHouse ({e})");
            None
        }
    }
}

/// A store on a fresh database of the shared server.
async fn store() -> Option<Arc<dyn Store>> {
    static N: AtomicU64 = AtomicU64::new(0);
    let url = server()?;
    let db = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let cfg = ClickHouseConfig {
        url: url.to_string(),
        database: db,
        ..Default::default()
    };
    // Rows carry their project's retention as a TTL; the suite's data is from 2025.
    let keep_all = RetentionConfig {
        days: 0,
        ..Default::default()
    };
    let store = ClickHouseStore::open(&cfg, keep_all)
        .await
        .expect("open the ClickHouse store");
    Some(Arc::new(store))
}

store_conformance_tests!(match store().await {
    Some(s) => (s, ()),
    None => return,
});

/// Real trace ids use all 128 bits: a literal above `u64::MAX` must not turn into a float
/// anywhere (the suite's ids are small).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_width_trace_ids_are_found() {
    use spyglass_model::{SpanId, TraceId};
    use spyglass_store::Batch;
    let Some(store) = store().await else { return };
    let p = "wide";
    let id = 0xfedc_ba98_7654_3210_0123_4567_89ab_cdefu128;
    let mut root = spyglass_store::conformance::span(p, id, 1, None, 0, 100);
    root.trace_id = TraceId::from_u128(id);
    let mut child = spyglass_store::conformance::span(p, id, 2, Some(1), 10, 20);
    child.trace_id = TraceId::from_u128(id);
    store
        .write(Arc::new(Batch::from(vec![root.clone(), child.clone()])))
        .await
        .unwrap();
    // A retry of the child: still one span, and the summary counts it once.
    child.received_ns += 1;
    store
        .write(Arc::new(Batch::from(vec![child])))
        .await
        .unwrap();
    let (summary, spans) = store
        .trace(p, TraceId::from_u128(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(summary.span_count, 2);
    assert!(
        store
            .span(p, TraceId::from_u128(id), SpanId::from_u64(2))
            .await
            .unwrap()
            .is_some()
    );
    let page = store.traces(p, &Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].trace_id, TraceId::from_u128(id));
}

/// A queue entry delivered twice (its acknowledgement lost) is stored once; the same spans
/// written again later under another key (re-sent after a deletion) are stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_entry_is_stored_once() {
    use spyglass_model::TraceId;
    use spyglass_model::audit::DeleteTarget;
    use spyglass_store::Batch;
    let Some(store) = store().await else { return };
    let p = "redelivery";
    let batch = Arc::new(Batch::from(vec![
        spyglass_store::conformance::span(p, 9, 1, None, 0, 100),
        spyglass_store::conformance::span(p, 9, 2, Some(1), 10, 20),
    ]));
    store.write_once(batch.clone(), "3:1-0").await.unwrap();
    store.write_once(batch.clone(), "3:1-0").await.unwrap();
    let count = |store: Arc<dyn Store>| async move {
        let (summary, spans) = store
            .trace(p, TraceId::from_u128(9))
            .await
            .unwrap()
            .unwrap();
        // The rollups: spans counted over the suite's hour.
        let t0 = spyglass_store::conformance::span(p, 9, 1, None, 0, 1).start_ns;
        let q = spyglass_model::analytics::TimeseriesQuery {
            metric: spyglass_model::analytics::Metric::Count,
            group_by: None,
            interval_s: 3600,
            from_ns: t0 - 3_600_000_000_000,
            to_ns: t0 + 3_600_000_000_000,
            filter: Default::default(),
            limit: 10,
        };
        let ts = store.timeseries(p, &q).await.unwrap();
        let rolled: f64 = ts.series.iter().filter_map(|s| s.total).sum();
        (summary.span_count, spans.len(), rolled)
    };
    let first = count(store.clone()).await;
    assert_eq!(first, (2, 2, 2.0));
    store
        .delete(p, &DeleteTarget::Trace(TraceId::from_u128(9)))
        .await
        .unwrap();
    assert!(
        store
            .trace(p, TraceId::from_u128(9))
            .await
            .unwrap()
            .is_none()
    );
    store.write_once(batch, "3:2-0").await.unwrap();
    assert_eq!(count(store.clone()).await, first);
}
