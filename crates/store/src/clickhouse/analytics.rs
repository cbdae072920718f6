//! Analytics over the rollups (timeseries, top lists, usage) and the inventory queries
//! (topology rows, agent versions, attack evidence, agent identities, tool descriptions,
//! guardrails).
//!
//! Ports of the DuckDB queries (`duckdb::rollups`, `topology`, `versions`, `guardrails`),
//! with the backend-independent assembly (`crate::analytics`, `topology`, `attack`,
//! `versions`) shared. Rollup rows are deltas merged lazily by ClickHouse, so every read sums
//! them (`GROUP BY` + `sum`, latency buckets through `sumMap`); span versions resolve with
//! `LATEST_SPAN`, trace summaries to their highest version.

use super::client::{Ch, Filter};
use super::rows::{LATEST_SPAN, latest_summaries};
use crate::analytics::{self as shared, BucketRow};
use crate::attack::{EvFinding, EvSpan, TraceEvidence};
use crate::guardrails::{Check, aggregate};
use crate::rollup::{MINUTE_NS, RollupAgg};
use crate::sketch::Sketch;
use crate::topology::{AgentIdentity, TopoRow};
use crate::versions::{agent_version, history};
use crate::{Result, StoreError};
use clickhouse::Row;
use serde::Deserialize;
use spyglass_model::analytics::{
    AnalyticsFilter, GroupBy, Metric, Timeseries, TimeseriesQuery, TopEntry, TopKind, TopQuery,
    Usage, UsageBy, UsageQuery,
};
use spyglass_model::finding::{Category, Severity, Vector};
use spyglass_model::topology::{AgentVersion, Guardrail};
use spyglass_model::{SpanId, SpanKind, Status, TraceId};
use std::collections::HashMap;

/// The label of a group, as `Nullable(String)`.
fn group_expr(g: Option<GroupBy>) -> String {
    let e = match g {
        None => "NULL".into(),
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
        Some(GroupBy::Status) => "if(is_error, 'error', 'ok')".into(),
        Some(GroupBy::User) => "user_id".into(),
    };
    format!("CAST({e}, 'Nullable(String)')")
}

/// The sums of the rollup measures, in the order of [`Measures`].
const SUMS: &str = "toInt64(sum(span_count)), toInt64(sum(error_count)), \
    toInt64(sum(duration_ns)), toInt64(sum(input_tokens)), toInt64(sum(output_tokens)), \
    toInt64(sum(cache_read_tokens)), toInt64(sum(cache_write_tokens)), \
    toInt64(sum(reasoning_tokens)), toInt64(sum(total_tokens)), toInt64(sum(cost_nano_usd)), \
    toInt64(sum(priced))";

/// The merged latency sketch of the rows (zero bucket, then the other buckets' counts).
const LATENCY: &str = "toInt64(sum(latency_zero)), sumMap(latency_bins)";

/// No latency sketch (when the metric needs none).
const NO_LATENCY: &str = "toInt64(0), (CAST([], 'Array(Int16)'), CAST([], 'Array(Int64)'))";

/// The measures of an aggregate as read back ([`SUMS`], then the sketch): a nested struct is
/// read as its fields in order.
#[derive(Deserialize)]
struct Measures {
    count: i64,
    errors: i64,
    duration_ns: i64,
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
    reasoning: i64,
    total: i64,
    cost_nano_usd: i64,
    priced: i64,
    latency_zero: i64,
    latency_bins: (Vec<i16>, Vec<i64>),
}

impl Measures {
    fn into_agg(self) -> RollupAgg {
        let (buckets, counts) = self.latency_bins;
        RollupAgg {
            count: self.count,
            errors: self.errors,
            duration_ns: self.duration_ns,
            tokens: [
                self.input,
                self.output,
                self.cache_read,
                self.cache_write,
                self.reasoning,
                self.total,
            ],
            cost_nano_usd: self.cost_nano_usd,
            priced: self.priced,
            latency: Sketch::from_parts(self.latency_zero, buckets.into_iter().zip(counts)),
        }
    }
}

