//! The embedded store: one DuckDB file in the data directory. One writer thread owns the write
//! connection (group commit, see `writer`); queries run on a small pool of read connections
//! in blocking threads, and see only committed data.

mod alerts;
pub mod archive;
mod arrow;
mod auth;
mod cache;
mod deletion;
mod guardrails;
mod metrics;
mod outline;
mod prices;
mod read;
mod recompute;
mod retention;
mod rollups;
mod schema;
mod topology;
mod versions;
mod writer;

pub use metrics::StoreMetrics;

/// How many schema migrations this binary knows.
pub const MIGRATION_COUNT: usize = schema::MIGRATIONS.len();

use crate::analytics;
use crate::{Batch, PriceFn, RecomputeReport, Result, Store, StoreError, StoreStats};
use async_trait::async_trait;
use duckdb::{Config, Connection};
use serde::{Deserialize, Serialize};
use spyglass_model::alert::{AlertEvent, AlertRule};
use spyglass_model::analytics::{
    GroupBy, Metric, Timeseries, TimeseriesQuery, TopEntry, TopKind, TopQuery, Usage, UsageBy,
    UsageQuery,
};
use spyglass_model::query::{FindingCounts, FindingQuery, Page, SessionQuery, TraceQuery};
use spyglass_model::{
    Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, SpanOutline, TraceId,
    TraceSummary,
};
use std::collections::HashSet;
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
    /// A query running longer is interrupted and answered as a timeout (504 from the API).
    /// Exports are not bounded by it.
    pub query_timeout_ms: u64,
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
            query_timeout_ms: 30_000,
        }
    }
}

pub const DB_FILE: &str = "spyglass.duckdb";

/// Runs `f` in a transaction: committed when it succeeds, rolled back when it fails.
pub(crate) fn in_transaction<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    match f() {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Cost recomputation works through its range in slices of about this many LLM and
/// embedding span versions, each slice one job per writer: a writer commits the spans queued
/// meanwhile between two slices, so ingest waits for one slice's re-pricing at most (well
/// under a second), never for the whole range.
const REPRICE_SLICE_SPANS: i64 = 20_000;

/// The open DuckDB instance. A write that fails in a checkpoint (a full disk) invalidates the
/// whole instance in DuckDB: every later query fails until it is reopened. The writers and
/// readers then reopen it here (once per failure), replaying the WAL, so nothing committed is
/// lost and the server recovers without a restart.
pub(crate) struct Db {
    path: PathBuf,
    cfg: DuckDbConfig,
    /// The generation (how often the instance was reopened) and a connection to it.
    current: Mutex<(u64, Connection)>,
    /// 0 from a commit that failed for want of disk until the next one that succeeds; the
    /// same gauge `/metrics` shows as `spyglass_store_writable`.
    writable: prometheus_client::metrics::gauge::Gauge,
}

impl Db {
    fn connect(path: &Path, cfg: &DuckDbConfig) -> Result<Connection> {
        let mut config = Config::default()
            .max_memory(&cfg.memory_limit)?
            .with("checkpoint_threshold", &cfg.checkpoint_threshold)?;
        if cfg.threads > 0 {
            config = config.threads(cfg.threads as i64)?;
        }
        let conn = Connection::open_with_flags(path, config)?;
        // The server's own analytics never need DuckDB's telemetry or extension downloads.
        conn.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )?;
        Ok(conn)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.current.lock().expect("db lock").0
    }

    /// A new connection to the current instance, with its generation.
    pub(crate) fn connection(&self) -> Result<(u64, Connection)> {
        let cur = self.current.lock().expect("db lock");
        Ok((cur.0, cur.1.try_clone()?))
    }

    /// Reopens the instance if it is still generation `seen` (the caller found it unusable);
    /// returns a connection to the current one.
    pub(crate) fn reopen(&self, seen: u64) -> Result<(u64, Connection)> {
        let mut cur = self.current.lock().expect("db lock");
        if cur.0 == seen {
            // The invalidated instance never checkpoints again (DuckDB skips it on close), so
            // opening the file anew while its last connections drain is safe.
            let started = std::time::Instant::now();
            let conn = Self::connect(&self.path, &self.cfg)?;
            *cur = (seen + 1, conn);
            tracing::warn!(
                generation = seen + 1,
                ms = started.elapsed().as_millis() as u64,
                "reopened the database after a failed write"
            );
        }
        Ok((cur.0, cur.1.try_clone()?))
    }

    pub(crate) fn set_writable(&self, ok: bool) {
        self.writable.set(i64::from(ok));
    }

    pub(crate) fn writable(&self) -> bool {
        self.writable.get() != 0
    }
}

