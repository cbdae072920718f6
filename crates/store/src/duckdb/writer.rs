//! The single writer: group commit on a dedicated thread. Each write request waits in a
//! channel; the writer takes everything queued (up to a cap), commits it as one DuckDB
//! transaction (spans, links and updated trace summaries together), then acknowledges every
//! request in the group. An acknowledged span is in the WAL, which DuckDB syncs on commit.

use super::arrow::{self, SummaryRow};
use super::cache::{TraceCache, bloom_key};
use super::metrics::StoreMetrics;
use crate::rollup::{Derived, RollupDeltas, derive};
use crate::summary::{Contribution, TraceState};
use crate::versions::{self, VersionDeltas};
use crate::{Batch, Result, StoreError};
use duckdb::Connection;
use spyglass_model::{Span, SpanFinding, TraceId};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;
use tokio::sync::oneshot;

/// What a writer is asked to do.
pub enum Job {
    /// Spans to commit (grouped with the other writes queued).
    Write(WriteJob),
    /// Work on this writer's traces that must not interleave with a commit (re-pricing
    /// stored spans rewrites what the cached trace states hold). It reports its own result.
    Task(Box<dyn FnOnce(&mut Writer) + Send>),
}

pub struct WriteJob {
    pub batch: Arc<Batch>,
    pub ack: oneshot::Sender<Result<()>>,
}

/// Which traces a writer owns: each trace always goes to the same writer, so writers share
/// no per-trace state.
#[derive(Debug, Clone, Copy)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl Partition {
    /// Trace ids are random, so their last byte spreads traces evenly.
    pub fn of(trace: TraceId, count: usize) -> usize {
        trace.0[15] as usize % count.max(1)
    }

    pub fn owns(&self, trace: TraceId) -> bool {
        Self::of(trace, self.count) == self.index
    }
}

/// State the writers share: summary versions (unique across writers) and the count of
/// superseded summary rows (writer 0 compacts them).
pub struct Shared {
    pub(super) next_version: AtomicI64,
    pub(super) superseded: AtomicU64,
    /// Rollup delta rows written since the last compaction.
    pub(super) rollup_rows: AtomicU64,
    /// Agent-version rows written since the last compaction.
    pub(super) version_rows: AtomicU64,
}

impl Shared {
    pub fn open(conn: &Connection) -> Result<Arc<Self>> {
        let (next_version, superseded): (i64, i64) = conn.query_row(
            "SELECT coalesce(max(version), 0) + 1, count(*) - count(DISTINCT (project_id, trace_id)) FROM trace_summaries",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Arc::new(Shared {
            next_version: AtomicI64::new(next_version),
            superseded: AtomicU64::new(superseded as u64),
            // Whatever a previous run left uncompacted is compacted at the first chance.
            rollup_rows: AtomicU64::new(super::rollups::COMPACT_AFTER),
            version_rows: AtomicU64::new(super::versions::COMPACT_AFTER),
        }))
    }
}

pub struct Writer {
    pub conn: Connection,
    /// The instance `conn` belongs to, reopened when a failed write invalidates it.
    db: Arc<super::Db>,
    generation: u64,
    /// `conn`'s instance was invalidated (a failed checkpoint): reopen before the next write.
    broken: bool,
    cache_capacity: usize,
    pub cache: TraceCache,
    pub max_batch_spans: usize,
    pub metrics: Arc<StoreMetrics>,
    pub(super) partition: Partition,
    pub(super) shared: Arc<Shared>,
    /// How long a small batch may wait for more spans before it is committed.
    linger: std::time::Duration,
    /// Batches smaller than this wait (up to `linger`) for more.
    linger_below_spans: usize,
    /// Resources this writer has stored, by project (two writers may both store one; reads
    /// take either copy, the text is the same).
    resources: HashSet<(Arc<str>, u64)>,
}

/// Superseded summary rows tolerated before the writer deletes them (reads skip them, but
/// every list query pays for them).
const COMPACT_AFTER: u64 = 50_000;