#[derive(Row, Deserialize)]
struct Bucket {
    bucket_ns: i64,
    group: Option<String>,
    m: Measures,
}

fn rollup_filter(project: &str, from_ns: i64, to_ns: i64, filter: &AnalyticsFilter) -> Filter {
    let mut w = Filter::default();
    w.eq("project_id", project);
    w.add(format!("minute_ns >= {from_ns}"), []);
    w.add(format!("minute_ns < {to_ns}"), []);
    for (col, v) in [
        ("service_name", &filter.service),
        ("agent_name", &filter.agent),
        ("model", &filter.model),
        ("tool_name", &filter.tool),
    ] {
        if let Some(v) = v {
            w.eq(col, v);
        }
    }
    if let Some(k) = filter.kind {
        w.add(format!("kind = {}", k.code()), []);
    }
    w
}

fn bucket_expr(col: &str, interval_ns: i64) -> String {
    if interval_ns > 0 {
        format!("toInt64(intDiv({col}, {interval_ns}) * {interval_ns})")
    } else {
        "toInt64(0)".into()
    }
}

/// Aggregates of rollups per bucket of `interval_ns` (0: the whole range as one bucket) and
/// group. The latency sketches are merged only when `latency` is set.
#[allow(clippy::too_many_arguments)]
async fn bucket_rows(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    filter: &AnalyticsFilter,
    latency: bool,
) -> Result<Vec<BucketRow>> {
    let w = rollup_filter(project, from_ns, to_ns, filter);
    let sql = format!(
        "SELECT {} AS b, {} AS g, {SUMS}, {} FROM rollups_minute WHERE {} GROUP BY b, g",
        bucket_expr("minute_ns", interval_ns),
        group_expr(group),
        if latency { LATENCY } else { NO_LATENCY },
        w.sql()
    );
    let rows = ch.fetch::<Bucket>(w.bind(ch.read(&sql))).await?;
    Ok(rows
        .into_iter()
        .map(|r| BucketRow {
            bucket_ns: r.bucket_ns,
            group: r.group,
            agg: r.m.into_agg(),
        })
        .collect())
}

/// The latest summary of every trace that has a version overlapping `[from_ns, to_ns)`
/// (binds the project twice); the caller keeps those whose latest version started in the
/// range. Summaries are versioned and merged lazily: a stale version must not be read.
fn summaries_overlapping(from_ns: i64, to_ns: i64) -> String {
    latest_summaries(&format!(
        "project_id = ? AND trace_id IN (SELECT trace_id FROM trace_summaries \
         WHERE project_id = ? AND max_start_ns >= {from_ns} AND start_ns < {to_ns})"
    ))
}

/// `round(cost_usd * 1e9)` half away from zero (as Rust and DuckDB round; ClickHouse rounds
/// floats half to even), as Int64.
const COST_NANO: &str = "toInt64(trunc(cost_usd * 1e9) + \
    if(abs(cost_usd * 1e9 - trunc(cost_usd * 1e9)) >= 0.5, sign(cost_usd * 1e9), 0))";

/// Per-bucket aggregates of traces (their summaries) for by-user analytics: the count is of
/// traces, errors of traces with an error, durations and usage are the traces'.
async fn user_bucket_rows(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    user: Option<&str>,
) -> Result<Vec<BucketRow>> {
    let mut w = Filter::default();
    w.add(format!("start_ns >= {from_ns}"), []);
    w.add(format!("start_ns < {to_ns}"), []);
    w.add(format!("max_start_ns >= {from_ns}"), []);
    if let Some(u) = user {
        w.eq("user_id", u);
    }
    let sql = format!(
        "SELECT {} AS b, {} AS g, toInt64(count()), toInt64(countIf(error_count > 0)), \
         toInt64(sum(coalesce(duration_ns, 0))), toInt64(sum(coalesce(input_tokens, 0))), \
         toInt64(sum(coalesce(output_tokens, 0))), toInt64(sum(coalesce(cache_read_tokens, 0))), \
         toInt64(sum(coalesce(cache_write_tokens, 0))), toInt64(sum(coalesce(reasoning_tokens, 0))), \
         toInt64(sum(coalesce(total_tokens, 0))), toInt64(coalesce(sum({COST_NANO}), 0)), \
         toInt64(count(cost_usd)), {NO_LATENCY} \
         FROM {} WHERE {} GROUP BY b, g",
        bucket_expr("start_ns", interval_ns),
        group_expr(group),
        summaries_overlapping(from_ns, to_ns),
        w.sql()
    );
    let q = w.bind(ch.read(&sql).bind(project).bind(project));
    Ok(ch
        .fetch::<Bucket>(q)
        .await?
        .into_iter()
        .map(|r| BucketRow {
            bucket_ns: r.bucket_ns,
            group: r.group,
            agg: r.m.into_agg(),
        })
        .collect())
}