/// Whether a connection still works (false once DuckDB invalidated its instance).
pub(crate) fn usable(conn: &Connection) -> bool {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))
        .is_ok()
}

/// Files and directories Spyglass keeps in its data directory besides the database.
fn is_ours(name: &str) -> bool {
    name.starts_with(DB_FILE)
        || name.starts_with(".spyglass")
        || matches!(name, "tmp" | "initial-admin-password" | "lost+found")
}

/// Refuses a data directory that holds something else (files, but no database of ours).
fn check_not_foreign(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(StoreError::DataDir {
                dir: dir.display().to_string(),
                message: "is a file, not a directory; point --data-dir at a directory".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if dir.join(DB_FILE).exists() {
        return Ok(());
    }
    let mut foreign: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_ours(n))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let more = if foreign.len() > 3 { ", ..." } else { "" };
    foreign.truncate(3);
    Err(StoreError::DataDir {
        dir: dir.display().to_string(),
        message: format!(
            "holds other files ({}{more}) and no {DB_FILE}: it does not look like a Spyglass data directory; point --data-dir at an empty or new directory",
            foreign.join(", ")
        ),
    })
}

pub struct DuckDbStore {
    writers: Mutex<Vec<Sender<writer::Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Idle read connections, each with the generation of the instance it belongs to.
    readers: Arc<Mutex<Vec<(u64, Connection)>>>,
    db: Arc<Db>,
    dir: PathBuf,
    metrics: Arc<StoreMetrics>,
    query_timeout: std::time::Duration,
}

impl DuckDbStore {
    /// Opens (creating if needed) the store in `dir`, applying schema migrations. Replays the
    /// WAL of a crash, so every acknowledged span is back. A directory that is not Spyglass's
    /// (corrupt, foreign, or written by a newer version) is refused unchanged with
    /// [`StoreError::DataDir`].
    pub fn open(dir: &Path, cfg: &DuckDbConfig) -> Result<Self> {
        check_not_foreign(dir)?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let data_dir_error = |message: String| StoreError::DataDir {
            dir: dir.display().to_string(),
            message,
        };
        let base = match Db::connect(&path, cfg) {
            Ok(c) => c,
            // Not a lock held by another process, nor a full disk: the file itself is bad.
            Err(e) if path.exists() && !e.is_disk_full() && !e.to_string().contains("lock") => {
                return Err(data_dir_error(format!(
                    "cannot open {DB_FILE} ({e}); it is corrupt or not a database: restore it from a backup or move it away"
                )));
            }
            Err(e) => return Err(e),
        };
        schema::inspect(&base).map_err(data_dir_error)?;
        let (was, version) = schema::migrate(&base)?;
        tracing::info!(path = %path.display(), schema_version = version, "opened DuckDB store");
        if was > 0 && was < 3 {
            let started = std::time::Instant::now();
            let rows = rollups::rebuild(&base)?;
            tracing::info!(
                rows,
                ms = started.elapsed().as_millis() as u64,
                "built rollups of the spans stored before this version"
            );
        }

        let metrics = Arc::new(StoreMetrics::default());
        let count = cfg.writers.max(1);
        let shared = writer::Shared::open(&base)?;
        let readers = (0..cfg.readers.max(1))
            .map(|_| base.try_clone().map(|c| (0, c)))
            .collect::<duckdb::Result<Vec<_>>>()?;
        let writer_conns = (0..count)
            .map(|_| base.try_clone())
            .collect::<duckdb::Result<Vec<_>>>()?;
        let db = Arc::new(Db {
            path,
            cfg: cfg.clone(),
            current: Mutex::new((0, base)),
            writable: metrics.writable.clone(),
        });
        db.set_writable(true);
        let mut writers = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for (index, conn) in writer_conns.into_iter().enumerate() {
            let w = writer::Writer::new(
                conn,
                db.clone(),
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
        Ok(DuckDbStore {
            writers: Mutex::new(writers),
            threads: Mutex::new(threads),
            readers: Arc::new(Mutex::new(readers)),
            db,
            dir: dir.to_path_buf(),
            metrics,
            query_timeout: std::time::Duration::from_millis(cfg.query_timeout_ms.max(1)),
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

    /// Runs `f` on a read connection in a blocking thread, interrupted after the query timeout.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_within(Some(self.query_timeout), f).await
    }

    /// Runs `f` on a read connection without a time limit (exports).
    async fn read_unbounded<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.read_within(None, f).await
    }

    async fn read_within<T: Send + 'static>(
        &self,
        limit: Option<std::time::Duration>,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let generation = self.db.generation();
        let pooled = {
            let mut pool = self.readers.lock().expect("reader pool");
            // Connections to an instance that was since reopened are dropped.
            pool.retain(|(g, _)| *g == generation);
            pool.pop()
        };
        let (generation, conn) = match pooled {
            Some(c) => c,
            None => self.db.connection()?,
        };
        let (pool, db) = (self.readers.clone(), self.db.clone());
        let interrupt = conn.interrupt_handle();
        let mut task = tokio::task::spawn_blocking(move || {
            let out = f(&conn);
            if out.is_err() && !usable(&conn) {
                // The instance was invalidated (a failed checkpoint): reopen it so reads and
                // writes work again; this connection is dropped.
                drop(conn);
                if let Err(e) = db.reopen(generation) {
                    tracing::warn!(error = %e, "reopening the database failed; will retry");
                }
            } else if db.generation() == generation {
                pool.lock().expect("reader pool").push((generation, conn));
            }
            out
        });
        let mut timed_out = false;
        let joined = match limit {
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    interrupt.interrupt();
                    timed_out = true;
                    task.await
                }
            },
            None => task.await,
        };
        let out = joined.map_err(|e| StoreError::Database(format!("query task failed: {e}")))?;
        match out {
            Err(_) if timed_out => Err(StoreError::Timeout(
                limit.map_or(0, |l| l.as_millis() as u64),
            )),
            out => out,
        }
    }
}

impl DuckDbStore {
    /// Runs `task(index)` on every writer thread, between its commits, and gathers the
    /// results in writer order.
    async fn on_writers<T: Send + 'static>(
        &self,
        task: impl Fn(usize) -> Box<dyn FnOnce(&mut writer::Writer) -> Result<T> + Send>,
    ) -> Result<Vec<T>> {
        let mut pending = Vec::new();
        {
            let writers = self.writers.lock().expect("writers lock");
            if writers.is_empty() {
                return Err(StoreError::Closed);
            }
            for (i, tx) in writers.iter().enumerate() {
                let (ack, done) = tokio::sync::oneshot::channel();
                let work = task(i);
                let job = move |w: &mut writer::Writer| {
                    let _ = ack.send(work(w));
                };
                tx.send(writer::Job::Task(Box::new(job)))
                    .map_err(|_| StoreError::Closed)?;
                pending.push(done);
            }
        }
        let mut out = Vec::with_capacity(pending.len());
        for done in pending {
            out.push(done.await.map_err(|_| StoreError::Closed)??);
        }
        Ok(out)
    }
}

