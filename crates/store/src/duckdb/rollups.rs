//! The `rollups_minute` table: appending a commit's deltas, compacting them, rebuilding them
//! from the spans, and the aggregate reads of the analytics API.

use super::read::{Filter, b, latest_summaries};
use crate::analytics::BucketRow;
use crate::rollup::{Derived, RollupAgg, RollupDeltas, RollupKey, derive};
use crate::sketch::{DenseSketch, Sketch};
use crate::summary::{Contribution, TraceState};
use crate::{Result, StoreError};
use duckdb::types::Value;
use duckdb::{Connection, Row, ToSql, params};
use spyglass_model::analytics::{AnalyticsFilter, GroupBy, TopEntry, Usage, UsageBy};
use spyglass_model::{SpanId, SpanKind, Tokens};
use std::collections::HashMap;
use std::sync::Arc;

/// Delta rows tolerated before they are merged (reads sum them either way; fewer rows read
/// faster).
pub const COMPACT_AFTER: u64 = 20_000;

pub(super) const MEASURES: &str = "span_count, error_count, duration_ns, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_nano_usd, priced";

/// Appends the deltas (in the caller's transaction); returns the rows written.
pub fn append(conn: &Connection, deltas: RollupDeltas) -> Result<usize> {
    if deltas.is_empty() {
        return Ok(0);
    }
    let rows = deltas.into_rows();
    append_rows(conn, rows.iter().map(|(k, a)| (k, a)))?;
    Ok(rows.len())
}

fn append_rows<'a>(
    conn: &Connection,
    rows: impl Iterator<Item = (&'a RollupKey, &'a RollupAgg)>,
) -> Result<()> {
    let mut app = conn.appender("rollups_minute")?;
    for (k, a) in rows {
        let t = &a.tokens;
        app.append_row(params![
            &*k.project_id,
            k.minute_ns,
            k.dims_id(),
            &*k.service_name,
            k.agent_name.as_deref(),
            k.caller.as_deref(),
            k.model.as_deref(),
            k.tool_name.as_deref(),
            k.kind.code(),
            k.is_error,
            a.count,
            a.errors,
            a.duration_ns,
            t[0],
            t[1],
            t[2],
            t[3],
            t[4],
            t[5],
            a.cost_nano_usd,
            a.priced,
            a.latency.to_bytes(),
        ])?;
    }
    app.flush()?;
    Ok(())
}

/// Reads the measures starting at column `at` (the order of `MEASURES`, then the sketch).
pub(super) fn agg_at(r: &Row, at: usize) -> duckdb::Result<RollupAgg> {
    let n = |i: usize| r.get::<_, i64>(at + i);
    Ok(RollupAgg {
        count: n(0)?,
        errors: n(1)?,
        duration_ns: n(2)?,
        tokens: [n(3)?, n(4)?, n(5)?, n(6)?, n(7)?, n(8)?],
        cost_nano_usd: n(9)?,
        priced: n(10)?,
        latency: Sketch::default(),
    })
}

/// The merge of the stored sketches a `list(latency)` column holds.
pub(super) fn merged_sketch(list: Value) -> Result<Sketch> {
    let mut dense = DenseSketch::default();
    if let Value::List(items) = list {
        for v in items {
            if let Value::Blob(bytes) = v {
                dense
                    .merge_bytes(&bytes)
                    .ok_or_else(|| StoreError::Corrupt {
                        column: "rollups_minute.latency",
                        message: "undecodable sketch".into(),
                    })?;
            }
        }
    }
    Ok(dense.into_sketch())
}

pub(super) fn sketch(bytes: &[u8]) -> Result<Sketch> {
    Sketch::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt {
        column: "rollups_minute.latency",
        message: "undecodable sketch".into(),
    })
}

