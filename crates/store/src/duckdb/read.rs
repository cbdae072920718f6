//! Read queries. Every query filters on the project. Spans are located through their trace
//! summary's start range, so DuckDB's per-row-group min/max on `start_ns` skips almost all of
//! a large table (spans arrive roughly in time order); versions resolve to the latest.

use super::arrow::uuid_text;
use crate::facets::MAX_FACET_VALUES;
use crate::{Result, StoreError};
use duckdb::types::ToSql;
use duckdb::{Connection, Row};
use spyglass_model::query::{
    Cursor, FindingCounts, FindingQuery, Order, Page, SessionQuery, SortValue, StatusFilter,
    TraceQuery, TraceSort,
};
use spyglass_model::{
    Category, Conventions, CostSource, Encoding, FacetValue, Facets, Field, Finding, JsonText,
    OtelKind, SessionDetail, SessionSummary, Severity, Span, SpanFinding, SpanId, SpanKind, Status,
    Tokens, TraceId, TraceSummary, Vector,
};
use std::sync::Arc;

/// Span columns over `s` (spans) joined with `r` (their resource).
const SPAN_COLS: &str = "s.project_id, replace(s.trace_id::VARCHAR, '-', ''), s.span_id, s.parent_span_id, s.name, \
    coalesce(r.service_name, 'unknown_service'), coalesce(r.scope_name, ''), r.environment, s.otel_kind, s.kind, s.start_ns, s.end_ns, s.duration_ns, \
    s.status, s.status_message, s.session_id, s.user_id, s.agent_name, s.agent_id, s.tool_name, s.provider, \
    s.request_model, s.response_model, s.input_tokens, s.output_tokens, s.cache_read_tokens, \
    s.cache_write_tokens, s.reasoning_tokens, s.total_tokens, s.cost_usd, s.cost_source, s.input, s.output, \
    s.attributes, coalesce(r.attributes, '{}'), s.events, s.links, s.conventions, \
    s.unmapped_keys, s.received_ns";

/// The same columns without the bulky payloads, for trees and summaries (typed NULLs: an
/// untyped one comes back as a column the row reader cannot read).
const SPAN_OUTLINE_COLS: &str = "s.project_id, replace(s.trace_id::VARCHAR, '-', ''), s.span_id, s.parent_span_id, \
    s.name, coalesce(r.service_name, 'unknown_service'), coalesce(r.scope_name, ''), r.environment, s.otel_kind, s.kind, s.start_ns, s.end_ns, \
    s.duration_ns, s.status, s.status_message, s.session_id, s.user_id, s.agent_name, s.agent_id, \
    s.tool_name, s.provider, s.request_model, s.response_model, s.input_tokens, s.output_tokens, \
    s.cache_read_tokens, s.cache_write_tokens, s.reasoning_tokens, s.total_tokens, s.cost_usd, \
    s.cost_source, NULL::VARCHAR, NULL::VARCHAR, '{}', '{}', NULL::VARCHAR, NULL::VARCHAR, s.conventions, \
    s.unmapped_keys, s.received_ns";

pub(super) const LATEST: &str = "QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY (end_ns IS NOT NULL) DESC, received_ns DESC) = 1";

const SUMMARY_COLS: &str = "replace(trace_id::VARCHAR, '-', ''), root_span_id, name, service_name, start_ns, \
    end_ns, duration_ns, span_count, error_count, running_count, status, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_usd, session_id, \
    user_id, environment, to_json(agents)::VARCHAR, to_json(services)::VARCHAR, \
    to_json(models)::VARCHAR, to_json(tools)::VARCHAR, to_json(kinds)::VARCHAR, input_preview, \
    output_preview, last_received_ns";

/// The latest version of each trace summary among the rows `inner` selects. `inner` must only
/// narrow by conditions that every older version also meets when the latest does (project,
/// `max_start_ns >= x`, `start_ns <= x`; see `trace_filter`), or an old version could stand in
/// for a trace whose latest version was filtered out.
pub(super) fn latest_summaries(inner: &str) -> String {
    // The window sees only row ids and versions; rows are fetched after (a window carrying
    // every column, the lists among them, costs several times more).
    format!(
        "(SELECT * FROM trace_summaries WHERE rowid IN (SELECT rowid FROM trace_summaries WHERE {inner} \
         QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY version DESC) = 1))"
    )
}

pub(super) fn corrupt(column: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        column,
        message: message.to_string(),
    }
}

/// A stored JSON array, NULL meaning empty.
fn json_list_or_empty<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    column: &'static str,
) -> Result<Vec<T>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t).map_err(|e| corrupt(column, e)),
    }
}

fn trace_id(hex: &str) -> Result<TraceId> {
    hex.parse().map_err(|e| corrupt("trace_id", e))
}

fn json_list(text: Option<String>) -> Result<Vec<String>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| corrupt("list", e)),
    }
}

