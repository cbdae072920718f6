//! Read queries: traces, spans, sessions, facets and findings. Every query filters on the
//! project; span versions resolve to the latest (`LATEST_SPAN`), summaries to their highest
//! version.

use super::client::{Ch, Filter, bind_all, trace_lit};
use super::rows::{
    FINDING_COLUMNS, FindingRow, LATEST_SPAN, SPAN_COLUMNS, SPAN_OUTLINE_COLUMNS, SUMMARY_COLUMNS,
    SpanRow, SummaryRow, latest_summaries,
};
use crate::Result;
use crate::facets::MAX_FACET_VALUES;
use clickhouse::Row;
use serde::Deserialize;
use spyglass_model::query::{
    Cursor, FindingCounts, FindingQuery, Order, Page, SessionQuery, SortValue, StatusFilter,
    TraceQuery, TraceSort,
};
use spyglass_model::{
    FacetValue, Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, Tokens, TraceId,
    TraceSummary,
};

/// An exact Float64 (through its bits, so no decimal rounding on either side).
fn float_lit(x: f64) -> String {
    format!("reinterpretAsFloat64(toUInt64({}))", x.to_bits())
}

/// A WHERE clause; its `?` placeholders take `params` (strings) in order.
/// Spans that started at or after `from` (both columns: `start_ns` is exact, `start_time` is
/// in the sort key).
fn span_start_from(from: Option<i64>) -> String {
    match from {
        Some(v) if v >= 0 => {
            format!(" AND start_ns >= {v} AND start_time >= fromUnixTimestamp64Nano(toInt64({v}))")
        }
        Some(v) => format!(" AND start_ns >= {v}"),
        None => String::new(),
    }
}

/// The latest summary of a trace.
pub(super) async fn summary(
    ch: &Ch,
    project: &str,
    trace: TraceId,
) -> Result<Option<TraceSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM trace_summaries WHERE project_id = ? AND trace_id = {} \
         ORDER BY version DESC LIMIT 1",
        trace_lit(trace)
    );
    Ok(ch
        .fetch::<SummaryRow>(ch.read(&sql).bind(project))
        .await?
        .pop()
        .map(SummaryRow::into_summary))
}

/// The latest version of a trace's spans (or of one), in start order; without their payloads
/// unless `payload`.
async fn spans(
    ch: &Ch,
    project: &str,
    trace: TraceId,
    span: Option<SpanId>,
    payload: bool,
) -> Result<Vec<Span>> {
    let span_filter = span.map_or(String::new(), |s| format!("AND span_id = {}", s.as_u64()));
    let cols = if payload {
        SPAN_COLUMNS
    } else {
        SPAN_OUTLINE_COLUMNS
    };
    let sql = format!(
        "SELECT {cols} FROM spans WHERE project_id = ? AND trace_id = {} {span_filter} \
         {LATEST_SPAN}",
        trace_lit(trace)
    );
    let mut out = ch
        .fetch::<SpanRow>(ch.read(&sql).bind(project))
        .await?
        .into_iter()
        .map(SpanRow::into_span)
        .collect::<Result<Vec<_>>>()?;
    out.sort_by_key(|s| (s.start_ns, s.span_id.as_u64()));
    Ok(out)
}

pub async fn trace(
    ch: &Ch,
    project: &str,
    trace: TraceId,
    payload: bool,
) -> Result<Option<(TraceSummary, Vec<Span>)>> {
    let Some(s) = summary(ch, project, trace).await? else {
        return Ok(None);
    };
    Ok(Some((s, spans(ch, project, trace, None, payload).await?)))
}

pub async fn span(ch: &Ch, project: &str, trace: TraceId, span: SpanId) -> Result<Option<Span>> {
    Ok(spans(ch, project, trace, Some(span), true).await?.pop())
}

#[derive(Row, Deserialize)]
struct IdRow {
    trace_id: u128,
}

pub async fn linked_traces(ch: &Ch, project: &str, trace: TraceId) -> Result<Vec<TraceId>> {
    let t = trace_lit(trace);
    let sql = format!(
        "SELECT DISTINCT trace_id FROM span_links WHERE project_id = ? AND linked_trace_id = {t} \
         AND trace_id <> linked_trace_id"
    );
    let mut ids: Vec<TraceId> = ch
        .fetch::<IdRow>(ch.read(&sql).bind(project))
        .await?
        .into_iter()
        .map(|r| TraceId::from_u128(r.trace_id))
        .collect();
    ids.sort_by_key(|t| t.to_string());
    Ok(ids)
}