/// Bytes the readiness probe writes to tell whether the data directory has room again.
const PROBE_BYTES: usize = 4 << 20;

/// Writes (and removes) a probe file in `dir`: `DiskFull` when there is no room for it.
fn probe_space(dir: &Path) -> Result<()> {
    use std::io::Write;
    let path = dir.join(".spyglass-write-probe");
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| StoreError::DiskFull(format!("cannot write to {}: {e}", dir.display())))
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
                tx.send(writer::Job::Write(writer::WriteJob {
                    batch: batch.clone(),
                    ack,
                }))
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

    async fn trace_outline(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<SpanOutline>)>> {
        let project = project.to_string();
        self.read(move |c| outline::trace_outline(c, &project, trace_id))
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

    async fn timeseries(&self, project: &str, q: &TimeseriesQuery) -> Result<Timeseries> {
        analytics::check_timeseries(q)?;
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| {
            let from = q.bucket_of(q.from_ns);
            let w = q.interval_s * 1_000_000_000;
            let rows = if q.metric == Metric::Findings {
                rollups::finding_bucket_rows(c, &project, from, q.to_ns, w, q.group_by, &q.filter)?
            } else if q.group_by == Some(GroupBy::User) || q.filter.user.is_some() {
                rollups::user_bucket_rows(
                    c,
                    &project,
                    from,
                    q.to_ns,
                    w,
                    q.group_by,
                    q.filter.user.as_deref(),
                )?
            } else {
                let latency = q.metric.quantile().is_some();
                rollups::bucket_rows(
                    c, &project, from, q.to_ns, w, q.group_by, &q.filter, latency,
                )?
            };
            Ok(analytics::timeseries(&q, rows))
        })
        .await
    }

    async fn top(&self, project: &str, q: &TopQuery) -> Result<Vec<TopEntry>> {
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| {
            let from = q.from_ns.div_euclid(crate::rollup::MINUTE_NS) * crate::rollup::MINUTE_NS;
            let by = match (analytics::top_dimension(q.kind), q.kind) {
                (Some(dim), _) => {
                    let rows = rollups::bucket_rows(
                        c,
                        &project,
                        from,
                        q.to_ns,
                        0,
                        Some(dim),
                        &q.filter,
                        true,
                    )?;
                    return Ok(analytics::rank(&q, rows));
                }
                (None, TopKind::Traces) => {
                    return rollups::top_traces(c, &project, q.from_ns, q.to_ns, q.limit);
                }
                (None, TopKind::Sessions) => UsageBy::Session,
                (None, _) => UsageBy::User,
            };
            let usage = rollups::usage(
                c,
                &project,
                by,
                Some(q.from_ns),
                Some(q.to_ns),
                None,
                q.limit,
                0,
            )?;
            Ok(usage.into_iter().map(analytics::usage_entry).collect())
        })
        .await
    }

    async fn usage(&self, project: &str, q: &UsageQuery) -> Result<Vec<Usage>> {
        let (project, q) = (project.to_string(), q.clone());
        self.read(move |c| {
            let limit = match q.limit {
                0 => spyglass_model::query::DEFAULT_LIMIT,
                n => n.min(spyglass_model::query::MAX_LIMIT),
            };
            rollups::usage(
                c,
                &project,
                q.by,
                q.from_ns,
                q.to_ns,
                q.key.as_deref(),
                limit,
                q.offset,
            )
        })
        .await
    }

    async fn topology_rows(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<crate::topology::TopoRow>> {
        let project = project.to_string();
        self.read(move |c| topology::rows(c, &project, from_ns, to_ns))
            .await
    }

    async fn agent_versions(
        &self,
        project: &str,
        agent: &str,
    ) -> Result<Vec<spyglass_model::topology::AgentVersion>> {
        let (project, agent) = (project.to_string(), agent.to_string());
        self.read(move |c| versions::agent_versions(c, &project, &agent))
            .await
    }

    async fn attack_evidence(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        sink_tools: &[String],
        max_traces: usize,
    ) -> Result<Vec<crate::attack::TraceEvidence>> {
        let (project, sinks) = (project.to_string(), sink_tools.to_vec());
        self.read(move |c| {
            topology::attack_evidence(c, &project, from_ns, to_ns, &sinks, max_traces)
        })
        .await
    }

    async fn agent_identities(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<crate::topology::AgentIdentity>> {
        let project = project.to_string();
        self.read(move |c| topology::agent_identities(c, &project, from_ns, to_ns))
            .await
    }

    async fn tool_descriptions(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<(String, String)>> {
        let project = project.to_string();
        self.read(move |c| topology::tool_descriptions(c, &project, from_ns, to_ns))
            .await
    }

    async fn guardrails(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<spyglass_model::topology::Guardrail>> {
        let project = project.to_string();
        self.read(move |c| guardrails::registry(c, &project, from_ns, to_ns))
            .await
    }

    async fn alert_rules(&self, project: Option<&str>) -> Result<Vec<AlertRule>> {
        let project = project.map(str::to_string);
        self.read(move |c| alerts::rules(c, project.as_deref()))
            .await
    }

    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<()> {
        let rule = rule.clone();
        self.read(move |c| alerts::put_rule(c, &rule)).await
    }

    async fn delete_alert_rule(&self, project: &str, id: &str) -> Result<bool> {
        let (project, id) = (project.to_string(), id.to_string());
        self.read(move |c| alerts::delete_rule(c, &project, &id))
            .await
    }

    async fn record_alert_event(&self, event: &AlertEvent) -> Result<()> {
        let event = event.clone();
        self.read(move |c| alerts::record_event(c, &event)).await
    }

    async fn alert_events(
        &self,
        project: &str,
        rule_id: Option<&str>,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AlertEvent>> {
        let (project, rule_id) = (project.to_string(), rule_id.map(str::to_string));
        self.read(move |c| alerts::events(c, &project, rule_id.as_deref(), before_ns, limit))
            .await
    }

    async fn latest_alert_events(&self) -> Result<Vec<AlertEvent>> {
        self.read(alerts::latest_events).await
    }

    async fn price_overrides(&self) -> Result<Vec<(String, String)>> {
        self.read(prices::overrides).await
    }

    async fn put_price_overrides(&self, project: &str, json: Option<&str>) -> Result<()> {
        let (project, json) = (project.to_string(), json.map(str::to_string));
        self.read(move |c| prices::put_overrides(c, &project, json.as_deref()))
            .await
    }

    async fn recompute_costs(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: PriceFn,
    ) -> Result<RecomputeReport> {
        let mut report = RecomputeReport::default();
        let mut traces = HashSet::new();
        let slices = {
            let project = project.to_string();
            self.read(move |c| recompute::slices(c, &project, from_ns, to_ns, REPRICE_SLICE_SPANS))
                .await?
        };
        for (start, end) in slices {
            // Each writer re-prices the traces it owns, on its own thread, between commits.
            let parts = self
                .on_writers(|_| {
                    let (project, price) = (project.to_string(), price.clone());
                    Box::new(move |w: &mut writer::Writer| w.reprice(&project, start, end, &price))
                })
                .await?;
            for part in parts {
                report.spans_examined += part.spans_examined;
                report.spans_changed += part.spans_changed;
                traces.extend(part.traces);
            }
        }
        report.traces_touched = traces.len() as u64;
        Ok(report)
    }

    async fn apply_retention(
        &self,
        project: &str,
        cutoff_ns: i64,
    ) -> Result<crate::RetentionReport> {
        // Writer 0 deletes (between its commits); then every writer forgets the traces it
        // cached, so a late span of a deleted trace starts it afresh.
        let parts = self
            .on_writers(|i| {
                let project = project.to_string();
                Box::new(move |w: &mut writer::Writer| {
                    let result = if i == 0 {
                        retention::apply(&w.conn, &project, cutoff_ns)
                    } else {
                        Ok(crate::RetentionReport::default())
                    };
                    w.cache.forget_older(&project, cutoff_ns);
                    result
                })
            })
            .await?;
        let mut report = crate::RetentionReport::default();
        for r in parts {
            report.traces += r.traces;
            report.spans += r.spans;
            report.rollup_rows += r.rollup_rows;
        }
        Ok(report)
    }

    async fn projects(&self) -> Result<Vec<String>> {
        self.read(retention::projects).await
    }

    async fn export(
        &self,
        spec: &crate::archive::ExportSpec,
        dir: &Path,
    ) -> Result<Vec<crate::archive::ExportedFile>> {
        let (spec, dir) = (spec.clone(), dir.to_path_buf());
        self.read_unbounded(move |c| archive::export(c, &spec, &dir))
            .await
    }

    async fn delete(
        &self,
        project: &str,
        target: &spyglass_model::audit::DeleteTarget,
    ) -> Result<spyglass_model::audit::DeletionReport> {
        let traces = {
            let (project, target) = (project.to_string(), target.clone());
            self.read(move |c| deletion::traces_of(c, &project, &target))
                .await?
        };
        let traces = Arc::new(traces);
        let parts = self
            .on_writers(|_| {
                let (project, traces) = (project.to_string(), traces.clone());
                Box::new(move |w: &mut writer::Writer| w.delete_traces(&project, &traces))
            })
            .await?;
        let mut report = spyglass_model::audit::DeletionReport::default();
        for r in parts {
            report.traces += r.traces;
            report.spans += r.spans;
        }
        Ok(report)
    }

    async fn auth_records(&self) -> Result<Vec<spyglass_model::auth::AuthRecord>> {
        self.read(auth::records).await
    }

    async fn put_auth_record(&self, record: &spyglass_model::auth::AuthRecord) -> Result<()> {
        let record = record.clone();
        self.read(move |c| auth::put(c, &record)).await
    }

    async fn delete_auth_record(
        &self,
        kind: spyglass_model::auth::AuthKind,
        id: &str,
    ) -> Result<bool> {
        let id = id.to_string();
        self.read(move |c| auth::delete(c, kind, &id)).await
    }

    async fn record_audit(&self, entry: &spyglass_model::audit::AuditEntry) -> Result<()> {
        let entry = entry.clone();
        self.read(move |c| deletion::record(c, &entry)).await
    }

    async fn audit_log(
        &self,
        project: &str,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<spyglass_model::audit::AuditEntry>> {
        let project = project.to_string();
        self.read(move |c| deletion::list(c, &project, before_ns, limit))
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

    async fn compact(&self) -> Result<()> {
        self.read(|c| {
            rollups::compact(c).inspect_err(|_| {
                let _ = c.execute_batch("ROLLBACK");
            })?;
            versions::compact(c)?;
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?;
            Ok(())
        })
        .await?;
        if !self.db.writable() {
            // The last commit failed for want of disk: ready again once there is room to
            // write (the next commit confirms it).
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || probe_space(&dir))
                .await
                .map_err(|e| StoreError::Database(format!("probe task failed: {e}")))??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod data_dir_tests {
    use super::*;

    fn data_dir_message(r: Result<DuckDbStore>) -> String {
        match r {
            Err(StoreError::DataDir { message, .. }) => message,
            Err(e) => panic!("expected a data directory error, got {e}"),
            Ok(_) => panic!("expected a data directory error, the store opened"),
        }
    }

    #[test]
    fn a_foreign_directory_is_refused_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "x").unwrap();
        let m = data_dir_message(DuckDbStore::open(tmp.path(), &DuckDbConfig::default()));
        assert!(m.contains("notes.txt"), "{m}");
        assert!(!tmp.path().join(DB_FILE).exists());
    }

    #[test]
    fn own_leftovers_are_not_foreign() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("tmp")).unwrap();
        std::fs::write(tmp.path().join("initial-admin-password"), "x").unwrap();
        check_not_foreign(tmp.path()).unwrap();
        check_not_foreign(&tmp.path().join("missing")).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..65_536u32).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(tmp.path().join(DB_FILE), &bytes).unwrap();
        let m = data_dir_message(DuckDbStore::open(tmp.path(), &DuckDbConfig::default()));
        assert!(m.contains("restore it from a backup"), "{m}");
        assert_eq!(std::fs::read(tmp.path().join(DB_FILE)).unwrap(), bytes);
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "nothing but the file: {names:?}");
    }

    #[test]
    fn readiness_probe_passes_with_room() {
        let tmp = tempfile::tempdir().unwrap();
        probe_space(tmp.path()).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_past_the_timeout_is_interrupted_and_the_connection_still_answers() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = DuckDbConfig {
            query_timeout_ms: 200,
            readers: 1,
            ..Default::default()
        };
        let store = DuckDbStore::open(tmp.path(), &cfg).unwrap();
        let started = std::time::Instant::now();
        let slow = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3",
                    [],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .await;
        assert!(matches!(slow, Err(StoreError::Timeout(200))), "{slow:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let quick = store
            .read(|c| Ok(c.query_row("SELECT 42", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap();
        assert_eq!(quick, 42);
    }
}