fn tokens(r: &Row, at: usize) -> duckdb::Result<Tokens> {
    Ok(Tokens {
        input: r.get(at)?,
        output: r.get(at + 1)?,
        cache_read: r.get(at + 2)?,
        cache_write: r.get(at + 3)?,
        reasoning: r.get(at + 4)?,
        total: r.get(at + 5)?,
    })
}

/// Raw column values of a span row; converted outside the row callback so parse errors are
/// reported as corrupt data, not as DuckDB errors.
struct SpanRow {
    project_id: String,
    trace_id: String,
    span_id: u64,
    parent_span_id: Option<u64>,
    name: String,
    service_name: String,
    scope_name: String,
    environment: Option<String>,
    otel_kind: u8,
    kind: u8,
    start_ns: i64,
    end_ns: Option<i64>,
    duration_ns: Option<i64>,
    status: u8,
    status_message: Option<String>,
    ids: [Option<String>; 8],
    tokens: Tokens,
    cost_usd: Option<f64>,
    cost_source: Option<u8>,
    input: Option<String>,
    output: Option<String>,
    attributes: String,
    resource_attributes: String,
    events: Option<String>,
    links: Option<String>,
    conventions: u16,
    unmapped_keys: Option<String>,
    received_ns: i64,
}

fn span_row(r: &Row) -> duckdb::Result<SpanRow> {
    Ok(SpanRow {
        project_id: r.get(0)?,
        trace_id: r.get(1)?,
        span_id: r.get(2)?,
        parent_span_id: r.get(3)?,
        name: r.get(4)?,
        service_name: r.get(5)?,
        scope_name: r.get(6)?,
        environment: r.get(7)?,
        otel_kind: r.get(8)?,
        kind: r.get(9)?,
        start_ns: r.get(10)?,
        end_ns: r.get(11)?,
        duration_ns: r.get(12)?,
        status: r.get(13)?,
        status_message: r.get(14)?,
        ids: [
            r.get(15)?,
            r.get(16)?,
            r.get(17)?,
            r.get(18)?,
            r.get(19)?,
            r.get(20)?,
            r.get(21)?,
            r.get(22)?,
        ],
        tokens: tokens(r, 23)?,
        cost_usd: r.get(29)?,
        cost_source: r.get(30)?,
        input: r.get(31)?,
        output: r.get(32)?,
        attributes: r.get(33)?,
        resource_attributes: r.get(34)?,
        events: r.get(35)?,
        links: r.get(36)?,
        conventions: r.get(37)?,
        unmapped_keys: r.get(38)?,
        received_ns: r.get(39)?,
    })
}

impl SpanRow {
    fn into_span(self) -> Result<Span> {
        let [
            session_id,
            user_id,
            agent_name,
            agent_id,
            tool_name,
            provider,
            request_model,
            response_model,
        ] = self.ids;
        let conventions = Conventions::from_bits(self.conventions);
        Ok(Span {
            project_id: self.project_id.into(),
            trace_id: trace_id(&self.trace_id)?,
            span_id: SpanId::from_u64(self.span_id),
            parent_span_id: self.parent_span_id.map(SpanId::from_u64),
            name: self.name,
            service_name: self.service_name.into(),
            scope_name: self.scope_name.into(),
            environment: self.environment.map(Into::into),
            otel_kind: OtelKind::from_code(self.otel_kind).unwrap_or(OtelKind::Unspecified),
            kind: SpanKind::from_code(self.kind).unwrap_or(SpanKind::Other),
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            duration_ns: self.duration_ns,
            status: Status::from_code(self.status).unwrap_or(Status::Unset),
            status_message: self.status_message,
            session_id,
            user_id,
            agent_name,
            agent_id,
            tool_name,
            provider,
            request_model,
            response_model,
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            cost_source: self.cost_source.and_then(CostSource::from_code),
            input: self.input,
            output: self.output,
            attributes: JsonText::parse(self.attributes).map_err(|e| corrupt("attributes", e))?,
            resource_attributes: Arc::new(
                JsonText::parse(self.resource_attributes)
                    .map_err(|e| corrupt("resource_attributes", e))?,
            ),
            events: json_list_or_empty(self.events.as_deref(), "events")?,
            links: json_list_or_empty(self.links.as_deref(), "links")?,
            conventions,
            unmapped_keys: json_list_or_empty(self.unmapped_keys.as_deref(), "unmapped_keys")?,
            received_ns: self.received_ns,
        })
    }
}

struct SummaryRowRaw {
    trace_id: String,
    root_span_id: Option<u64>,
    name: String,
    service_name: String,
    start_ns: i64,
    end_ns: Option<i64>,
    duration_ns: Option<i64>,
    counts: [i64; 3],
    status: String,
    tokens: Tokens,
    cost_usd: Option<f64>,
    ids: [Option<String>; 3],
    lists: [Option<String>; 5],
    previews: [Option<String>; 2],
    last_received_ns: i64,
}