impl Writer {
    pub fn new(
        conn: Connection,
        db: Arc<super::Db>,
        partition: Partition,
        cfg: &super::DuckDbConfig,
        metrics: Arc<StoreMetrics>,
        shared: Arc<Shared>,
    ) -> Result<Self> {
        let count = partition.count.max(1);
        let resources = stored_resources(&conn)?;
        let generation = db.generation();
        let mut w = Writer {
            conn,
            db,
            generation,
            broken: false,
            cache_capacity: cfg.summary_cache_spans / count,
            cache: TraceCache::new(cfg.summary_cache_spans / count),
            max_batch_spans: cfg.max_batch_spans,
            linger: std::time::Duration::from_millis(cfg.group_commit_linger_ms),
            linger_below_spans: cfg.group_commit_target_spans,
            metrics,
            partition,
            shared,
            resources,
        };
        w.rebuild_bloom()?;
        Ok(w)
    }

    /// Takes a connection to a reopened instance (reopening it if no one has yet) and forgets
    /// what it knew of the old one: the cached trace states are reloaded on demand.
    fn reconnect(&mut self) -> Result<()> {
        let (generation, conn) = self.db.reopen(self.generation)?;
        if generation != self.generation {
            self.metrics.reopens.inc();
        }
        self.conn = conn;
        self.generation = generation;
        self.cache = TraceCache::new(self.cache_capacity);
        self.resources = stored_resources(&self.conn)?;
        self.rebuild_bloom()?;
        self.broken = false;
        Ok(())
    }

    /// After a failed write: notes a full disk, and reopens the instance if the failure
    /// invalidated it.
    fn after_failure(&mut self, e: Option<&StoreError>) {
        if e.is_none_or(StoreError::is_disk_full) {
            self.metrics.write_errors.inc();
            self.db.set_writable(false);
        }
        if !self.broken && !super::usable(&self.conn) {
            self.broken = true;
        }
        if self.broken
            && let Err(e) = self.reconnect()
        {
            tracing::warn!(error = %e, "reopening the database failed; will retry before the next write");
        }
    }