#[derive(Row, Deserialize)]
struct FindingBucket {
    bucket_ns: i64,
    group: Option<String>,
    count: i64,
}

/// Distinct findings per bucket (by when their span started) and group.
async fn finding_bucket_rows(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    interval_ns: i64,
    group: Option<GroupBy>,
    filter: &AnalyticsFilter,
) -> Result<Vec<BucketRow>> {
    let mut w = Filter::default();
    w.eq("project_id", project);
    w.add(format!("time_ns >= {from_ns}"), []);
    w.add(format!("time_ns < {to_ns}"), []);
    if let Some(s) = filter.min_severity {
        w.add(format!("severity >= {}", s.code()), []);
    }
    if let Some(a) = &filter.agent {
        w.eq("agent_name", a);
    }
    if let Some(s) = &filter.service {
        w.eq("service_name", s);
    }
    let sql = format!(
        "SELECT {} AS b, {} AS g, toInt64(uniqExact(id)) FROM findings WHERE {} GROUP BY b, g",
        bucket_expr("time_ns", interval_ns),
        group_expr(group),
        w.sql()
    );
    Ok(ch
        .fetch::<FindingBucket>(w.bind(ch.read(&sql)))
        .await?
        .into_iter()
        .map(|r| BucketRow {
            bucket_ns: r.bucket_ns,
            group: r.group,
            agg: RollupAgg {
                count: r.count,
                ..RollupAgg::default()
            },
        })
        .collect())
}

pub async fn timeseries(ch: &Ch, project: &str, q: &TimeseriesQuery) -> Result<Timeseries> {
    shared::check_timeseries(q)?;
    let from = q.bucket_of(q.from_ns);
    let w = q.interval_s * 1_000_000_000;
    let rows = if q.metric == Metric::Findings {
        finding_bucket_rows(ch, project, from, q.to_ns, w, q.group_by, &q.filter).await?
    } else if q.group_by == Some(GroupBy::User) || q.filter.user.is_some() {
        user_bucket_rows(
            ch,
            project,
            from,
            q.to_ns,
            w,
            q.group_by,
            q.filter.user.as_deref(),
        )
        .await?
    } else {
        let latency = q.metric.quantile().is_some();
        bucket_rows(
            ch, project, from, q.to_ns, w, q.group_by, &q.filter, latency,
        )
        .await?
    };
    Ok(shared::timeseries(q, rows))
}

#[derive(Row, Deserialize)]
struct TopTrace {
    trace_id: u128,
    name: String,
    span_count: i64,
    error_count: i64,
    total_tokens: Option<i64>,
    cost_usd: Option<f64>,
    start_ns: i64,
    end_ns: Option<i64>,
    duration_ns: Option<i64>,
}