fn summary_row(r: &Row) -> duckdb::Result<SummaryRowRaw> {
    Ok(SummaryRowRaw {
        trace_id: r.get(0)?,
        root_span_id: r.get(1)?,
        name: r.get(2)?,
        service_name: r.get(3)?,
        start_ns: r.get(4)?,
        end_ns: r.get(5)?,
        duration_ns: r.get(6)?,
        counts: [r.get(7)?, r.get(8)?, r.get(9)?],
        status: r.get(10)?,
        tokens: tokens(r, 11)?,
        cost_usd: r.get(17)?,
        ids: [r.get(18)?, r.get(19)?, r.get(20)?],
        lists: [r.get(21)?, r.get(22)?, r.get(23)?, r.get(24)?, r.get(25)?],
        previews: [r.get(26)?, r.get(27)?],
        last_received_ns: r.get(28)?,
    })
}

impl SummaryRowRaw {
    fn into_summary(self) -> Result<TraceSummary> {
        let [session_id, user_id, environment] = self.ids;
        let [agents, services, models, tools, kinds] = self.lists;
        let [input_preview, output_preview] = self.previews;
        Ok(TraceSummary {
            trace_id: trace_id(&self.trace_id)?,
            root_span_id: self.root_span_id.map(SpanId::from_u64),
            name: self.name,
            service_name: self.service_name,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            duration_ns: self.duration_ns,
            span_count: self.counts[0],
            error_count: self.counts[1],
            running_count: self.counts[2],
            status: Status::parse(&self.status).unwrap_or(Status::Unset),
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            session_id,
            user_id,
            environment,
            agents: json_list(agents)?,
            services: json_list(services)?,
            models: json_list(models)?,
            tools: json_list(tools)?,
            kinds: json_list(kinds)?,
            input_preview,
            output_preview,
            last_received_ns: self.last_received_ns,
        })
    }
}

/// Where a trace's span rows can be: the latest version of every span started and was
/// received within these bounds. Both columns have per-row-group min/max; receipt order is insertion
/// order, so the received range usually narrows a scan to a few row groups.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpanBounds {
    pub start: (i64, i64),
    pub received: (i64, i64),
}