    /// Fills the bloom filter with every stored trace, sized for twice their number.
    fn rebuild_bloom(&mut self) -> Result<()> {
        let started = Instant::now();
        let n: i64 = self.conn.query_row(
            "SELECT count(DISTINCT (project_id, trace_id)) FROM trace_summaries",
            [],
            |r| r.get(0),
        )?;
        let mut bits = self.cache.bloom.bit_len();
        while (n as usize) * 20 > bits {
            bits *= 2;
        }
        let mut bloom = super::cache::Bloom::with_bits(bits);
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT project_id, replace(trace_id::VARCHAR, '-', '') FROM trace_summaries",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: String = r.get(0)?;
            let hex: String = r.get(1)?;
            let t: TraceId = hex.parse().map_err(|e| StoreError::Corrupt {
                column: "trace_id",
                message: format!("{e}"),
            })?;
            if self.partition.owns(t) {
                bloom.insert(bloom_key(&project, t));
            }
        }
        self.cache.bloom = bloom;
        tracing::debug!(
            traces = n,
            ms = started.elapsed().as_millis() as u64,
            "trace bloom filter built"
        );
        Ok(())
    }

    /// Runs until every sender is gone, then returns (the store is closing).
    pub fn run(mut self, rx: Receiver<Job>) {
        // A task met while gathering a group runs once that group is committed: it sees every
        // write queued before it.
        let mut held: Option<Job> = None;
        loop {
            let job = match held.take() {
                Some(j) => j,
                None => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => break,
                },
            };
            let first = match job {
                Job::Task(task) => {
                    task(&mut self);
                    continue;
                }
                Job::Write(w) => w,
            };
            let deadline = Instant::now() + self.linger;
            let mut jobs = vec![first];
            let mut n = jobs[0].batch.spans.len();
            // Take everything queued; while the batch is small, wait briefly for more: each
            // commit has a fixed cost (the WAL flush), so a few milliseconds of waiting under
            // load save much more than they cost.
            while n < self.max_batch_spans {
                let next = match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) if n < self.linger_below_spans => {
                        let now = Instant::now();
                        if now >= deadline {
                            None
                        } else {
                            rx.recv_timeout(deadline - now).ok()
                        }
                    }
                    Err(TryRecvError::Empty) => None,
                };
                match next {
                    Some(Job::Write(j)) => {
                        n += j.batch.spans.len();
                        jobs.push(j);
                    }
                    Some(task) => {
                        held = Some(task);
                        break;
                    }
                    None => break,
                }
            }
            self.metrics.queue_depth.set(0);
            let started = Instant::now();
            let result = if self.broken {
                self.reconnect().and_then(|()| self.commit(&jobs))
            } else {
                self.commit(&jobs)
            };
            let secs = started.elapsed().as_secs_f64();
            self.metrics.commit_seconds.observe(secs);
            self.metrics.batch_spans.observe(n as f64);
            match &result {
                Ok(()) => {
                    self.metrics.spans_committed.inc_by(n as u64);
                }
                Err(e) => {
                    self.metrics.commit_errors.inc();
                    tracing::error!(error = %e, spans = n, "commit failed; the senders get an error and may retry");
                }
            }
            for j in jobs {
                let _ = j.ack.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                });
            }
        }
        // Flush everything into the database file so the next start has no WAL to replay.
        if self.broken && self.reconnect().is_err() {
            tracing::warn!(
                "the database could not be reopened at shutdown; the WAL will be replayed at next start"
            );
            return;
        }
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            tracing::warn!(error = %e, "checkpoint at shutdown failed; the WAL will be replayed at next start");
        }
    }

    fn commit(&mut self, jobs: &[WriteJob]) -> Result<()> {
        let part = self.partition;
        let spans: Vec<&Span> = jobs
            .iter()
            .flat_map(|j| j.batch.spans.iter())
            .filter(|s| part.owns(s.trace_id))
            .collect();
        if spans.is_empty() {
            return Ok(());
        }
        let findings: Vec<&SpanFinding> = jobs
            .iter()
            .flat_map(|j| j.batch.findings.iter())
            .filter(|f| part.owns(f.trace_id))
            .collect();
        let mut touched = Vec::new();
        let mut deltas = RollupDeltas::default();
        let mut agent_versions = VersionDeltas::default();
        let version = self.shared.next_version.fetch_add(1, Ordering::Relaxed);
        let result = self
            .apply_to_cache(&spans, &mut touched, &mut deltas, &mut agent_versions)
            .and_then(|()| {
                self.write_transaction(&spans, &findings, &touched, deltas, agent_versions, version)
            });
        match &result {
            Ok(()) => {
                if self.broken {
                    // Committed, but the checkpoint after it failed: reopen now.
                    self.after_failure(None);
                } else if !self.db.writable() {
                    self.db.set_writable(true);
                }
                for (p, t, before) in &touched {
                    self.cache.bloom.insert(bloom_key(p, *t));
                    if *before > 0 {
                        self.shared.superseded.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if self.cache.bloom.is_full() {
                    let _ = self.rebuild_bloom();
                }
            }
            Err(_) => {
                // The in-memory states may hold spans that did not commit: forget them, the
                // next write of these traces reloads what the database really has.
                for (p, t, _) in &touched {
                    self.cache.remove(p, *t);
                }
                let _ = self.conn.execute_batch("ROLLBACK");
                self.after_failure(result.as_ref().err());
            }
        }
        for (p, t, before) in touched {
            self.cache.touched(&p, t, before);
        }
        self.metrics
            .cached_spans
            .set(self.cache.span_count() as i64);
        // One writer compacts, so two deletes never race for the same rows.
        if result.is_ok()
            && self.partition.index == 0
            && self.shared.superseded.load(Ordering::Relaxed) >= COMPACT_AFTER
        {
            self.compact_summaries();
        }
        if result.is_ok()
            && self.partition.index == 0
            && self.shared.rollup_rows.load(Ordering::Relaxed) >= super::rollups::COMPACT_AFTER
        {
            self.compact_rollups();
        }
        if result.is_ok()
            && self.partition.index == 0
            && self.shared.version_rows.load(Ordering::Relaxed) >= super::versions::COMPACT_AFTER
        {
            self.compact_versions();
        }
        result
    }

    fn compact_versions(&mut self) {
        let started = Instant::now();
        match super::versions::compact(&self.conn) {
            Ok((before, after)) => {
                self.shared.version_rows.store(0, Ordering::Relaxed);
                tracing::debug!(
                    before,
                    after,
                    ms = started.elapsed().as_millis() as u64,
                    "compacted agent versions"
                );
            }
            Err(e) => tracing::warn!(error = %e, "compacting agent versions failed; will retry"),
        }
    }

    /// Deletes summary rows that a newer version of the same trace replaced.
    fn compact_summaries(&mut self) {
        let started = Instant::now();
        let r = self.conn.execute_batch(
            "DELETE FROM trace_summaries t USING (
                 SELECT project_id, trace_id, max(version) AS v FROM trace_summaries
                 GROUP BY project_id, trace_id HAVING count(*) > 1) m
             WHERE t.project_id = m.project_id AND t.trace_id = m.trace_id AND t.version < m.v",
        );
        match r {
            Ok(()) => {
                let rows = self.shared.superseded.swap(0, Ordering::Relaxed);
                tracing::debug!(
                    rows,
                    ms = started.elapsed().as_millis() as u64,
                    "compacted trace summaries"
                );
            }
            Err(e) => tracing::warn!(error = %e, "compacting trace summaries failed; will retry"),
        }
    }

    fn compact_rollups(&mut self) {
        let started = Instant::now();
        match super::rollups::compact(&self.conn) {
            Ok((before, after)) => {
                self.shared.rollup_rows.store(0, Ordering::Relaxed);
                tracing::debug!(
                    before,
                    after,
                    ms = started.elapsed().as_millis() as u64,
                    "compacted rollups"
                );
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                tracing::warn!(error = %e, "compacting rollups failed; will retry");
            }
        }
    }

    /// Folds the spans into their traces' states, recording each touched trace with the span
    /// count it had before (also when this fails midway, so the caller can forget them), and
    /// the rollup deltas and agent-version rows of the span versions that changed what a trace
    /// holds.
    fn apply_to_cache(
        &mut self,
        spans: &[&Span],
        touched: &mut Vec<(Arc<str>, TraceId, usize)>,
        deltas: &mut RollupDeltas,
        agent_versions: &mut VersionDeltas,
    ) -> Result<()> {
        let mut seen: HashSet<(&str, TraceId), crate::Seeded> = HashSet::default();
        // What each touched trace contributed to the rollups before this commit, and its agent
        // runs.
        let mut before: Vec<(Derived, versions::Runs)> = Vec::new();
        for s in spans {
            if seen.insert((&*s.project_id, s.trace_id)) {
                if !self.cache.contains(&s.project_id, s.trace_id) {
                    let state = if self
                        .cache
                        .bloom
                        .may_contain(bloom_key(&s.project_id, s.trace_id))
                    {
                        self.metrics.summary_loads.inc();
                        load_state(&self.conn, &s.project_id, s.trace_id)?
                    } else {
                        TraceState::default()
                    };
                    self.cache.insert(&s.project_id, s.trace_id, state);
                }
                let state = &self
                    .cache
                    .get_mut(&s.project_id, s.trace_id)
                    .expect("inserted above")
                    .state;
                before.push((derive(&s.project_id, state), versions::runs(state)));
                touched.push((s.project_id.clone(), s.trace_id, state.len()));
            }
            let e = self
                .cache
                .get_mut(&s.project_id, s.trace_id)
                .expect("inserted above");
            e.state.apply(s.span_id, Contribution::of(s));
        }
        for ((p, t, _), (before, runs_before)) in touched.iter().zip(before) {
            let state = &self
                .cache
                .get_mut(p, *t)
                .expect("touched traces are cached")
                .state;
            deltas.change(before, &derive(p, state));
            agent_versions.change(p, runs_before, &versions::runs(state));
        }
        Ok(())
    }

    fn write_transaction(
        &mut self,
        spans: &[&Span],
        findings: &[&SpanFinding],
        touched: &[(Arc<str>, TraceId, usize)],
        deltas: RollupDeltas,
        agent_versions: VersionDeltas,
        version: i64,
    ) -> Result<()> {
        let rows: Vec<SummaryRow> = touched
            .iter()
            .map(|(p, t, _)| {
                let st = &self
                    .cache
                    .get_mut(p, *t)
                    .expect("touched traces are cached")
                    .state;
                SummaryRow::of(p, *t, st, version)
            })
            .collect();
        let t0 = Instant::now();
        // Resource ids: hashed once per resource and scope of the batch (the spans of one
        // OTLP resource and scope share these strings through Arcs, so pointers tell repeats).
        let mut ids = Vec::with_capacity(spans.len());
        type SharedStrings = [*const u8; 4];
        let mut last: Option<(SharedStrings, u64)> = None;
        let mut new_resources: Vec<(u64, &Span)> = Vec::new();
        for s in spans {
            let ptrs: SharedStrings = [
                Arc::as_ptr(&s.resource_attributes).cast(),
                Arc::as_ptr(&s.scope_name).cast(),
                Arc::as_ptr(&s.service_name).cast(),
                s.environment
                    .as_ref()
                    .map_or(std::ptr::null(), |e| Arc::as_ptr(e).cast()),
            ];
            let id = match last {
                Some((p, id)) if p == ptrs => id,
                _ => {
                    let id = arrow::resource_id(s);
                    last = Some((ptrs, id));
                    if !self.resources.contains(&(s.project_id.clone(), id))
                        && !new_resources
                            .iter()
                            .any(|(i, r)| *i == id && r.project_id == s.project_id)
                    {
                        new_resources.push((id, s));
                    }
                    id
                }
            };
            ids.push(id);
        }
        let spans_batch = arrow::spans_batch(spans, &ids);
        let links_batch = arrow::links_batch(spans);
        let summaries = arrow::summaries_batch(&rows);
        let t_build = t0.elapsed();

        self.conn.execute_batch("BEGIN TRANSACTION")?;
        {
            let mut app = self.conn.appender("spans")?;
            app.append_record_batch(spans_batch)?;
            app.flush()?;
        }
        if let Some(links) = links_batch {
            let mut app = self.conn.appender("span_links")?;
            app.append_record_batch(links)?;
            app.flush()?;
        }
        if !findings.is_empty() {
            let mut app = self.conn.appender("findings")?;
            app.append_record_batch(arrow::findings_batch(findings))?;
            app.flush()?;
        }
        if !new_resources.is_empty() {
            let mut app = self.conn.appender("resources")?;
            app.append_record_batch(arrow::resources_batch(&new_resources))?;
            app.flush()?;
        }
        let t_spans = t0.elapsed();
        {
            let mut app = self.conn.appender("trace_summaries")?;
            app.append_record_batch(summaries)?;
            app.flush()?;
        }
        let rollup_rows = super::rollups::append(&self.conn, deltas)?;
        let version_rows = super::versions::append(&self.conn, agent_versions)?;
        let t_summaries = t0.elapsed();
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let message = e.to_string();
            if !message.contains(COMMITTED_BUT_CHECKPOINT_FAILED) {
                return Err(e.into());
            }
            // DuckDB committed (the WAL has it) and then failed to checkpoint, which
            // invalidates the instance: the spans are durable, so they are acknowledged, and
            // the instance is reopened before the next write.
            tracing::warn!(error = %message, "committed, but the checkpoint after it failed");
            self.broken = true;
        }
        self.shared
            .rollup_rows
            .fetch_add(rollup_rows as u64, Ordering::Relaxed);
        self.shared
            .version_rows
            .fetch_add(version_rows as u64, Ordering::Relaxed);
        for (id, s) in new_resources {
            self.resources.insert((s.project_id.clone(), id));
        }
        tracing::debug!(
            spans = spans.len(),
            traces = rows.len(),
            build_us = t_build.as_micros() as u64,
            append_spans_us = (t_spans - t_build).as_micros() as u64,
            summaries_us = (t_summaries - t_spans).as_micros() as u64,
            commit_us = (t0.elapsed() - t_summaries).as_micros() as u64,
            "group commit"
        );
        Ok(())
    }
}

/// The text DuckDB puts in the error of a COMMIT that succeeded when the checkpoint after it
/// failed.
const COMMITTED_BUT_CHECKPOINT_FAILED: &str = "COMMIT succeeded and is durable";

fn stored_resources(conn: &Connection) -> Result<HashSet<(Arc<str>, u64)>> {
    let mut stmt = conn.prepare("SELECT project_id, resource_id FROM resources")?;
    Ok(stmt
        .query_map([], |r| {
            Ok((
                Arc::<str>::from(r.get::<_, String>(0)?),
                r.get::<_, u64>(1)?,
            ))
        })?
        .collect::<duckdb::Result<HashSet<_>>>()?)
}

/// Rebuilds a trace's state from what is stored (every version, applied in received order).
pub fn load_state(conn: &Connection, project: &str, trace: TraceId) -> Result<TraceState> {
    let mut state = TraceState::default();
    let spans = super::read::trace_spans(conn, project, trace, true)?;
    for s in spans {
        state.apply(s.span_id, Contribution::of(&s));
    }
    Ok(state)
}