/// The most expensive traces of the range.
async fn top_traces(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    limit: u32,
) -> Result<Vec<TopEntry>> {
    let sql = format!(
        "SELECT trace_id, name, span_count, error_count, total_tokens, cost_usd, start_ns, end_ns, \
         duration_ns FROM {} WHERE start_ns >= {from_ns} AND start_ns < {to_ns} \
         AND max_start_ns >= {from_ns} \
         ORDER BY cost_usd DESC NULLS LAST, duration_ns DESC NULLS LAST LIMIT {limit}",
        summaries_overlapping(from_ns, to_ns),
    );
    let rows = ch
        .fetch::<TopTrace>(ch.read(&sql).bind(project).bind(project))
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| TopEntry {
            key: TraceId::from_u128(r.trace_id).to_string(),
            name: Some(r.name),
            count: r.span_count,
            errors: r.error_count,
            error_rate: None,
            latency_p50_ms: None,
            latency_p95_ms: r.duration_ns.map(|d| d as f64 / 1e6),
            tokens: r.total_tokens,
            cost_usd: r.cost_usd,
            first_ns: Some(r.start_ns),
            last_ns: r.end_ns,
        })
        .collect())
}

#[derive(Row, Deserialize)]
struct UsageRow {
    key: String,
    traces: i64,
    spans: i64,
    error_traces: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    reasoning_tokens: i64,
    total_tokens: i64,
    cost_usd: Option<f64>,
    first_ns: i64,
    last_ns: i64,
    sessions: Option<i64>,
}

/// Usage per user or session over the traces that started in the range, most expensive first.
#[allow(clippy::too_many_arguments)]
async fn usage_rows(
    ch: &Ch,
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
    let mut w = Filter::default();
    w.add(format!("{col} IS NOT NULL"), []);
    w.add(format!("start_ns >= {from}"), []);
    w.add(format!("start_ns < {to}"), []);
    w.add(format!("max_start_ns >= {from}"), []);
    if let Some(k) = key {
        w.eq(col, k);
    }
    let sessions = match by {
        UsageBy::User => "CAST(toInt64(uniqExact(session_id)), 'Nullable(Int64)')",
        UsageBy::Session => "CAST(NULL, 'Nullable(Int64)')",
    };
    let sql = format!(
        "SELECT assumeNotNull({col}) AS k, toInt64(count()) AS n, toInt64(sum(span_count)), \
         toInt64(countIf(error_count > 0)), toInt64(sum(coalesce(input_tokens, 0))), \
         toInt64(sum(coalesce(output_tokens, 0))), toInt64(sum(coalesce(cache_read_tokens, 0))), \
         toInt64(sum(coalesce(reasoning_tokens, 0))), toInt64(sum(coalesce(total_tokens, 0))), \
         sum(cost_usd) AS c, min(start_ns), max(coalesce(end_ns, start_ns)), {sessions} \
         FROM {} WHERE {} GROUP BY k \
         ORDER BY c DESC NULLS LAST, n DESC, k LIMIT {limit} OFFSET {offset}",
        summaries_overlapping(from, to),
        w.sql()
    );
    let q = w.bind(ch.read(&sql).bind(project).bind(project));
    Ok(ch
        .fetch::<UsageRow>(q)
        .await?
        .into_iter()
        .map(|r| Usage {
            key: r.key,
            traces: r.traces,
            spans: r.spans,
            error_traces: r.error_traces,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cache_read_tokens: r.cache_read_tokens,
            reasoning_tokens: r.reasoning_tokens,
            total_tokens: r.total_tokens,
            cost_usd: r.cost_usd,
            first_ns: r.first_ns,
            last_ns: r.last_ns,
            sessions: r.sessions,
        })
        .collect())
}

pub async fn top(ch: &Ch, project: &str, q: &TopQuery) -> Result<Vec<TopEntry>> {
    let from = q.from_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
    let by = match (shared::top_dimension(q.kind), q.kind) {
        (Some(dim), _) => {
            let rows =
                bucket_rows(ch, project, from, q.to_ns, 0, Some(dim), &q.filter, true).await?;
            return Ok(shared::rank(q, rows));
        }
        (None, TopKind::Traces) => {
            return top_traces(ch, project, q.from_ns, q.to_ns, q.limit).await;
        }
        (None, TopKind::Sessions) => UsageBy::Session,
        (None, _) => UsageBy::User,
    };
    let usage = usage_rows(
        ch,
        project,
        by,
        Some(q.from_ns),
        Some(q.to_ns),
        None,
        q.limit,
        0,
    )
    .await?;
    Ok(usage.into_iter().map(shared::usage_entry).collect())
}