/// Merges the delta rows of every (project, minute, key) that has more than one, in one
/// transaction; returns the row counts merged and written.
pub fn compact(conn: &Connection) -> Result<(usize, usize)> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let dups = "(SELECT project_id, minute_ns, dims_id FROM rollups_minute GROUP BY ALL HAVING count(*) > 1)";
    let mut merged: HashMap<(String, i64, u64), (RollupKey, RollupAgg)> = HashMap::new();
    let mut before = 0;
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT r.project_id, r.minute_ns, r.dims_id, r.service_name, r.agent_name, r.caller, \
             r.model, r.tool_name, r.kind, r.is_error, {}, r.latency FROM rollups_minute r JOIN {dups} d \
             ON r.project_id = d.project_id AND r.minute_ns = d.minute_ns AND r.dims_id = d.dims_id",
            MEASURES
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            before += 1;
            let project: String = r.get(0)?;
            let minute: i64 = r.get(1)?;
            let dims: u64 = r.get(2)?;
            let mut agg = agg_at(r, 10)?;
            agg.latency = sketch(&r.get::<_, Vec<u8>>(21)?)?;
            let kind: u8 = r.get(8)?;
            let entry = merged
                .entry((project.clone(), minute, dims))
                .or_insert_with(|| {
                    (
                        RollupKey {
                            project_id: project.into(),
                            minute_ns: minute,
                            service_name: r.get::<_, String>(3).unwrap_or_default().into(),
                            agent_name: r.get(4).ok().flatten(),
                            caller: r.get(5).ok().flatten(),
                            model: r.get(6).ok().flatten(),
                            tool_name: r.get(7).ok().flatten(),
                            kind: SpanKind::from_code(kind).unwrap_or(SpanKind::Other),
                            is_error: r.get(9).unwrap_or(false),
                        },
                        RollupAgg::default(),
                    )
                });
            entry.1.merge(&agg);
        }
    }
    conn.execute_batch(&format!(
        "DELETE FROM rollups_minute r USING {dups} d \
         WHERE r.project_id = d.project_id AND r.minute_ns = d.minute_ns AND r.dims_id = d.dims_id"
    ))?;
    let keep: Vec<&(RollupKey, RollupAgg)> =
        merged.values().filter(|(_, a)| !a.is_zero()).collect();
    append_rows(conn, keep.iter().map(|(k, a)| (k, a)))?;
    conn.execute_batch("COMMIT")?;
    Ok((before, keep.len()))
}

/// Builds the rollups of every stored span from scratch (the latest version of each, trace by
/// trace, as the writer would have), replacing what is there, in one transaction. Used when an
/// upgrade adds rollups to a store that already has spans.
pub fn rebuild(conn: &Connection) -> Result<usize> {
    let run = || -> Result<usize> {
        conn.execute_batch("DELETE FROM rollups_minute")?;
        let sql = "SELECT s.project_id, s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_ns, \
             s.end_ns, coalesce(r.service_name, 'unknown_service'), s.agent_name, \
             coalesce(s.response_model, s.request_model), s.tool_name, s.kind, s.status, \
             s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens, \
             s.reasoning_tokens, s.total_tokens, s.cost_usd \
             FROM (SELECT * FROM spans \
                   QUALIFY row_number() OVER (PARTITION BY project_id, trace_id, span_id \
                   ORDER BY (end_ns IS NOT NULL) DESC, received_ns DESC) = 1) s \
             LEFT JOIN (SELECT DISTINCT ON (project_id, resource_id) project_id, resource_id, service_name FROM resources) r \
             ON r.project_id = s.project_id AND r.resource_id = s.resource_id \
             ORDER BY s.project_id, s.trace_id";
        let mut deltas = RollupDeltas::default();
        let mut current: Option<(Arc<str>, duckdb::types::Value)> = None;
        let mut state = TraceState::default();
        let mut flush = |current: &Option<(Arc<str>, duckdb::types::Value)>,
                         state: &mut TraceState| {
            if let Some((project, _)) = current {
                deltas.change(Derived::default(), &derive(project, state));
            }
            *state = TraceState::default();
        };
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: String = r.get(0)?;
            let trace: duckdb::types::Value = r.get(1)?;
            if current
                .as_ref()
                .is_none_or(|(p, t)| **p != *project || *t != trace)
            {
                flush(&current, &mut state);
                current = Some((project.into(), trace));
            }
            let kind = SpanKind::from_code(r.get(11)?).unwrap_or(SpanKind::Other);
            let usage = kind.counts_usage();
            let parent: Option<u64> = r.get(3)?;
            let end_ns: Option<i64> = r.get(6)?;
            let c = Contribution {
                finished: end_ns.is_some(),
                received_ns: 0,
                is_root: parent.is_none(),
                parent: parent.map(SpanId::from_u64),
                start_ns: r.get(5)?,
                end_ns,
                name: r.get(4)?,
                service_name: r.get::<_, String>(7)?.into(),
                environment: None,
                kind,
                is_error: r.get::<_, u8>(12)? == spyglass_model::Status::Error.code(),
                tokens: if usage {
                    Tokens {
                        input: r.get(13)?,
                        output: r.get(14)?,
                        cache_read: r.get(15)?,
                        cache_write: r.get(16)?,
                        reasoning: r.get(17)?,
                        total: r.get(18)?,
                    }
                } else {
                    Tokens::default()
                },
                cost_usd: if usage { r.get(19)? } else { None },
                session_id: None,
                user_id: None,
                agent_name: r.get(8)?,
                tool_name: r.get(10)?,
                model: r.get(9)?,
                input_preview: None,
                output_preview: None,
                // Agent versions are not rebuilt (only rollups are).
                system_prompt_hash: None,
            };
            state.apply(SpanId::from_u64(r.get(2)?), c);
        }
        flush(&current, &mut state);
        append(conn, deltas)
    };
    super::in_transaction(conn, run)
}

