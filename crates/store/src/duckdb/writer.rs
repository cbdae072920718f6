//! The single writer: group commit on a dedicated thread. Each write request waits in a
//! channel; the writer takes everything queued (up to a cap), commits it as one DuckDB
//! transaction (spans, links and updated trace summaries together), then acknowledges every
//! request in the group. An acknowledged span is in the WAL, which DuckDB syncs on commit.

use super::arrow::{self, SummaryRow};
use super::cache::{TraceCache, bloom_key};
use super::metrics::StoreMetrics;
use crate::summary::{Contribution, TraceState};
use crate::{Result, StoreError};
use duckdb::Connection;
use spyglass_model::{Span, TraceId};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;
use tokio::sync::oneshot;

pub struct Job {
    pub spans: Arc<Vec<Span>>,
    pub ack: oneshot::Sender<Result<()>>,
}

pub struct Writer {
    pub conn: Connection,
    pub cache: TraceCache,
    pub max_batch_spans: usize,
    pub metrics: Arc<StoreMetrics>,
}

impl Writer {
    pub fn new(
        conn: Connection,
        cache_spans: usize,
        max_batch_spans: usize,
        metrics: Arc<StoreMetrics>,
    ) -> Result<Self> {
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS trace_summaries_stage AS SELECT * FROM trace_summaries LIMIT 0",
        )?;
        let mut w = Writer {
            conn,
            cache: TraceCache::new(cache_spans),
            max_batch_spans,
            metrics,
        };
        w.rebuild_bloom()?;
        Ok(w)
    }

    /// Fills the bloom filter with every stored trace, sized for twice their number.
    fn rebuild_bloom(&mut self) -> Result<()> {
        let started = Instant::now();
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM trace_summaries", [], |r| r.get(0))?;
        let mut bits = self.cache.bloom.bit_len();
        while (n as usize) * 20 > bits {
            bits *= 2;
        }
        let mut bloom = super::cache::Bloom::with_bits(bits);
        let mut stmt = self.conn.prepare(
            "SELECT project_id, replace(trace_id::VARCHAR, '-', '') FROM trace_summaries",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: String = r.get(0)?;
            let hex: String = r.get(1)?;
            let t: TraceId = hex.parse().map_err(|e| StoreError::Corrupt {
                column: "trace_id",
                message: format!("{e}"),
            })?;
            bloom.insert(bloom_key(&project, t));
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
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            let mut n = jobs[0].spans.len();
            while n < self.max_batch_spans {
                match rx.try_recv() {
                    Ok(j) => {
                        n += j.spans.len();
                        jobs.push(j);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.metrics.queue_depth.set(0);
            let started = Instant::now();
            let result = self.commit(&jobs);
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
                    Err(e) => Err(StoreError::Database(e.to_string())),
                });
            }
        }
        // Flush everything into the database file so the next start has no WAL to replay.
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            tracing::warn!(error = %e, "checkpoint at shutdown failed; the WAL will be replayed at next start");
        }
    }

    fn commit(&mut self, jobs: &[Job]) -> Result<()> {
        let spans: Vec<&Span> = jobs.iter().flat_map(|j| j.spans.iter()).collect();
        if spans.is_empty() {
            return Ok(());
        }
        let mut touched = Vec::new();
        let result = self
            .apply_to_cache(&spans, &mut touched)
            .and_then(|()| self.write_transaction(&spans, &touched));
        match &result {
            Ok(()) => {
                for (p, t, _) in &touched {
                    self.cache.bloom.insert(bloom_key(p, *t));
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
            }
        }
        for (p, t, before) in touched {
            self.cache.touched(&p, t, before);
        }
        self.metrics
            .cached_spans
            .set(self.cache.span_count() as i64);
        result
    }

    /// Folds the spans into their traces' states, recording each touched trace with the span
    /// count it had before (also when this fails midway, so the caller can forget them).
    fn apply_to_cache(
        &mut self,
        spans: &[&Span],
        touched: &mut Vec<(String, TraceId, usize)>,
    ) -> Result<()> {
        let mut seen: HashSet<(&str, TraceId)> = HashSet::new();
        for s in spans {
            if seen.insert((s.project_id.as_str(), s.trace_id)) {
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
                let before = self
                    .cache
                    .get_mut(&s.project_id, s.trace_id)
                    .map_or(0, |e| e.state.len());
                touched.push((s.project_id.clone(), s.trace_id, before));
            }
            let e = self
                .cache
                .get_mut(&s.project_id, s.trace_id)
                .expect("inserted above");
            e.state.apply(s.span_id, Contribution::of(s));
        }
        Ok(())
    }

    fn write_transaction(
        &mut self,
        spans: &[&Span],
        touched: &[(String, TraceId, usize)],
    ) -> Result<()> {
        let rows: Vec<SummaryRow> = touched
            .iter()
            .map(|(p, t, _)| {
                let st = &self
                    .cache
                    .get_mut(p, *t)
                    .expect("touched traces are cached")
                    .state;
                let (_, max_start_ns) = st.start_range();
                SummaryRow {
                    project_id: p,
                    summary: st.summary(*t),
                    max_start_ns,
                }
            })
            .collect();
        let spans_batch = arrow::spans_batch(spans);
        let links_batch = arrow::links_batch(spans);
        let summaries = arrow::summaries_batch(&rows);

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
        {
            let mut app = self.conn.appender("trace_summaries_stage")?;
            app.append_record_batch(summaries)?;
            app.flush()?;
        }
        self.conn.execute_batch(
            "INSERT OR REPLACE INTO trace_summaries SELECT * FROM trace_summaries_stage;
             DELETE FROM trace_summaries_stage;
             COMMIT;",
        )?;
        Ok(())
    }
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