/// The trace's summary and where its spans are.
pub(super) fn summary(
    conn: &Connection,
    project: &str,
    trace: TraceId,
) -> Result<Option<(TraceSummary, SpanBounds)>> {
    let sql = format!(
        "SELECT {SUMMARY_COLS}, max_start_ns, min_received_ns FROM trace_summaries \
         WHERE project_id = ? AND trace_id = ?::UUID ORDER BY version DESC LIMIT 1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(duckdb::params![project, uuid_text(trace)])?;
    match rows.next()? {
        Some(r) => {
            let max_start: i64 = r.get(29)?;
            let min_received: i64 = r.get(30)?;
            let s = summary_row(r)?.into_summary()?;
            let bounds = SpanBounds {
                start: (s.start_ns, max_start),
                received: (min_received, s.last_received_ns),
            };
            Ok(Some((s, bounds)))
        }
        None => Ok(None),
    }
}

/// The latest version of every span of a trace, in start order.
pub fn trace_spans(
    conn: &Connection,
    project: &str,
    trace: TraceId,
    payload: bool,
) -> Result<Vec<Span>> {
    let Some((_, bounds)) = summary(conn, project, trace)? else {
        return Ok(Vec::new());
    };
    spans_in_window(conn, project, trace, bounds, payload, None)
}

fn spans_in_window(
    conn: &Connection,
    project: &str,
    trace: TraceId,
    bounds: SpanBounds,
    payload: bool,
    span: Option<SpanId>,
) -> Result<Vec<Span>> {
    let cols = if payload {
        SPAN_COLS
    } else {
        SPAN_OUTLINE_COLS
    };
    let span_filter = if span.is_some() {
        "AND span_id = ?"
    } else {
        ""
    };
    // Two writers may each have stored a resource once: take one copy.
    let resources = "LEFT JOIN (SELECT DISTINCT ON (project_id, resource_id) * FROM resources) r \
         ON r.project_id = s.project_id AND r.resource_id = s.resource_id";
    let sql = format!(
        "SELECT {cols} FROM (SELECT * FROM spans WHERE project_id = ? AND trace_id = ?::UUID \
         AND start_ns BETWEEN ? AND ? AND received_ns BETWEEN ? AND ? {span_filter} {LATEST}) s \
         {resources} ORDER BY s.start_ns, s.span_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let tid = uuid_text(trace);
    let (lo, hi) = bounds.start;
    let (rlo, rhi) = bounds.received;
    let raw: Vec<SpanRow> = match span {
        Some(sp) => stmt
            .query_map(
                duckdb::params![project, tid, lo, hi, rlo, rhi, sp.as_u64()],
                span_row,
            )?
            .collect::<duckdb::Result<_>>()?,
        None => stmt
            .query_map(duckdb::params![project, tid, lo, hi, rlo, rhi], span_row)?
            .collect::<duckdb::Result<_>>()?,
    };
    raw.into_iter().map(SpanRow::into_span).collect()
}

/// The latest version of every span of many traces: outline columns, plus the input and
/// output of root spans and the input of LLM spans that name a system prompt (what a trace's
/// summary state keeps: previews, `Contribution::system_prompt_hash`). The ids go through a
/// temporary table, so each chunk of traces costs one scan (a semi-join), not one query per
/// trace.
pub fn latest_spans_of_traces(
    conn: &Connection,
    project: &str,
    traces: &[TraceId],
) -> Result<Vec<Span>> {
    let cols = SPAN_OUTLINE_COLS.replacen(
        "s.cost_source, NULL::VARCHAR, NULL::VARCHAR,",
        &format!(
            "s.cost_source, CASE WHEN s.parent_span_id IS NULL OR (s.kind = {} \
             AND contains(s.input, '\"system\"')) THEN s.input END, \
             CASE WHEN s.parent_span_id IS NULL THEN s.output END,",
            SpanKind::Llm.code()
        ),
        1,
    );
    debug_assert_ne!(cols, SPAN_OUTLINE_COLS);
    let ids = "(SELECT id::UUID FROM wanted_traces)";
    let mut out = Vec::new();
    for chunk in traces.chunks(20_000) {
        conn.execute_batch("CREATE OR REPLACE TEMP TABLE wanted_traces (id VARCHAR NOT NULL)")?;
        {
            let mut app = conn.appender_to_catalog_and_db("wanted_traces", "temp", "main")?;
            for t in chunk {
                app.append_row([uuid_text(*t)])?;
            }
            app.flush()?;
        }
        // Every version of the traces' summaries bounds where their spans are (a superset of
        // the latest versions' bounds), so the scan reads only the row groups in between.
        let bounds: (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = conn.query_row(
            &format!(
                "SELECT min(start_ns), max(max_start_ns), min(min_received_ns), max(last_received_ns) \
                 FROM trace_summaries WHERE project_id = ? AND trace_id IN {ids}"
            ),
            [project],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        if let (Some(lo), Some(hi), Some(rlo), Some(rhi)) = bounds {
            let sql = format!(
                "SELECT {cols} FROM (SELECT * FROM spans WHERE project_id = ? AND trace_id IN {ids} \
                 AND start_ns BETWEEN ? AND ? AND received_ns BETWEEN ? AND ? \
                 QUALIFY row_number() OVER (PARTITION BY trace_id, span_id \
                 ORDER BY (end_ns IS NOT NULL) DESC, received_ns DESC) = 1) s \
                 LEFT JOIN (SELECT DISTINCT ON (project_id, resource_id) * FROM resources) r \
                 ON r.project_id = s.project_id AND r.resource_id = s.resource_id"
            );
            let mut stmt = conn.prepare(&sql)?;
            let raw: Vec<SpanRow> = stmt
                .query_map(duckdb::params![project, lo, hi, rlo, rhi], span_row)?
                .collect::<duckdb::Result<_>>()?;
            for row in raw {
                out.push(row.into_span()?);
            }
        }
        conn.execute_batch("DROP TABLE wanted_traces")?;
    }
    Ok(out)
}

pub fn trace(
    conn: &Connection,
    project: &str,
    trace: TraceId,
    payload: bool,
) -> Result<Option<(TraceSummary, Vec<Span>)>> {
    let Some((s, bounds)) = summary(conn, project, trace)? else {
        return Ok(None);
    };
    let spans = spans_in_window(conn, project, trace, bounds, payload, None)?;
    Ok(Some((s, spans)))
}

pub fn span(
    conn: &Connection,
    project: &str,
    trace: TraceId,
    span_id: SpanId,
) -> Result<Option<Span>> {
    let Some((_, bounds)) = summary(conn, project, trace)? else {
        return Ok(None);
    };
    Ok(spans_in_window(conn, project, trace, bounds, true, Some(span_id))?.pop())
}

pub fn linked_traces(conn: &Connection, project: &str, trace: TraceId) -> Result<Vec<TraceId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT replace(trace_id::VARCHAR, '-', '') FROM span_links \
         WHERE project_id = ? AND linked_trace_id = ?::UUID AND trace_id <> linked_trace_id ORDER BY 1",
    )?;
    let ids: Vec<String> = stmt
        .query_map(duckdb::params![project, uuid_text(trace)], |r| r.get(0))?
        .collect::<duckdb::Result<_>>()?;
    ids.iter().map(|h| trace_id(h)).collect()
}

/// A WHERE clause with positional parameters.
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    params: Vec<Box<dyn ToSql>>,
}

impl Filter {
    pub(super) fn add(&mut self, clause: impl Into<String>, params: Vec<Box<dyn ToSql>>) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }
    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".into()
        } else {
            self.clauses.join(" AND ")
        }
    }
    pub(super) fn refs(&self) -> Vec<&dyn ToSql> {
        self.params.iter().map(|p| p.as_ref()).collect()
    }
}