fn sort_key(sort: TraceSort) -> &'static str {
    match sort {
        TraceSort::StartTime => "start_ns",
        TraceSort::Duration => "coalesce(duration_ns, -1)",
        TraceSort::Cost => "coalesce(cost_usd, -1.0)",
    }
}

/// The filters of a trace list, over one summary row.
fn trace_filter(project: &str, q: &TraceQuery) -> Filter {
    let mut f = Filter::default();
    f.add("project_id = ?", [project.to_string()]);
    if let Some(v) = q.from_ns {
        f.add(format!("start_ns >= {v}"), []);
    }
    if let Some(v) = q.to_ns {
        f.add(format!("start_ns <= {v}"), []);
    }
    for (value, col) in [
        (&q.service, "services"),
        (&q.agent, "agents"),
        (&q.model, "models"),
    ] {
        if let Some(v) = value {
            f.add(format!("has({col}, ?)"), [v.clone()]);
        }
    }
    if let Some(k) = q.kind {
        f.add("has(kinds, ?)", [k.as_str().to_string()]);
    }
    for (value, col) in [
        (&q.session, "session_id"),
        (&q.user, "user_id"),
        (&q.environment, "environment"),
    ] {
        if let Some(v) = value {
            f.add(format!("{col} = ?"), [v.clone()]);
        }
    }
    match q.status {
        Some(StatusFilter::Error) => f.add("error_count > 0", []),
        Some(StatusFilter::Ok) => f.add("error_count = 0", []),
        Some(StatusFilter::Running) => f.add("running_count > 0", []),
        Some(StatusFilter::Unset) => f.add("status = 'unset'", []),
        None => {}
    }
    if let Some(v) = q.min_duration_ns {
        f.add(format!("duration_ns >= {v}"), []);
    }
    if let Some(v) = q.max_duration_ns {
        f.add(format!("duration_ns <= {v}"), []);
    }
    if let Some(v) = q.min_cost {
        f.add(format!("cost_usd >= {}", float_lit(v)), []);
    }
    // Span-level predicates: traces that have a matching span (any version). The span scan is
    // bounded below by the query's start (a trace's spans never start before the trace).
    let span_from = span_start_from(q.from_ns);
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let has = |col: &str| format!("positionCaseInsensitiveUTF8({col}, ?) > 0");
        f.add(
            format!(
                "({} OR {} OR {} OR trace_id IN (SELECT trace_id FROM spans WHERE project_id = ?{span_from} \
                 AND ({} OR {} OR {})))",
                has("name"),
                has("input_preview"),
                has("output_preview"),
                has("name"),
                has("input"),
                has("output"),
            ),
            [
                text.to_string(),
                text.to_string(),
                text.to_string(),
                project.to_string(),
                text.to_string(),
                text.to_string(),
                text.to_string(),
            ],
        );
    }
    for (key, value) in &q.attrs {
        // `attributes_map` holds each top-level value as DuckDB's `json_extract_string` reads
        // it (strings unquoted, the rest as JSON text), except JSON null, which reads as NULL
        // there and as "null" here.
        let (null_guard, null_params) = if value == "null" {
            (" AND JSONType(attributes, ?) != 'Null'", vec![key.clone()])
        } else {
            ("", vec![])
        };
        let mut params = vec![project.to_string(), key.clone(), key.clone(), value.clone()];
        params.extend(null_params);
        params.extend([
            key.clone(),
            key.clone(),
            key.clone(),
            key.clone(),
            value.clone(),
        ]);
        f.add(
            format!(
                "trace_id IN (SELECT trace_id FROM spans WHERE project_id = ?{span_from} AND \
                 ((mapContains(attributes_map, ?) AND attributes_map[?] = ?{null_guard}) OR \
                 multiIf(JSONType(resource_attributes, ?) = 'String', JSONExtractString(resource_attributes, ?), \
                 JSONType(resource_attributes, ?) = 'Null', CAST(NULL, 'Nullable(String)'), \
                 JSONExtractRaw(resource_attributes, ?)) = ?))"
            ),
            params,
        );
    }
    f
}

