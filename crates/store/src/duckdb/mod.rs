//! The embedded store: one DuckDB file in the data directory. One writer thread owns the write
//! connection (group commit, see `writer`); queries run on a small pool of read connections
//! in blocking threads, and see only committed data.

mod arrow;
mod cache;
mod metrics;
mod read;
mod schema;
mod writer;

pub use metrics::StoreMetrics;

/// How many schema migrations this binary knows.
pub const MIGRATION_COUNT: usize = schema::MIGRATIONS.len();

use crate::{Result, Store, StoreError, StoreStats};
use async_trait::async_trait;
use duckdb::{Config, Connection};
use serde::{Deserialize, Serialize};
use spyglass_model::query::{Page, SessionQuery, TraceQuery};
use spyglass_model::{Facets, SessionDetail, SessionSummary, Span, SpanId, TraceId, TraceSummary};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// Settings of the embedded store (the `[store.duckdb]` table of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DuckDbConfig {
    /// DuckDB's memory limit, e.g. "2GB".
    pub memory_limit: String,
    /// DuckDB worker threads; 0 means one per core.
    pub threads: usize,
    /// Read connections for queries.
    pub readers: usize,
    /// Most spans committed in one group commit.
    pub max_batch_spans: usize,
    /// Span contributions kept in memory to keep trace summaries exact.
    pub summary_cache_spans: usize,
    /// WAL size that triggers a checkpoint into the database file.
    pub checkpoint_threshold: String,
}

impl Default for DuckDbConfig {
    fn default() -> Self {
        DuckDbConfig {
            memory_limit: "2GB".into(),
            threads: 0,
            readers: 4,
            max_batch_spans: 50_000,
            summary_cache_spans: 500_000,
            checkpoint_threshold: "256MB".into(),
        }
    }
}

pub const DB_FILE: &str = "spyglass.duckdb";

pub struct DuckDbStore {
    writer: Mutex<Option<Sender<writer::Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    base: Mutex<Connection>,
    dir: PathBuf,
    metrics: Arc<StoreMetrics>,
}

impl DuckDbStore {
    /// Opens (creating if needed) the store in `dir`, applying schema migrations. Replays the
    /// WAL of a crash, so every acknowledged span is back.
    pub fn open(dir: &Path, cfg: &DuckDbConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let mut config = Config::default()
            .max_memory(&cfg.memory_limit)?
            .with("checkpoint_threshold", &cfg.checkpoint_threshold)?;
        if cfg.threads > 0 {
            config = config.threads(cfg.threads as i64)?;
        }
        let base = Connection::open_with_flags(&path, config)?;
        // The server's own analytics never need DuckDB's telemetry or extension downloads.
        base.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )?;
        let version = schema::migrate(&base)?;
        tracing::info!(path = %path.display(), schema_version = version, "opened DuckDB store");

        let metrics = Arc::new(StoreMetrics::default());
        let w = writer::Writer::new(
            base.try_clone()?,
            cfg.summary_cache_spans,
            cfg.max_batch_spans,
            metrics.clone(),
        )?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("spyglass-writer".into())
            .spawn(move || w.run(rx))?;
        let readers = (0..cfg.readers.max(1))
            .map(|_| base.try_clone())
            .collect::<duckdb::Result<Vec<_>>>()?;
        Ok(DuckDbStore {
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            readers: Arc::new(Mutex::new(readers)),
            base: Mutex::new(base),
            dir: dir.to_path_buf(),
            metrics,
        })
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Stops the writer after it has committed everything queued, then checkpoints.
    pub fn close(&self) {
        self.writer.lock().expect("writer lock").take();
        if let Some(t) = self.thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }

    /// Runs `f` on a read connection in a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = {
            let mut pool = self.readers.lock().expect("reader pool");
            match pool.pop() {
                Some(c) => c,
                None => self.base.lock().expect("base connection").try_clone()?,
            }
        };
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let out = f(&conn);
            pool.lock().expect("reader pool").push(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Database(format!("query task failed: {e}")))?
    }
}

impl Drop for DuckDbStore {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl Store for DuckDbStore {
    async fn write(&self, spans: Arc<Vec<Span>>) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let (ack, done) = tokio::sync::oneshot::channel();
        {
            let guard = self.writer.lock().expect("writer lock");
            let tx = guard.as_ref().ok_or(StoreError::Closed)?;
            tx.send(writer::Job { spans, ack })
                .map_err(|_| StoreError::Closed)?;
            self.metrics.queue_depth.inc();
        }
        done.await.map_err(|_| StoreError::Closed)?
    }

    async fn trace(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<Span>)>> {
        let project = project.to_string();
        self.read(move |c| read::trace(c, &project, trace_id, true))
            .await
    }

    async fn span(
        &self,
        project: &str,
        trace_id: TraceId,
        span_id: SpanId,
    ) -> Result<Option<Span>> {
        let project = project.to_string();
        self.read(move |c| read::span(c, &project, trace_id, span_id))
            .await
    }

    async fn traces(&self, project: &str, q: &TraceQuery) -> Result<Page<TraceSummary>> {
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| read::traces(c, &project, &q)).await
    }

    async fn linked_traces(&self, project: &str, trace_id: TraceId) -> Result<Vec<TraceId>> {
        let project = project.to_string();
        self.read(move |c| read::linked_traces(c, &project, trace_id))
            .await
    }

    async fn sessions(&self, project: &str, q: &SessionQuery) -> Result<Page<SessionSummary>> {
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| read::sessions(c, &project, &q)).await
    }

    async fn session(&self, project: &str, session_id: &str) -> Result<Option<SessionDetail>> {
        let (project, id) = (project.to_string(), session_id.to_string());
        self.read(move |c| read::session(c, &project, &id)).await
    }

    async fn facets(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Facets> {
        let project = project.to_string();
        self.read(move |c| read::facets(c, &project, from_ns, to_ns))
            .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let dir = self.dir.clone();
        self.read(move |c| {
            let span_rows: i64 = c.query_row("SELECT count(*) FROM spans", [], |r| r.get(0))?;
            let trace_count: i64 =
                c.query_row("SELECT count(*) FROM trace_summaries", [], |r| r.get(0))?;
            let mut disk_bytes = 0;
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(DB_FILE) {
                    disk_bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
            Ok(StoreStats {
                span_rows,
                trace_count,
                disk_bytes,
            })
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?;
            Ok(())
        })
        .await
    }
}
