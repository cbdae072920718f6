//! Re-pricing stored spans after a price change. It runs on the writer that owns the traces,
//! between two commits, because it rewrites what that writer keeps in memory: the cached
//! state of a trace holds each span's contribution, cost included, and the next version of a
//! span takes its predecessor's contribution back out of the rollups. So the new costs go into
//! the stored rows, the cached (or loaded) states, new summary versions and rollup deltas
//! (old contribution out, new one in) in one transaction, and a later version of a re-priced
//! span replaces the new figure, not the old one.

use super::arrow::{self, SummaryRow};
use super::cache::TraceCache;
use super::read;
use super::writer::Writer;
use crate::rollup::{Derived, RollupDeltas, derive};
use crate::summary::{Contribution, TraceState};
use crate::{PriceFn, Result, Seeded, StoreError};
use duckdb::{Connection, params};
use spyglass_model::{CostSource, Span, SpanId, SpanKind, Tokens, TraceId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Trace states read back from storage for traces the cache no longer held.
type Loaded = HashMap<TraceId, TraceState, Seeded>;

/// What one writer did over one slice of the range.
#[derive(Debug, Default)]
pub struct Repriced {
    pub spans_examined: u64,
    pub spans_changed: u64,
    /// Traces whose summary was rewritten.
    pub traces: Vec<TraceId>,
}

/// The candidate span versions: LLM and embedding spans of a project that started in a range,
/// with what pricing reads (model, provider, tokens, start, current cost) and the row id to
/// write the new cost back to.
const CANDIDATES: &str = "SELECT rowid, replace(trace_id::VARCHAR, '-', ''), span_id, kind, start_ns, end_ns, \
    received_ns, provider, request_model, response_model, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_usd, cost_source \
    FROM spans WHERE project_id = ? AND start_ns >= ? AND start_ns < ? AND kind IN (?, ?)";

/// Cuts `[from_ns, to_ns)` into consecutive slices of about `target` candidate span
/// versions each (whole seconds; a busier second is a slice of its own), from a count per
/// second of the rows stored now. Rows written meanwhile land in some slice all the same.
pub fn slices(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    target: i64,
) -> Result<Vec<(i64, i64)>> {
    const SECOND: i64 = 1_000_000_000;
    let mut stmt = conn.prepare(
        "SELECT (start_ns - ?) // 1000000000 AS s, count(*) FROM spans \
         WHERE project_id = ? AND start_ns >= ? AND start_ns < ? AND kind IN (?, ?) \
         GROUP BY 1 ORDER BY 1",
    )?;
    let counts = stmt
        .query_map(
            params![
                from_ns,
                project,
                from_ns,
                to_ns,
                SpanKind::Llm.code(),
                SpanKind::Embedding.code()
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?
        .collect::<duckdb::Result<Vec<_>>>()?;
    let mut cuts = vec![from_ns];
    let mut rows = 0;
    for (second, n) in counts {
        if rows > 0 && rows + n > target {
            cuts.push(from_ns + second * SECOND);
            rows = 0;
        }
        rows += n;
    }
    cuts.push(to_ns);
    Ok(cuts.windows(2).map(|w| (w[0], w[1])).collect())
}

/// A re-priced trace's state: loaded for this re-pricing, or cached.
fn rewritten_state<'a>(
    loaded: &'a Loaded,
    cache: &'a mut TraceCache,
    project: &str,
    trace: TraceId,
) -> &'a TraceState {
    match loaded.get(&trace) {
        Some(st) => st,
        None => {
            &cache
                .get_mut(project, trace)
                .expect("a rewritten trace is cached or loaded")
                .state
        }
    }
}

impl Writer {
    /// Re-prices the stored versions of this writer's spans of `project` that started in
    /// `[from_ns, to_ns)`, in one transaction with the summaries and rollup deltas it implies.
    pub fn reprice(
        &mut self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: &PriceFn,
    ) -> Result<Repriced> {
        self.conn.execute_batch("BEGIN TRANSACTION")?;
        let mut affected = Vec::new();
        match self.reprice_in_transaction(project, from_ns, to_ns, price, &mut affected) {
            Ok((report, loaded, rollup_rows)) => {
                self.shared
                    .superseded
                    .fetch_add(report.traces.len() as u64, Ordering::Relaxed);
                self.shared
                    .rollup_rows
                    .fetch_add(rollup_rows as u64, Ordering::Relaxed);
                // The states loaded for this are current now: keep them like any written trace.
                for (t, state) in loaded {
                    let n = state.len();
                    self.cache.insert(project, t, state);
                    self.cache.touched(project, t, n);
                }
                self.metrics
                    .cached_spans
                    .set(self.cache.span_count() as i64);
                Ok(report)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                // Cached states may hold costs that were not committed: forget them, the next
                // write of these traces reloads what is stored.
                for t in affected {
                    self.cache.remove(project, t);
                }
                Err(e)
            }
        }
    }

    /// The body of [`Writer::reprice`]; returns the report, the states it loaded (to cache
    /// after the commit) and the rollup rows written. `affected` receives every trace whose
    /// cached state may have been changed, before it is changed.
    fn reprice_in_transaction(
        &mut self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: &PriceFn,
        affected: &mut Vec<TraceId>,
    ) -> Result<(Repriced, Loaded, usize)> {
        let t0 = Instant::now();
        let project_id: Arc<str> = project.into();
        let (rowids, mut spans) = self.candidates(&project_id, from_ns, to_ns)?;
        let t_read = t0.elapsed();
        let mut report = Repriced {
            spans_examined: spans
                .iter()
                .map(|s| (s.trace_id, s.span_id))
                .collect::<HashSet<_, Seeded>>()
                .len() as u64,
            ..Repriced::default()
        };
        let before: Vec<(Option<f64>, Option<CostSource>)> =
            spans.iter().map(|s| (s.cost_usd, s.cost_source)).collect();
        // The pricing function is the caller's code running on the writer thread: a panic in
        // it must fail this request, not end the thread every write goes through.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| price(&mut spans)))
            .map_err(|_| StoreError::Database("pricing spans panicked".into()))?;
        let changed: Vec<usize> = (0..spans.len())
            .filter(|&i| (spans[i].cost_usd, spans[i].cost_source) != before[i])
            .collect();
        let t_price = t0.elapsed();
        if changed.is_empty() {
            self.conn.execute_batch("COMMIT")?;
            return Ok((report, HashMap::default(), 0));
        }
        report.spans_changed = changed
            .iter()
            .map(|&i| (spans[i].trace_id, spans[i].span_id))
            .collect::<HashSet<_, Seeded>>()
            .len() as u64;

        // The traces' states as they were committed: cached, or loaded (before the update, so
        // they hold the old costs the rollups were built from).
        let mut traces: Vec<TraceId> = changed.iter().map(|&i| spans[i].trace_id).collect();
        traces.sort_unstable();
        traces.dedup();
        affected.extend(&traces);
        let missing: Vec<TraceId> = traces
            .iter()
            .copied()
            .filter(|t| !self.cache.contains(project, *t))
            .collect();
        let mut loaded = Loaded::default();
        for s in read::latest_spans_of_traces(&self.conn, project, &missing)? {
            loaded
                .entry(s.trace_id)
                .or_default()
                .apply(s.span_id, Contribution::of(&s));
        }
        self.metrics.summary_loads.inc_by(missing.len() as u64);
        let t_load = t0.elapsed();

        // Only a span's winning version is in its trace's state; a superseded version's new
        // cost changes nothing derived. What a trace gives the rollups depends on the whole
        // trace (a wrapper's usage is left out), so, as a commit does, the delta is what the
        // trace contributes after the new costs less what it contributed before.
        let mut before: HashMap<TraceId, Derived, Seeded> = HashMap::default();
        for &i in &changed {
            let s = &spans[i];
            let state = match loaded.get_mut(&s.trace_id) {
                Some(st) => st,
                None => match self.cache.get_mut(project, s.trace_id) {
                    Some(e) => &mut e.state,
                    None => continue,
                },
            };
            let Some(c) = state.spans.get(&s.span_id) else {
                continue;
            };
            let cost = if c.kind.counts_usage() {
                s.cost_usd
            } else {
                None
            };
            if (c.finished, c.received_ns) != (s.end_ns.is_some(), s.received_ns)
                || c.cost_usd == cost
            {
                continue;
            }
            before
                .entry(s.trace_id)
                .or_insert_with(|| derive(&project_id, state));
            if let Some(c) = state.spans.get_mut(&s.span_id) {
                c.cost_usd = cost;
            }
        }
        let mut rewritten: Vec<TraceId> = before.keys().copied().collect();
        rewritten.sort_unstable();
        let mut deltas = RollupDeltas::default();
        for t in &rewritten {
            let state = rewritten_state(&loaded, &mut self.cache, project, *t);
            let was = before.remove(t).expect("recorded above");
            deltas.change(was, &derive(&project_id, state));
        }

        // Every changed version, by row id, through a temporary table (one join, not an
        // UPDATE per row); the range conditions let DuckDB skip the row groups outside it.
        self.conn.execute_batch(
            "CREATE TEMP TABLE repriced (rid BIGINT NOT NULL, cost_usd DOUBLE, cost_source UTINYINT)",
        )?;
        {
            let mut app = self
                .conn
                .appender_to_catalog_and_db("repriced", "temp", "main")?;
            for &i in &changed {
                let s = &spans[i];
                app.append_row(params![
                    rowids[i],
                    s.cost_usd,
                    s.cost_source.map(|c| c.code())
                ])?;
            }
            app.flush()?;
        }
        let updated = self.conn.execute(
            "UPDATE spans SET cost_usd = n.cost_usd, cost_source = n.cost_source FROM repriced n \
             WHERE spans.rowid = n.rid AND spans.project_id = ? AND spans.start_ns >= ? AND spans.start_ns < ?",
            params![project, from_ns, to_ns],
        )?;
        self.conn.execute_batch("DROP TABLE repriced")?;
        let t_update = t0.elapsed();
        if updated != changed.len() {
            return Err(StoreError::Database(format!(
                "re-pricing updated {updated} span rows, expected {}",
                changed.len()
            )));
        }

        let mut rollup_rows = 0;
        if !rewritten.is_empty() {
            let version = self.shared.next_version.fetch_add(1, Ordering::Relaxed);
            let mut rows = Vec::with_capacity(rewritten.len());
            for t in &rewritten {
                let state = rewritten_state(&loaded, &mut self.cache, project, *t);
                rows.push(SummaryRow::of(project, *t, state, version));
            }
            let mut app = self.conn.appender("trace_summaries")?;
            app.append_record_batch(arrow::summaries_batch(&rows))?;
            app.flush()?;
            drop(app);
            rollup_rows = super::rollups::append(&self.conn, deltas)?;
        }
        let t_derived = t0.elapsed();
        self.conn.execute_batch("COMMIT")?;
        tracing::debug!(
            candidates = spans.len(),
            changed = changed.len(),
            loaded_traces = missing.len(),
            traces = rewritten.len(),
            read_us = t_read.as_micros() as u64,
            price_us = (t_price - t_read).as_micros() as u64,
            load_us = (t_load - t_price).as_micros() as u64,
            update_us = (t_update - t_load).as_micros() as u64,
            derived_us = (t_derived - t_update).as_micros() as u64,
            commit_us = (t0.elapsed() - t_derived).as_micros() as u64,
            "re-priced spans"
        );
        report.traces = rewritten;
        Ok((report, loaded, rollup_rows))
    }

    /// This writer's candidate span versions, with their row ids.
    fn candidates(
        &self,
        project: &Arc<str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<(Vec<i64>, Vec<Span>)> {
        let mut stmt = self.conn.prepare_cached(CANDIDATES)?;
        let mut rows = stmt.query(params![
            &**project,
            from_ns,
            to_ns,
            SpanKind::Llm.code(),
            SpanKind::Embedding.code()
        ])?;
        let (mut rowids, mut spans) = (Vec::new(), Vec::new());
        while let Some(r) = rows.next()? {
            let hex: String = r.get(1)?;
            let trace: TraceId = hex.parse().map_err(|e| StoreError::Corrupt {
                column: "trace_id",
                message: format!("{e}"),
            })?;
            if !self.partition.owns(trace) {
                continue;
            }
            let mut s = Span::new(trace, SpanId::from_u64(r.get(2)?), "", r.get(4)?);
            s.project_id = project.clone();
            s.kind = SpanKind::from_code(r.get(3)?).unwrap_or(SpanKind::Other);
            s.end_ns = r.get(5)?;
            s.received_ns = r.get(6)?;
            s.provider = r.get(7)?;
            s.request_model = r.get(8)?;
            s.response_model = r.get(9)?;
            s.tokens = Tokens {
                input: r.get(10)?,
                output: r.get(11)?,
                cache_read: r.get(12)?,
                cache_write: r.get(13)?,
                reasoning: r.get(14)?,
                total: r.get(15)?,
            };
            s.cost_usd = r.get(16)?;
            s.cost_source = r.get::<_, Option<u8>>(17)?.and_then(CostSource::from_code);
            rowids.push(r.get(0)?);
            spans.push(s);
        }
        Ok((rowids, spans))
    }
}