fn group_expr(g: Option<GroupBy>) -> String {
    match g {
        None => "NULL::VARCHAR".into(),
        Some(GroupBy::Model) => "model".into(),
        Some(GroupBy::Agent) => "agent_name".into(),
        Some(GroupBy::Service) => "service_name".into(),
        Some(GroupBy::Tool) => "tool_name".into(),
        Some(GroupBy::Kind) => {
            let arms: String = SpanKind::ALL
                .iter()
                .map(|k| format!(" WHEN {} THEN '{}'", k.code(), k.as_str()))
                .collect();
            format!("CASE kind{arms} END")
        }
        Some(GroupBy::Status) => "CASE WHEN is_error THEN 'error' ELSE 'ok' END".into(),
        Some(GroupBy::User) => "user_id".into(),
    }
}

fn rollup_filter(project: &str, from_ns: i64, to_ns: i64, filter: &AnalyticsFilter) -> Filter {
    let mut f = Filter::default();
    f.add("project_id = ?", vec![b(project.to_string())]);
    f.add("minute_ns >= ?", vec![b(from_ns)]);
    f.add("minute_ns < ?", vec![b(to_ns)]);
    let mut eq = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.add(format!("{col} = ?"), vec![b(v.clone())]);
        }
    };
    eq("service_name", &filter.service);
    eq("agent_name", &filter.agent);
    eq("model", &filter.model);
    eq("tool_name", &filter.tool);
    if let Some(k) = filter.kind {
        f.add("kind = ?", vec![b(k.code())]);
    }
    f
}

/// Aggregates of rollups per bucket of `interval_ns` (0: the whole range as one bucket) and
/// group. The latency sketches are merged only when `latency` is set.
#[allow(clippy::too_many_arguments)]
pub fn bucket_rows(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    filter: &AnalyticsFilter,
    latency: bool,
) -> Result<Vec<BucketRow>> {
    let f = rollup_filter(project, from_ns, to_ns, filter);
    let bucket = if interval_ns > 0 {
        format!("(minute_ns // {interval_ns}) * {interval_ns}")
    } else {
        "0::BIGINT".into()
    };
    let sums: Vec<String> = MEASURES
        .split(", ")
        .map(|c| format!("sum({c})::BIGINT"))
        .collect();
    let sql = format!(
        "SELECT {bucket} AS b, {} AS g, {}{} FROM rollups_minute WHERE {} GROUP BY ALL",
        group_expr(group),
        sums.join(", "),
        if latency { ", list(latency)" } else { "" },
        f.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(f.refs().as_slice())?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut agg = agg_at(r, 2)?;
        if latency {
            agg.latency = merged_sketch(r.get(13)?)?;
        }
        out.push(BucketRow {
            bucket_ns: r.get(0)?,
            group: r.get(1)?,
            agg,
        });
    }
    Ok(out)
}

