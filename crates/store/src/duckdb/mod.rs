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

use crate::{Batch, Result, Store, StoreError, StoreStats};
use async_trait::async_trait;
use duckdb::{Config, Connection};
use serde::{Deserialize, Serialize};
use spyglass_model::query::{FindingCounts, FindingQuery, Page, SessionQuery, TraceQuery};
use spyglass_model::{
    Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, TraceId, TraceSummary,
};
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
    /// A group commit smaller than `group_commit_target_spans` waits up to this long for more
    /// spans: fewer, larger commits cost much less CPU per span under load, at the price of
    /// this much acknowledgement latency.
    pub group_commit_linger_ms: u64,
    pub group_commit_target_spans: usize,
    /// Span contributions kept in memory to keep trace summaries exact (shared by the writers).
    pub summary_cache_spans: usize,
    /// Writer threads; traces are partitioned among them. DuckDB serializes appends to a table,
    /// so on the 2-core machines measured one writer with larger group commits did best.
    pub writers: usize,
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
            group_commit_linger_ms: 5,
            group_commit_target_spans: 10_000,
            summary_cache_spans: 500_000,
            writers: 1,
            checkpoint_threshold: "256MB".into(),
        }
    }
}

pub const DB_FILE: &str = "spyglass.duckdb";

pub struct DuckDbStore {
    writers: Mutex<Vec<Sender<writer::Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
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
        let count = cfg.writers.max(1);
        let shared = writer::Shared::open(&base)?;
        let mut writers = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let w = writer::Writer::new(
                base.try_clone()?,
                writer::Partition { index, count },
                cfg,
                metrics.clone(),
                shared.clone(),
            )?;
            let (tx, rx) = std::sync::mpsc::channel();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("spyglass-writer-{index}"))
                    .spawn(move || w.run(rx))?,
            );
            writers.push(tx);
        }
        let readers = (0..cfg.readers.max(1))
            .map(|_| base.try_clone())
            .collect::<duckdb::Result<Vec<_>>>()?;
        Ok(DuckDbStore {
            writers: Mutex::new(writers),
            threads: Mutex::new(threads),
            readers: Arc::new(Mutex::new(readers)),
            base: Mutex::new(base),
            dir: dir.to_path_buf(),
            metrics,
        })
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Stops the writers after they have committed everything queued, then checkpoints.
    pub fn close(&self) {
        self.writers.lock().expect("writers lock").clear();
        for t in self.threads.lock().expect("threads lock").drain(..) {
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
    async fn write(&self, batch: Arc<Batch>) -> Result<()> {
        if batch.spans.is_empty() {
            return Ok(());
        }
        // Every writer whose partition has spans in the request gets the same batch (it skips
        // the others' spans); the request is durable when all of them have committed.
        let mut acks = Vec::new();
        {
            let writers = self.writers.lock().expect("writers lock");
            if writers.is_empty() {
                return Err(StoreError::Closed);
            }
            let count = writers.len();
            let mut involved = vec![false; count];
            for s in batch.spans.iter() {
                involved[writer::Partition::of(s.trace_id, count)] = true;
            }
            for (tx, _) in writers.iter().zip(&involved).filter(|(_, inv)| **inv) {
                let (ack, done) = tokio::sync::oneshot::channel();
                tx.send(writer::Job {
                    batch: batch.clone(),
                    ack,
                })
                .map_err(|_| StoreError::Closed)?;
                self.metrics.queue_depth.inc();
                acks.push(done);
            }
        }
        for done in acks {
            done.await.map_err(|_| StoreError::Closed)??;
        }
        Ok(())
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

    async fn findings(&self, project: &str, q: &FindingQuery) -> Result<Page<SpanFinding>> {
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| read::findings(c, &project, &q)).await
    }

    async fn finding_counts(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<FindingCounts> {
        let project = project.to_string();
        self.read(move |c| read::finding_counts(c, &project, from_ns, to_ns))
            .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let dir = self.dir.clone();
        self.read(move |c| {
            let span_rows: i64 = c.query_row("SELECT count(*) FROM spans", [], |r| r.get(0))?;
            let trace_count: i64 = c.query_row(
                "SELECT count(DISTINCT (project_id, trace_id)) FROM trace_summaries",
                [],
                |r| r.get(0),
            )?;
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