pub(super) fn b<T: ToSql + 'static>(v: T) -> Box<dyn ToSql> {
    Box::new(v)
}

/// `%text%` for ILIKE, with the pattern characters escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A JSON path selecting one top-level key (keys contain dots, so they are quoted).
fn json_key_path(key: &str) -> String {
    format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
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
    f.add("project_id = ?", vec![b(project.to_string())]);
    if let Some(v) = q.from_ns {
        f.add("start_ns >= ?", vec![b(v)]);
    }
    if let Some(v) = q.to_ns {
        f.add("start_ns <= ?", vec![b(v)]);
    }
    for (value, col) in [
        (&q.service, "services"),
        (&q.agent, "agents"),
        (&q.model, "models"),
    ] {
        if let Some(v) = value {
            f.add(format!("list_contains({col}, ?)"), vec![b(v.clone())]);
        }
    }
    if let Some(k) = q.kind {
        f.add("list_contains(kinds, ?)", vec![b(k.as_str().to_string())]);
    }
    for (value, col) in [
        (&q.session, "session_id"),
        (&q.user, "user_id"),
        (&q.environment, "environment"),
    ] {
        if let Some(v) = value {
            f.add(format!("{col} = ?"), vec![b(v.clone())]);
        }
    }
    match q.status {
        Some(StatusFilter::Error) => f.add("error_count > 0", vec![]),
        Some(StatusFilter::Ok) => f.add("error_count = 0", vec![]),
        Some(StatusFilter::Running) => f.add("running_count > 0", vec![]),
        Some(StatusFilter::Unset) => f.add("status = 'unset'", vec![]),
        None => {}
    }
    if let Some(v) = q.min_duration_ns {
        f.add("duration_ns >= ?", vec![b(v)]);
    }
    if let Some(v) = q.max_duration_ns {
        f.add("duration_ns <= ?", vec![b(v)]);
    }
    if let Some(v) = q.min_cost {
        f.add("cost_usd >= ?", vec![b(v)]);
    }
    // Span-level predicates: traces that have a matching span. The span scan is bounded below
    // by the query's start (a trace's spans never start before the trace).
    let span_from = q.from_ns.unwrap_or(i64::MIN);
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let p = like_pattern(text);
        f.add(
            "(name ILIKE ? ESCAPE '\\' OR input_preview ILIKE ? ESCAPE '\\' OR output_preview ILIKE ? ESCAPE '\\' \
             OR trace_id IN (SELECT trace_id FROM spans WHERE project_id = ? AND start_ns >= ? AND \
             (name ILIKE ? ESCAPE '\\' OR input ILIKE ? ESCAPE '\\' OR output ILIKE ? ESCAPE '\\')))",
            vec![b(p.clone()), b(p.clone()), b(p.clone()), b(project.to_string()), b(span_from), b(p.clone()), b(p.clone()), b(p)],
        );
    }
    for (key, value) in &q.attrs {
        let path = json_key_path(key);
        f.add(
            "trace_id IN (SELECT trace_id FROM spans WHERE project_id = ? AND start_ns >= ? AND \
             (json_extract_string(attributes, ?) = ? OR resource_id IN (SELECT resource_id FROM resources \
             WHERE project_id = ? AND json_extract_string(attributes, ?) = ?)))",
            vec![
                b(project.to_string()),
                b(span_from),
                b(path.clone()),
                b(value.clone()),
                b(project.to_string()),
                b(path),
                b(value.clone()),
            ],
        );
    }
    f
}