pub async fn usage(ch: &Ch, project: &str, q: &UsageQuery) -> Result<Vec<Usage>> {
    let limit = match q.limit {
        0 => spyglass_model::query::DEFAULT_LIMIT,
        n => n.min(spyglass_model::query::MAX_LIMIT),
    };
    usage_rows(
        ch,
        project,
        q.by,
        q.from_ns,
        q.to_ns,
        q.key.as_deref(),
        limit,
        q.offset,
    )
    .await
}

#[derive(Row, Deserialize)]
struct Topo {
    service: String,
    agent: Option<String>,
    caller: Option<String>,
    kind: u8,
    tool: Option<String>,
    model: Option<String>,
    m: Measures,
    first_ns: i64,
    last_ns: i64,
}

pub async fn topology_rows(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<TopoRow>> {
    let from = from_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
    let sql = format!(
        "SELECT service_name AS s, agent_name AS a, caller AS c, kind AS k, tool_name AS t, \
         model AS m, {SUMS}, {LATENCY}, min(minute_ns), max(minute_ns) FROM rollups_minute \
         WHERE project_id = ? AND minute_ns >= {from} AND minute_ns < {to_ns} \
         GROUP BY s, a, c, k, t, m"
    );
    let rows = ch.fetch::<Topo>(ch.read(&sql).bind(project)).await?;
    let mut out = Vec::new();
    for r in rows {
        let agg = r.m.into_agg();
        if agg.count == 0 && agg.tokens == [0; 6] {
            continue;
        }
        out.push(TopoRow {
            service: r.service,
            agent: r.agent,
            caller: r.caller,
            kind: SpanKind::from_code(r.kind).unwrap_or(SpanKind::Other),
            tool: r.tool,
            model: r.model,
            agg,
            first_ns: r.first_ns,
            last_ns: r.last_ns + MINUTE_NS,
        });
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct VersionRow {
    fingerprint: u64,
    tools: String,
    models: String,
    system_prompt_hash: Option<u64>,
    first_seen_ns: i64,
    last_seen_ns: i64,
    runs: i64,
}

/// The rows of `agent_versions` are deltas: summed per fingerprint, the versions whose runs
/// net out dropped.
pub async fn agent_versions(ch: &Ch, project: &str, agent: &str) -> Result<Vec<AgentVersion>> {
    let sql = "SELECT fingerprint, any(tools), any(models), any(system_prompt_hash), \
         min(first_seen_ns), max(last_seen_ns), toInt64(sum(runs)) \
         FROM agent_versions WHERE project_id = ? AND agent = ? \
         GROUP BY fingerprint HAVING sum(runs) > 0";
    let rows = ch
        .fetch::<VersionRow>(ch.read(sql).bind(project).bind(agent))
        .await?;
    let list = |text: &str| -> Result<Vec<String>> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            column: "agent_versions.tools",
            message: e.to_string(),
        })
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(agent_version(
            r.fingerprint,
            list(&r.tools)?,
            list(&r.models)?,
            r.system_prompt_hash,
            r.first_seen_ns,
            r.last_seen_ns,
            r.runs,
        ));
    }
    Ok(history(out))
}

#[derive(Row, Deserialize)]
struct EvSpanRow {
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
    kind: String,
    name: String,
    agent_name: Option<String>,
    tool_name: Option<String>,
    start_ns: i64,
    end_ns: Option<i64>,
}

#[derive(Row, Deserialize)]
struct EvFindingRow {
    trace_id: u128,
    span_id: u64,
    id: u64,
    severity: u8,
    vector: Option<u8>,
}

