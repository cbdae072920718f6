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
    Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, TraceId, TraceSummary,
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
        self.read(move |c| archive::export(c, &spec, &dir)).await
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
        .await
    }
}