/// A page of traces. The filters and the sort apply to each trace's latest summary version.
///
/// Rather than resolving the latest version of every trace (a window over the whole table,
/// carrying every column), the query takes the first `candidates` rows in sort order among
/// all versions that pass the filters, keeps those that are their trace's latest version, and
/// reads full rows for the page only. Any latest version that belongs on the page sorts among
/// those candidates, so the page is exact when it fills; when stale versions crowd it out and
/// more candidates exist, it retries with more.
pub fn traces(conn: &Connection, project: &str, q: &TraceQuery) -> Result<Page<TraceSummary>> {
    let mut f = trace_filter(project, q);
    let key = sort_key(q.sort);
    let (cmp, dir) = match q.order {
        Order::Desc => ("<", "DESC"),
        Order::Asc => (">", "ASC"),
    };
    if let Some(c) = q.cursor {
        let v = |c: Cursor| -> Box<dyn ToSql> {
            match c.value {
                SortValue::Int(i) => b(i),
                SortValue::Float(x) => b(x),
            }
        };
        f.add(
            format!("({key} {cmp} ? OR ({key} = ? AND trace_id {cmp} ?::UUID))"),
            vec![v(c), v(c), b(uuid_text(c.trace_id))],
        );
    }
    let limit = q.effective_limit() as usize;
    let mut candidates = (limit + 1) * 4;
    loop {
        let sql = format!(
            "WITH cand AS (SELECT rowid AS rid, trace_id, version, {key} AS k FROM trace_summaries \
               WHERE {} ORDER BY k {dir}, trace_id {dir}, version DESC LIMIT {candidates}), \
             newest AS (SELECT trace_id, max(version) AS version FROM trace_summaries \
               WHERE project_id = ? AND trace_id IN (SELECT trace_id FROM cand) GROUP BY trace_id), \
             page AS (SELECT rid FROM cand JOIN newest USING (trace_id, version) \
               ORDER BY k {dir}, trace_id {dir} LIMIT {}) \
             SELECT {SUMMARY_COLS}, k, n FROM (SELECT count(*) AS n FROM cand) \
             LEFT JOIN (SELECT *, {key} AS k FROM trace_summaries WHERE rowid IN (SELECT rid FROM page)) ON TRUE \
             ORDER BY k {dir}, trace_id {dir}",
            f.sql(),
            limit + 1
        );
        let mut params = f.refs();
        params.push(&project as &dyn ToSql);
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params.as_slice())?;
        let mut items = Vec::new();
        let mut last_key = None;
        let mut seen_candidates = 0usize;
        // The query asks for one row more than the page: its presence means another page.
        let mut more = false;
        while let Some(r) = rows.next()? {
            seen_candidates = r.get::<_, i64>(30)? as usize;
            if r.get::<_, Option<String>>(0)?.is_none() {
                continue; // no candidate was a latest version
            }
            if items.len() == limit {
                more = true;
                break;
            }
            last_key = Some(match q.sort {
                TraceSort::Cost => SortValue::Float(r.get(29)?),
                _ => SortValue::Int(r.get(29)?),
            });
            items.push(summary_row(r)?.into_summary()?);
        }
        if !more && seen_candidates == candidates {
            candidates *= 8;
            continue;
        }
        let next_cursor = match (more, items.last(), last_key) {
            (true, Some(t), Some(value)) => Some(
                Cursor {
                    value,
                    trace_id: t.trace_id,
                }
                .encode(),
            ),
            _ => None,
        };
        return Ok(Page { items, next_cursor });
    }
}

const SESSION_COLS: &str = "session_id, arg_min(user_id, start_ns) FILTER (WHERE user_id IS NOT NULL), count(*), \
    sum(span_count), sum(error_count), min(start_ns), max(end_ns), sum(input_tokens), sum(output_tokens), \
    sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(total_tokens), sum(cost_usd), \
    arg_min(input_preview, start_ns) FILTER (WHERE input_preview IS NOT NULL)";

fn session_row(r: &Row) -> duckdb::Result<SessionSummary> {
    let n = |i: usize| -> duckdb::Result<Option<i64>> {
        // SUM over BIGINT is HUGEINT in DuckDB; read it as f64-safe i128 text.
        let v: Option<i128> = r.get(i)?;
        Ok(v.map(|x| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64))
    };
    Ok(SessionSummary {
        session_id: r.get(0)?,
        user_id: r.get(1)?,
        trace_count: r.get(2)?,
        span_count: n(3)?.unwrap_or(0),
        error_count: n(4)?.unwrap_or(0),
        start_ns: r.get(5)?,
        end_ns: r.get(6)?,
        tokens: Tokens {
            input: n(7)?,
            output: n(8)?,
            cache_read: n(9)?,
            cache_write: n(10)?,
            reasoning: n(11)?,
            total: n(12)?,
        },
        cost_usd: r.get(13)?,
        first_input_preview: r.get(14)?,
    })
}