/// See `Store::attack_evidence`.
pub async fn attack_evidence(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    sink_tools: &[String],
    max_traces: usize,
) -> Result<Vec<TraceEvidence>> {
    if sink_tools.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; sink_tools.len()].join(", ");
    // Binds: the project, then the candidates' project and sinks.
    let cand = format!(
        "SELECT trace_id FROM spans WHERE project_id = ? AND start_ns >= {from_ns} \
         AND start_ns < {to_ns} AND kind = '{}' AND tool_name IN ({marks}) GROUP BY trace_id \
         ORDER BY max(start_ns) DESC LIMIT {max_traces}",
        SpanKind::Tool.as_str()
    );
    let bind = |sql: &str| {
        let mut q = ch.read(sql).bind(project).bind(project);
        for s in sink_tools {
            q = q.bind(s.as_str());
        }
        q
    };
    let sql = format!(
        "SELECT trace_id, span_id, parent_span_id, kind, name, agent_name, tool_name, start_ns, \
         end_ns FROM spans WHERE project_id = ? AND trace_id IN ({cand}) {LATEST_SPAN}"
    );
    let mut traces: HashMap<TraceId, TraceEvidence> = HashMap::new();
    for r in ch.fetch::<EvSpanRow>(bind(&sql)).await? {
        let trace_id = TraceId::from_u128(r.trace_id);
        let t = traces.entry(trace_id).or_insert_with(|| TraceEvidence {
            trace_id,
            spans: Vec::new(),
            injections: Vec::new(),
        });
        t.spans.push(EvSpan {
            span_id: SpanId::from_u64(r.span_id),
            parent: r.parent_span_id.map(SpanId::from_u64),
            kind: SpanKind::parse(&r.kind).unwrap_or(SpanKind::Other),
            name: r.name,
            agent_name: r.agent_name,
            tool_name: r.tool_name,
            start_ns: r.start_ns,
            end_ns: r.end_ns,
        });
    }
    let sql = format!(
        "SELECT trace_id, span_id, id, severity, vector FROM findings \
         WHERE project_id = ? AND trace_id IN ({cand}) AND category = {} LIMIT 1 BY id",
        Category::PromptInjection.code()
    );
    for r in ch.fetch::<EvFindingRow>(bind(&sql)).await? {
        if let Some(t) = traces.get_mut(&TraceId::from_u128(r.trace_id)) {
            t.injections.push(EvFinding {
                span_id: SpanId::from_u64(r.span_id),
                id: r.id,
                severity: Severity::from_code(r.severity).unwrap_or(Severity::Medium),
                vector: r.vector.and_then(Vector::from_code),
            });
        }
    }
    Ok(traces.into_values().collect())
}

#[derive(Row, Deserialize)]
struct IdentityRow {
    agent: String,
    agent_id: Option<String>,
    scope: String,
    conventions: u16,
    runs: i64,
}

/// See `Store::agent_identities`. Each agent span counts once, in its latest version.
pub async fn agent_identities(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<AgentIdentity>> {
    let sql = format!(
        "SELECT coalesce(agent_name, name) AS a, agent_id AS i, toString(scope_name) AS s, \
         conventions AS c, toInt64(count()) FROM \
         (SELECT trace_id, span_id, name, agent_name, agent_id, scope_name, conventions FROM spans \
          WHERE project_id = ? AND start_ns >= {from_ns} AND start_ns < {to_ns} AND kind = '{}' \
          {LATEST_SPAN}) \
         GROUP BY a, i, s, c",
        SpanKind::Agent.as_str()
    );
    Ok(ch
        .fetch::<IdentityRow>(ch.read(&sql).bind(project))
        .await?
        .into_iter()
        .map(|r| AgentIdentity {
            agent: r.agent,
            agent_id: r.agent_id,
            scope: r.scope,
            conventions: spyglass_model::Conventions::from_bits(r.conventions),
            runs: r.runs,
        })
        .collect())
}

#[derive(Row, Deserialize)]
struct ToolAttributes {
    tool: String,
    attributes: String,
}

/// See `Store::tool_descriptions`.
pub async fn tool_descriptions(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<(String, String)>> {
    // One attribute text per tool (its latest call's, of that span's latest version), parsed
    // once.
    let sql = format!(
        "SELECT assumeNotNull(tool_name) AS t, \
         argMax(attributes, (start_ns, end_ns IS NOT NULL, received_ns)) FROM spans \
         WHERE project_id = ? AND start_ns >= {from_ns} AND start_ns < {to_ns} AND kind = '{}' \
         AND tool_name IS NOT NULL GROUP BY t",
        SpanKind::Tool.as_str()
    );
    let mut out = Vec::new();
    for r in ch
        .fetch::<ToolAttributes>(ch.read(&sql).bind(project))
        .await?
    {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&r.attributes) else {
            continue;
        };
        let description = ["gen_ai.tool.description", "tool.description"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()));
        if let Some(d) = description {
            out.push((r.tool, d.to_string()));
        }
    }
    Ok(out)
}