/// A page of traces. The filters and the sort apply to each trace's latest summary version:
/// rows must pass the filters and be their trace's highest version.
pub async fn traces(ch: &Ch, project: &str, q: &TraceQuery) -> Result<Page<TraceSummary>> {
    let mut f = trace_filter(project, q);
    let key = sort_key(q.sort);
    let (cmp, dir) = match q.order {
        Order::Desc => ("<", "DESC"),
        Order::Asc => (">", "ASC"),
    };
    if let Some(c) = q.cursor {
        let v = match c.value {
            SortValue::Int(i) => i.to_string(),
            SortValue::Float(x) => float_lit(x),
        };
        let t = trace_lit(c.trace_id);
        f.add(
            format!("({key} {cmp} {v} OR ({key} = {v} AND trace_id {cmp} {t}))"),
            [],
        );
    }
    let limit = q.effective_limit() as usize;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM trace_summaries WHERE {} AND (trace_id, version) IN \
         (SELECT trace_id, max(version) FROM trace_summaries WHERE project_id = ? GROUP BY trace_id) \
         ORDER BY {key} {dir}, trace_id {dir} LIMIT 1 BY trace_id LIMIT {}",
        f.sql(),
        limit + 1
    );
    let mut params = f.params;
    params.push(project.to_string());
    let mut items: Vec<TraceSummary> = ch
        .fetch::<SummaryRow>(bind_all(ch.read(&sql), &params))
        .await?
        .into_iter()
        .map(SummaryRow::into_summary)
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| {
            let value = match q.sort {
                TraceSort::StartTime => SortValue::Int(t.start_ns),
                TraceSort::Duration => SortValue::Int(t.duration_ns.unwrap_or(-1)),
                TraceSort::Cost => SortValue::Float(t.cost_usd.unwrap_or(-1.0)),
            };
            Cursor {
                value,
                trace_id: t.trace_id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

const SESSION_COLS: &str = "assumeNotNull(session_id), argMinIf(user_id, start_ns, user_id IS NOT NULL), \
    toInt64(count()), toInt64(sum(span_count)), toInt64(sum(error_count)), min(start_ns), max(end_ns), \
    sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), \
    sum(reasoning_tokens), sum(total_tokens), sum(cost_usd), \
    argMinIf(input_preview, start_ns, input_preview IS NOT NULL)";

#[derive(Row, Deserialize)]
struct SessionRow {
    session_id: String,
    user_id: Option<String>,
    trace_count: i64,
    span_count: i64,
    error_count: i64,
    start_ns: i64,
    end_ns: Option<i64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    total_tokens: Option<i64>,
    cost_usd: Option<f64>,
    first_input_preview: Option<String>,
}

impl SessionRow {
    fn into_session(self) -> SessionSummary {
        SessionSummary {
            session_id: self.session_id,
            user_id: self.user_id,
            trace_count: self.trace_count,
            span_count: self.span_count,
            error_count: self.error_count,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            tokens: Tokens {
                input: self.input_tokens,
                output: self.output_tokens,
                cache_read: self.cache_read_tokens,
                cache_write: self.cache_write_tokens,
                reasoning: self.reasoning_tokens,
                total: self.total_tokens,
            },
            cost_usd: self.cost_usd,
            first_input_preview: self.first_input_preview,
        }
    }
}

pub async fn sessions(ch: &Ch, project: &str, q: &SessionQuery) -> Result<Page<SessionSummary>> {
    let mut f = Filter::default();
    f.add("session_id IS NOT NULL", []);
    if let Some(u) = &q.user {
        f.add("user_id = ?", [u.clone()]);
    }
    let mut having = Vec::new();
    let mut having_params = Vec::new();
    if let Some(v) = q.from_ns {
        having.push(format!("min(start_ns) >= {v}"));
    }
    if let Some(v) = q.to_ns {
        having.push(format!("min(start_ns) <= {v}"));
    }
    if let Some((start, id)) = &q.cursor {
        having.push(format!(
            "(min(start_ns) < {start} OR (min(start_ns) = {start} AND assumeNotNull(session_id) < ?))"
        ));
        having_params.push(id.clone());
    }
    let limit = match q.limit {
        0 => spyglass_model::query::DEFAULT_LIMIT,
        n => n.min(spyglass_model::query::MAX_LIMIT),
    } as usize;
    let having_sql = if having.is_empty() {
        String::new()
    } else {
        format!("HAVING {}", having.join(" AND "))
    };
    let sql = format!(
        "SELECT {SESSION_COLS} FROM {} WHERE {} GROUP BY session_id {having_sql} \
         ORDER BY min(start_ns) DESC, assumeNotNull(session_id) DESC LIMIT {}",
        latest_summaries("project_id = ?"),
        f.sql(),
        limit + 1
    );
    let mut params = vec![project.to_string()];
    params.extend(f.params);
    params.extend(having_params);
    let mut items: Vec<SessionSummary> = ch
        .fetch::<SessionRow>(bind_all(ch.read(&sql), &params))
        .await?
        .into_iter()
        .map(SessionRow::into_session)
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items
            .last()
            .map(|s| spyglass_model::query::encode_session_cursor(s.start_ns, &s.session_id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub async fn session(ch: &Ch, project: &str, id: &str) -> Result<Option<SessionDetail>> {
    // Only traces that ever had the session can have it in their latest version.
    let inner = "project_id = ? AND trace_id IN (SELECT trace_id FROM trace_summaries \
                 WHERE project_id = ? AND session_id = ?)";
    let params = [
        project.to_string(),
        project.to_string(),
        id.to_string(),
        id.to_string(),
    ];
    let sql = format!(
        "SELECT {SESSION_COLS} FROM {} WHERE session_id = ? GROUP BY session_id",
        latest_summaries(inner)
    );
    let Some(session) = ch
        .fetch::<SessionRow>(bind_all(ch.read(&sql), &params))
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM {} WHERE session_id = ? ORDER BY start_ns, trace_id LIMIT 10000",
        latest_summaries(inner)
    );
    let traces = ch
        .fetch::<SummaryRow>(bind_all(ch.read(&sql), &params))
        .await?
        .into_iter()
        .map(SummaryRow::into_summary)
        .collect();
    Ok(Some(SessionDetail {
        session: session.into_session(),
        traces,
    }))
}

#[derive(Row, Deserialize)]
struct FacetRow {
    f: String,
    v: String,
    n: i64,
}

pub async fn facets(
    ch: &Ch,
    project: &str,
    from_ns: Option<i64>,
    to_ns: Option<i64>,
) -> Result<Facets> {
    let mut inner = "project_id = ?".to_string();
    let mut outer = "1".to_string();
    if let Some(lo) = from_ns {
        inner.push_str(&format!(" AND max_start_ns >= {lo}"));
        outer = format!("start_ns >= {lo}");
    }
    if let Some(hi) = to_ns {
        inner.push_str(&format!(" AND start_ns <= {hi}"));
    }
    let list = |name: &str| format!("arrayMap(x -> ('{name}', x), {name})");
    let scalar = |name: &str, col: &str| {
        format!("if({col} IS NULL, [], [('{name}', assumeNotNull({col}))])")
    };
    // One pass over the latest summaries in the window, every facet from it.
    let sql = format!(
        "SELECT fv.1 AS f, fv.2 AS v, toInt64(count()) AS n FROM {} ARRAY JOIN \
         arrayConcat({}, {}, {}, {}, {}, {}) AS fv WHERE {outer} GROUP BY f, v \
         ORDER BY f, n DESC, v LIMIT {MAX_FACET_VALUES} BY f",
        latest_summaries(&inner),
        list("services"),
        list("agents"),
        list("models"),
        list("kinds"),
        scalar("users", "user_id"),
        scalar("environments", "environment"),
    );
    let rows = ch.fetch::<FacetRow>(ch.read(&sql).bind(project)).await?;
    let mut facets = Facets::default();
    for r in rows {
        let slot = match r.f.as_str() {
            "services" => &mut facets.services,
            "agents" => &mut facets.agents,
            "models" => &mut facets.models,
            "kinds" => &mut facets.kinds,
            "users" => &mut facets.users,
            _ => &mut facets.environments,
        };
        if slot.len() < MAX_FACET_VALUES {
            slot.push(FacetValue {
                value: r.v,
                count: r.n,
            });
        }
    }
    Ok(facets)
}

/// The filter of a findings query, over the `findings` table.
fn finding_filter(project: &str, q: &FindingQuery) -> Filter {
    let mut f = Filter::default();
    f.add("project_id = ?", [project.to_string()]);
    if let Some(lo) = q.from_ns {
        f.add(format!("time_ns >= {lo}"), []);
    }
    if let Some(hi) = q.to_ns {
        f.add(format!("time_ns <= {hi}"), []);
    }
    let codes = |v: Vec<u8>| {
        v.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !q.severities.is_empty() {
        f.add(
            format!(
                "severity IN ({})",
                codes(q.severities.iter().map(|s| s.code()).collect())
            ),
            [],
        );
    }
    if let Some(min) = q.min_severity {
        f.add(format!("severity >= {}", min.code()), []);
    }
    if !q.categories.is_empty() {
        f.add(
            format!(
                "category IN ({})",
                codes(q.categories.iter().map(|c| c.code()).collect())
            ),
            [],
        );
    }
    match q.detector.as_deref() {
        Some(d) if d.ends_with('.') => f.add("startsWith(detector, ?)", [d.to_string()]),
        Some(d) => f.add("detector = ?", [d.to_string()]),
        None => {}
    }
    if let Some(a) = &q.agent {
        f.add("agent_name = ?", [a.clone()]);
    }
    if let Some(s) = &q.service {
        f.add("service_name = ?", [s.clone()]);
    }
    if let Some(s) = &q.session {
        f.add("session_id = ?", [s.clone()]);
    }
    if let Some(t) = q.trace_id {
        f.add(format!("trace_id = {}", trace_lit(t)), []);
    }
    f
}

/// The latest version (by receipt) of each finding among the rows `filter` selects.
fn latest_findings(filter: &str) -> String {
    format!(
        "(SELECT {FINDING_COLUMNS} FROM findings WHERE {filter} \
         ORDER BY id, received_ns DESC LIMIT 1 BY id)"
    )
}

/// Findings newest first; each detection once, from the latest version of its span.
pub async fn findings(ch: &Ch, project: &str, q: &FindingQuery) -> Result<Page<SpanFinding>> {
    let mut f = finding_filter(project, q);
    if let Some((t, id)) = q.cursor {
        f.add(format!("(time_ns, id) < ({t}, {id})"), []);
    }
    let limit = q.effective_limit() as usize;
    let sql = format!(
        "SELECT {FINDING_COLUMNS} FROM {} ORDER BY time_ns DESC, id DESC LIMIT {}",
        latest_findings(&f.sql()),
        limit + 1
    );
    let mut items = ch
        .fetch::<FindingRow>(bind_all(ch.read(&sql), &f.params))
        .await?
        .into_iter()
        .map(FindingRow::into_finding)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items
            .last()
            .map(|l| spyglass_model::query::encode_finding_cursor(l.time_ns, l.id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[derive(Row, Deserialize)]
struct CountRow {
    f: String,
    v: Option<String>,
    n: i64,
}

/// Distinct findings by severity, category, detector and agent, most frequent first.
pub async fn finding_counts(
    ch: &Ch,
    project: &str,
    from_ns: Option<i64>,
    to_ns: Option<i64>,
) -> Result<FindingCounts> {
    let q = FindingQuery {
        from_ns,
        to_ns,
        ..FindingQuery::default()
    };
    let f = finding_filter(project, &q);
    let group = |name: &str, col: &str| {
        format!(
            "SELECT '{name}' AS f, toNullable(toString(assumeNotNull({col}))) AS v, toInt64(count()) AS n \
             FROM t WHERE {col} IS NOT NULL GROUP BY {col}"
        )
    };
    let sql = format!(
        "WITH t AS (SELECT trace_id, severity, category, detector, agent_name FROM {}) \
         SELECT f, v, n FROM (\
         SELECT 'total' AS f, CAST(NULL, 'Nullable(String)') AS v, toInt64(count()) AS n FROM t \
         UNION ALL SELECT 'traces', CAST(NULL, 'Nullable(String)'), toInt64(uniqExact(trace_id)) FROM t \
         UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {}) ORDER BY f, n DESC, v",
        latest_findings(&f.sql()),
        group("severity", "severity"),
        group("category", "category"),
        group("detector", "detector"),
        group("agent", "agent_name"),
    );
    let rows = ch
        .fetch::<CountRow>(bind_all(ch.read(&sql), &f.params))
        .await?;
    crate::facets::finding_counts_of(rows.into_iter().map(|r| (r.f, r.v, r.n)))
}