pub fn sessions(
    conn: &Connection,
    project: &str,
    q: &SessionQuery,
) -> Result<Page<SessionSummary>> {
    let mut f = Filter::default();
    f.add("session_id IS NOT NULL", vec![]);
    if let Some(u) = &q.user {
        f.add("user_id = ?", vec![b(u.clone())]);
    }
    let mut having = Vec::new();
    let mut having_params: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(v) = q.from_ns {
        having.push("min(start_ns) >= ?".to_string());
        having_params.push(b(v));
    }
    if let Some(v) = q.to_ns {
        having.push("min(start_ns) <= ?".to_string());
        having_params.push(b(v));
    }
    if let Some((start, id)) = &q.cursor {
        having.push("(min(start_ns) < ? OR (min(start_ns) = ? AND session_id < ?))".to_string());
        having_params.extend([b(*start), b(*start), b(id.clone())]);
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
         ORDER BY min(start_ns) DESC, session_id DESC LIMIT {}",
        latest_summaries("project_id = ?"),
        f.sql(),
        limit + 1
    );
    let project = project.to_string();
    let mut params: Vec<&dyn ToSql> = vec![&project];
    params.extend(f.refs());
    params.extend(having_params.iter().map(|p| p.as_ref()));
    let mut stmt = conn.prepare(&sql)?;
    let mut items: Vec<SessionSummary> = stmt
        .query_map(params.as_slice(), session_row)?
        .collect::<duckdb::Result<_>>()?;
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

pub fn session(conn: &Connection, project: &str, id: &str) -> Result<Option<SessionDetail>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM {} WHERE session_id = ? GROUP BY session_id",
        latest_summaries("project_id = ?")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(duckdb::params![project, id])?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let session = session_row(r)?;
    let sql = format!(
        "SELECT {SUMMARY_COLS} FROM {} WHERE session_id = ? ORDER BY start_ns, trace_id LIMIT 10000",
        latest_summaries("project_id = ?")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let raw: Vec<SummaryRowRaw> = stmt
        .query_map(duckdb::params![project, id], summary_row)?
        .collect::<duckdb::Result<_>>()?;
    let traces = raw
        .into_iter()
        .map(SummaryRowRaw::into_summary)
        .collect::<Result<_>>()?;
    Ok(Some(SessionDetail { session, traces }))
}

pub fn facets(
    conn: &Connection,
    project: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Facets> {
    let lo = from.unwrap_or(i64::MIN);
    let hi = to.unwrap_or(i64::MAX);
    let list = |name: &str| {
        format!(
            "SELECT '{name}' AS f, v, count(*) AS n FROM (SELECT unnest({name}) AS v FROM t) GROUP BY v"
        )
    };
    let scalar = |name: &str, col: &str| {
        format!(
            "SELECT '{name}' AS f, {col} AS v, count(*) AS n FROM t WHERE {col} IS NOT NULL GROUP BY v"
        )
    };
    // One pass over the latest summaries in the window, every facet from it.
    let sql = format!(
        "WITH t AS (SELECT services, agents, models, kinds, user_id, environment FROM {} WHERE start_ns >= ?) \
         {} UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {} ORDER BY f, n DESC, v",
        latest_summaries("project_id = ? AND max_start_ns >= ? AND start_ns <= ?"),
        list("services"),
        list("agents"),
        list("models"),
        list("kinds"),
        scalar("users", "user_id"),
        scalar("environments", "environment"),
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(duckdb::params![project, lo, hi, lo], |r| {
        Ok((
            r.get::<_, String>(0)?,
            FacetValue {
                value: r.get(1)?,
                count: r.get(2)?,
            },
        ))
    })?;
    let mut facets = Facets::default();
    for row in rows {
        let (f, v) = row?;
        let slot = match f.as_str() {
            "services" => &mut facets.services,
            "agents" => &mut facets.agents,
            "models" => &mut facets.models,
            "kinds" => &mut facets.kinds,
            "users" => &mut facets.users,
            _ => &mut facets.environments,
        };
        if slot.len() < MAX_FACET_VALUES {
            slot.push(v);
        }
    }
    Ok(facets)
}

const FINDING_COLS: &str = "id, replace(trace_id::VARCHAR, '-', ''), span_id, span_name, span_kind, service_name, \
    agent_name, session_id, user_id, time_ns, received_ns, category, detector, severity, score, field, key, \
    start_offset, end_offset, evidence, vector, encoding";

/// The filter of a findings query, over the `findings` table.
fn finding_filter(project: &str, q: &FindingQuery) -> Filter {
    let mut f = Filter::default();
    f.add("project_id = ?", vec![b(project.to_string())]);
    if let Some(lo) = q.from_ns {
        f.add("time_ns >= ?", vec![b(lo)]);
    }
    if let Some(hi) = q.to_ns {
        f.add("time_ns <= ?", vec![b(hi)]);
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
            vec![],
        );
    }
    if let Some(min) = q.min_severity {
        f.add("severity >= ?", vec![b(min.code())]);
    }
    if !q.categories.is_empty() {
        f.add(
            format!(
                "category IN ({})",
                codes(q.categories.iter().map(|c| c.code()).collect())
            ),
            vec![],
        );
    }
    match q.detector.as_deref() {
        Some(d) if d.ends_with('.') => {
            f.add("starts_with(detector, ?)", vec![b(d.to_string())]);
        }
        Some(d) => f.add("detector = ?", vec![b(d.to_string())]),
        None => {}
    }
    if let Some(a) = &q.agent {
        f.add("agent_name = ?", vec![b(a.clone())]);
    }
    if let Some(s) = &q.service {
        f.add("service_name = ?", vec![b(s.clone())]);
    }
    if let Some(s) = &q.session {
        f.add("session_id = ?", vec![b(s.clone())]);
    }
    if let Some(t) = q.trace_id {
        f.add("trace_id = ?::UUID", vec![b(uuid_text(t))]);
    }
    f
}

fn code<T>(
    column: &'static str,
    v: u8,
    from: impl Fn(u8) -> Option<T>,
) -> duckdb::Result<std::result::Result<T, StoreError>> {
    Ok(from(v).ok_or_else(|| corrupt(column, format!("unknown code {v}"))))
}

fn finding_row(r: &Row) -> duckdb::Result<Result<SpanFinding>> {
    let trace_hex: String = r.get(1)?;
    let kind = code("span_kind", r.get(4)?, SpanKind::from_code)?;
    let category = code("category", r.get(11)?, Category::from_code)?;
    let severity = code("severity", r.get(13)?, Severity::from_code)?;
    let field = code("field", r.get(15)?, Field::from_code)?;
    let vector: Option<u8> = r.get(20)?;
    let encoding: Option<u8> = r.get(21)?;
    let (id, span_id, span_name, service_name): (u64, u64, String, String) =
        (r.get(0)?, r.get(2)?, r.get(3)?, r.get(5)?);
    let (agent_name, session_id, user_id) = (r.get(6)?, r.get(7)?, r.get(8)?);
    let (time_ns, received_ns): (i64, i64) = (r.get(9)?, r.get(10)?);
    let (detector, score, key): (String, f32, Option<String>) =
        (r.get(12)?, r.get(14)?, r.get(16)?);
    let (start, end, evidence): (u64, u64, String) = (r.get(17)?, r.get(18)?, r.get(19)?);
    Ok((|| {
        Ok(SpanFinding {
            id,
            project_id: Arc::from(""),
            trace_id: trace_id(&trace_hex)?,
            span_id: SpanId::from_u64(span_id),
            span_name,
            span_kind: kind?,
            service_name,
            agent_name,
            session_id,
            user_id,
            time_ns,
            received_ns,
            finding: Finding {
                category: category?,
                detector: detector.into(),
                severity: severity?,
                score,
                field: field?,
                key,
                start: start as usize,
                end: end as usize,
                evidence,
                vector: vector
                    .map(|v| Vector::from_code(v).ok_or_else(|| corrupt("vector", v)))
                    .transpose()?,
                encoding: encoding
                    .map(|e| Encoding::from_code(e).ok_or_else(|| corrupt("encoding", e)))
                    .transpose()?,
            },
        })
    })())
}

/// Findings newest first; each detection once, from the latest version of its span.
pub fn findings(conn: &Connection, project: &str, q: &FindingQuery) -> Result<Page<SpanFinding>> {
    let mut f = finding_filter(project, q);
    if let Some((t, id)) = q.cursor {
        f.add("(time_ns, id) < (?, ?)", vec![b(t), b(id)]);
    }
    let limit = q.effective_limit() as usize;
    let sql = format!(
        "SELECT {FINDING_COLS} FROM findings WHERE {} \
         QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_ns DESC) = 1 \
         ORDER BY time_ns DESC, id DESC LIMIT {}",
        f.sql(),
        limit + 1
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<Result<SpanFinding>> = stmt
        .query_map(f.refs().as_slice(), finding_row)?
        .collect::<duckdb::Result<_>>()?;
    let mut items = rows
        .into_iter()
        .map(|r| {
            r.map(|mut sf| {
                sf.project_id = Arc::from(project);
                sf
            })
        })
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

/// Distinct findings by severity, category, detector and agent, most frequent first.
pub fn finding_counts(
    conn: &Connection,
    project: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<FindingCounts> {
    let q = FindingQuery {
        from_ns: from,
        to_ns: to,
        ..FindingQuery::default()
    };
    let f = finding_filter(project, &q);
    let group = |name: &str, col: &str| {
        format!(
            "SELECT '{name}' AS f, {col}::VARCHAR AS v, count(*) AS n FROM t WHERE {col} IS NOT NULL GROUP BY {col}"
        )
    };
    let sql = format!(
        "WITH t AS (SELECT id, trace_id, severity, category, detector, agent_name FROM findings WHERE {} \
         QUALIFY row_number() OVER (PARTITION BY id ORDER BY received_ns DESC) = 1) \
         SELECT 'total' AS f, NULL AS v, count(*) AS n FROM t \
         UNION ALL SELECT 'traces', NULL, count(DISTINCT trace_id) FROM t \
         UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {} ORDER BY f, n DESC, v",
        f.sql(),
        group("severity", "severity"),
        group("category", "category"),
        group("detector", "detector"),
        group("agent", "agent_name"),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(f.refs().as_slice(), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    crate::facets::finding_counts_of(rows.collect::<duckdb::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
        assert_eq!(
            json_key_path("gen_ai.request.model"),
            "$.\"gen_ai.request.model\""
        );
        assert_eq!(json_key_path("a\"b"), "$.\"a\\\"b\"");
    }
}