/// Per-bucket aggregates of traces (their summaries) for by-user analytics: the count is of
/// traces, errors of traces with an error, durations and usage are the traces'.
pub fn user_bucket_rows(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    user: Option<&str>,
) -> Result<Vec<BucketRow>> {
    let mut f = Filter::default();
    f.add("start_ns >= ?", vec![b(from_ns)]);
    if let Some(u) = user {
        f.add("user_id = ?", vec![b(u.to_string())]);
    }
    let sql = format!(
        "SELECT (start_ns // {interval_ns}) * {interval_ns}, {}, count(*), \
         count(*) FILTER (WHERE error_count > 0), sum(coalesce(duration_ns, 0))::BIGINT, \
         sum(coalesce(input_tokens, 0))::BIGINT, sum(coalesce(output_tokens, 0))::BIGINT, \
         sum(coalesce(cache_read_tokens, 0))::BIGINT, sum(coalesce(cache_write_tokens, 0))::BIGINT, \
         sum(coalesce(reasoning_tokens, 0))::BIGINT, sum(coalesce(total_tokens, 0))::BIGINT, \
         coalesce(sum(round(cost_usd * 1e9))::BIGINT, 0), count(cost_usd) \
         FROM {} WHERE {} GROUP BY ALL",
        group_expr(group),
        latest_summaries("project_id = ? AND max_start_ns >= ? AND start_ns < ?"),
        f.sql()
    );
    let project = project.to_string();
    let mut params: Vec<&dyn ToSql> = vec![&project, &from_ns, &to_ns];
    params.extend(f.refs());
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params.as_slice(), |r| {
        Ok(BucketRow {
            bucket_ns: r.get(0)?,
            group: r.get(1)?,
            agg: agg_at(r, 2)?,
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// Distinct findings per bucket (by when their span started) and group.
pub fn finding_bucket_rows(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    filter: &AnalyticsFilter,
) -> Result<Vec<BucketRow>> {
    let mut f = Filter::default();
    f.add("project_id = ?", vec![b(project.to_string())]);
    f.add("time_ns >= ?", vec![b(from_ns)]);
    f.add("time_ns < ?", vec![b(to_ns)]);
    if let Some(s) = filter.min_severity {
        f.add("severity >= ?", vec![b(s.code())]);
    }
    if let Some(a) = &filter.agent {
        f.add("agent_name = ?", vec![b(a.clone())]);
    }
    if let Some(s) = &filter.service {
        f.add("service_name = ?", vec![b(s.clone())]);
    }
    let sql = format!(
        "SELECT (time_ns // {interval_ns}) * {interval_ns}, {}, count(DISTINCT id) \
         FROM findings WHERE {} GROUP BY ALL",
        group_expr(group),
        f.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(f.refs().as_slice(), |r| {
        Ok(BucketRow {
            bucket_ns: r.get(0)?,
            group: r.get(1)?,
            agg: RollupAgg {
                count: r.get(2)?,
                ..RollupAgg::default()
            },
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// The most expensive traces of the range.
pub fn top_traces(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    limit: u32,
) -> Result<Vec<TopEntry>> {
    let sql = format!(
        "SELECT replace(trace_id::VARCHAR, '-', ''), name, span_count, error_count, total_tokens, \
         cost_usd, start_ns, end_ns, duration_ns FROM {} WHERE start_ns >= ? \
         ORDER BY cost_usd DESC NULLS LAST, duration_ns DESC NULLS LAST LIMIT {limit}",
        latest_summaries("project_id = ? AND max_start_ns >= ? AND start_ns < ?"),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![project, from_ns, to_ns, from_ns], |r| {
        Ok(TopEntry {
            key: r.get(0)?,
            name: r.get(1)?,
            count: r.get(2)?,
            errors: r.get(3)?,
            error_rate: None,
            latency_p50_ms: None,
            latency_p95_ms: r.get::<_, Option<i64>>(8)?.map(|d| d as f64 / 1e6),
            tokens: r.get(4)?,
            cost_usd: r.get(5)?,
            first_ns: r.get(6)?,
            last_ns: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// Usage per user or session over the traces that started in the range, most expensive first.
#[allow(clippy::too_many_arguments)]
pub fn usage(
    conn: &Connection,
    project: &str,
    by: UsageBy,
    from_ns: Option<i64>,
    to_ns: Option<i64>,
    key: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<Usage>> {
    let col = match by {
        UsageBy::User => "user_id",
        UsageBy::Session => "session_id",
    };
    let (from, to) = (from_ns.unwrap_or(i64::MIN), to_ns.unwrap_or(i64::MAX));
    let mut f = Filter::default();
    f.add(format!("{col} IS NOT NULL"), vec![]);
    f.add("start_ns >= ?", vec![b(from)]);
    if let Some(k) = key {
        f.add(format!("{col} = ?"), vec![b(k.to_string())]);
    }
    let sessions = match by {
        UsageBy::User => "count(DISTINCT session_id)",
        UsageBy::Session => "NULL::BIGINT",
    };
    let sql = format!(
        "SELECT {col}, count(*), sum(span_count)::BIGINT, count(*) FILTER (WHERE error_count > 0), \
         sum(coalesce(input_tokens, 0))::BIGINT, sum(coalesce(output_tokens, 0))::BIGINT, \
         sum(coalesce(cache_read_tokens, 0))::BIGINT, sum(coalesce(reasoning_tokens, 0))::BIGINT, \
         sum(coalesce(total_tokens, 0))::BIGINT, sum(cost_usd), min(start_ns), \
         max(coalesce(end_ns, start_ns)), {sessions} \
         FROM {} WHERE {} GROUP BY {col} \
         ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, {col} LIMIT {limit} OFFSET {offset}",
        latest_summaries("project_id = ? AND max_start_ns >= ? AND start_ns < ?"),
        f.sql()
    );
    let project = project.to_string();
    let mut params: Vec<&dyn ToSql> = vec![&project, &from, &to];
    params.extend(f.refs());
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params.as_slice(), |r| {
        Ok(Usage {
            key: r.get(0)?,
            traces: r.get(1)?,
            spans: r.get(2)?,
            error_traces: r.get(3)?,
            input_tokens: r.get(4)?,
            output_tokens: r.get(5)?,
            cache_read_tokens: r.get(6)?,
            reasoning_tokens: r.get(7)?,
            total_tokens: r.get(8)?,
            cost_usd: r.get(9)?,
            first_ns: r.get(10)?,
            last_ns: r.get(11)?,
            sessions: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}