/// The parent of a guardrail span is looked for this far before the window.
const PARENT_SLACK_NS: i64 = 3_600_000_000_000;

#[derive(Row, Deserialize)]
struct GuardRow {
    name: String,
    agent_name: Option<String>,
    attributes: String,
    status: String,
    duration_ns: i64,
    start_ns: i64,
    parent_agent: Option<String>,
}

/// A top-level attribute as `json_extract_string` reads it: strings as they are, other values
/// as JSON, JSON `null` and a missing key as `None`.
fn attr(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// See `Store::guardrails`: guardrail spans of every convention (our SDK's guard checks,
/// TraceCtrl's evaluations, OpenInference and Langfuse guardrail spans) in the window,
/// grouped by guardrail and agent, with their decisions.
pub async fn guardrails(
    ch: &Ch,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<Guardrail>> {
    let guard = SpanKind::Guardrail.as_str();
    let g = format!(
        "SELECT trace_id, span_id, parent_span_id, name, agent_name, attributes, status, \
         coalesce(duration_ns, 0) AS dur, start_ns FROM spans \
         WHERE project_id = ? AND start_ns >= {from_ns} AND start_ns < {to_ns} AND kind = '{guard}' \
         {LATEST_SPAN}"
    );
    // The parents (latest versions) of the window's guardrail spans: any span of their traces
    // that started up to the slack before the window.
    let p = format!(
        "SELECT trace_id, span_id, if(kind = '{}', coalesce(agent_name, name), agent_name) AS label \
         FROM spans WHERE project_id = ? AND start_ns >= {} AND start_ns < {to_ns} \
         AND trace_id IN (SELECT trace_id FROM spans WHERE project_id = ? AND start_ns >= {from_ns} \
         AND start_ns < {to_ns} AND kind = '{guard}') {LATEST_SPAN}",
        SpanKind::Agent.as_str(),
        from_ns.saturating_sub(PARENT_SLACK_NS),
    );
    let sql = format!(
        "SELECT g.name, g.agent_name, g.attributes, toString(g.status), g.dur, g.start_ns, \
         p.label FROM ({g}) AS g LEFT JOIN ({p}) AS p \
         ON p.trace_id = g.trace_id AND p.span_id = g.parent_span_id \
         SETTINGS join_use_nulls = 1"
    );
    let rows = ch
        .fetch::<GuardRow>(ch.read(&sql).bind(project).bind(project).bind(project))
        .await?;
    let checks = rows
        .into_iter()
        .map(|r| {
            let map = match serde_json::from_str(&r.attributes) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            let decision = attr(&map, "spyglass.guard.action")
                .or_else(|| attr(&map, "tracectrl.guardrail.decision"))
                .or_else(|| attr(&map, "guardrail.decision"))
                .map(|d| d.to_lowercase());
            Check {
                name: attr(&map, "tracectrl.guardrail.name").unwrap_or(r.name),
                agent: r
                    .agent_name
                    .or_else(|| attr(&map, "spyglass.guard.agent"))
                    .or(r.parent_agent),
                decision: decision.unwrap_or_else(|| "unknown".into()),
                error: r.status == Status::Error.as_str(),
                duration_ns: r.duration_ns,
                start_ns: r.start_ns,
            }
        })
        .collect();
    Ok(aggregate(checks, from_ns, to_ns))
}
