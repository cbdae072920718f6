//! `/api/v1/traces`: the filtered list, one trace as a tree, one span, and the export file.

use crate::access::{Read, Scope};
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::outline::SpanColumns;
use crate::params::{parse_span_id, parse_trace_id, rfc3339, trace_query};
use crate::routes::findings::FindingView;
use crate::views::{
    ExportedTrace, SpanView, TraceExport, TraceOutlineView, TracePage, TraceTreeView, TraceView,
    TreeRowView,
};
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use spyglass_model::query::{FindingQuery, MAX_LIMIT};
use spyglass_model::{SpanOutline, TraceId, TraceSummary, build_tree, tree_shape};
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

/// Most traces one export collects (the root and the sub-traces it spawned).
const MAX_EXPORT_TRACES: usize = 1000;

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TraceListParams {
    /// Traces starting at or after: Unix ns, RFC 3339, or a duration back from now (`1h`).
    from: Option<String>,
    /// Traces starting at or before (same forms as `from`).
    to: Option<String>,
    /// A service any span of the trace belongs to.
    service: Option<String>,
    /// An agent that ran in the trace.
    agent: Option<String>,
    session: Option<String>,
    user: Option<String>,
    /// ok, error, unset, or running (unfinished spans).
    status: Option<String>,
    /// A model any span used.
    model: Option<String>,
    /// A span kind present in the trace (agent, chain, llm, tool, retriever, ...).
    kind: Option<String>,
    environment: Option<String>,
    min_duration_ms: Option<f64>,
    max_duration_ms: Option<f64>,
    /// Minimum total cost in USD.
    min_cost: Option<f64>,
    /// Case-insensitive text in span names, inputs or outputs.
    q: Option<String>,
    /// `attr.<key>=<value>`: a span (or resource) attribute equal to the value; repeatable.
    #[param(rename = "attr.{key}")]
    attr: Option<String>,
    /// start_time (default), duration or cost.
    sort: Option<String>,
    /// desc (default) or asc.
    order: Option<String>,
    /// Page size, at most 1000 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/traces", tag = "traces", params(TraceListParams),
    responses((status = 200, body = TracePage), (status = 400, body = ErrorBody)))]
pub async fn list_traces(
    Read(st): Read,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> ApiResult<Json<TracePage>> {
    let q = trace_query(&pairs)?;
    let page = st.store.traces(&st.project, &q).await?;
    Ok(Json(TracePage {
        items: page.items.into_iter().map(TraceView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/traces/{trace_id}", tag = "traces",
    params(("trace_id" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = TraceTreeView), (status = 404, body = ErrorBody)))]
pub async fn get_trace(Read(st): Read, Path(trace_id): Path<String>) -> ApiResult<Response> {
    trace_view(&st, &trace_id, 600, |t| {
        let spans = build_tree(t.spans)
            .into_iter()
            .map(|row| TreeRowView {
                start_time: rfc3339(row.span.start_ns),
                row,
            })
            .collect();
        TraceTreeView {
            trace: t.summary.into(),
            spans,
            findings: t.findings,
        }
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/traces/{trace_id}/outline", tag = "traces",
    description = "The same tree as `GET /api/v1/traces/{trace_id}`, as columns with each \
        string once: a fraction of the size for a large trace (the dashboard's trace view). \
        `Server-Timing` tells where the time went (spans, findings, tree, json).",
    params(("trace_id" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = TraceOutlineView), (status = 404, body = ErrorBody)))]
pub async fn get_trace_outline(
    Read(st): Read,
    Path(trace_id): Path<String>,
) -> ApiResult<Response> {
    // About 64 bytes a span.
    trace_view(&st, &trace_id, 72, |t| TraceOutlineView {
        trace: t.summary.into(),
        spans: SpanColumns::new(&t.spans, &tree_shape(&t.spans)),
        findings: t.findings,
    })
    .await
}

/// A view of a trace as JSON, with a `Server-Timing` header of the reads, the build and the
/// serialization. Built and serialized on the blocking pool: for a large trace that is tens of
/// milliseconds of CPU that would otherwise hold up other requests (the page's own assets
/// among them). The buffer is sized up front; `Json` would start small and copy megabytes at
/// every doubling.
async fn trace_view<T: serde::Serialize>(
    st: &Scope,
    trace_id: &str,
    bytes_per_span: usize,
    build: impl FnOnce(TraceParts) -> T + Send + 'static,
) -> ApiResult<Response> {
    let parts = trace_outline(st, trace_id).await?;
    let [spans_read, findings_read] = parts.timing;
    let capacity = parts.spans.len() * bytes_per_span + 4096;
    let (body, built, serialized) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let view = build(parts);
        let built = started.elapsed();
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, &view).map(|()| (body, built, started.elapsed() - built))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("building a trace view: {e}")))?
    .map_err(|e| ApiError::Internal(format!("encoding a trace view: {e}")))?;
    let timing = server_timing(&[
        spans_read,
        findings_read,
        ("tree", built),
        ("json", serialized),
    ]);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (HeaderName::from_static("server-timing"), timing),
        ],
        body,
    )
        .into_response())
}

/// A `Server-Timing` header: where a slow response spent its time, shown by the browser's
/// developer tools and readable in the page (`PerformanceResourceTiming.serverTiming`).
fn server_timing(phases: &[(&str, Duration)]) -> HeaderValue {
    let text = phases
        .iter()
        .map(|(name, d)| format!("{name};dur={:.1}", d.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&text).expect("phase names and numbers are header-safe")
}

async fn trace_outline(st: &Scope, trace_id: &str) -> ApiResult<TraceParts> {
    let id = parse_trace_id(trace_id)?;
    // Both at once: the store reads them on separate connections.
    let ((outline, spans_took), (findings, findings_took)) = tokio::try_join!(
        timed(async { Ok(st.store.trace_outline(&st.project, id).await?) }),
        timed(trace_findings(st, id)),
    )?;
    let (summary, spans) = outline.ok_or_else(|| ApiError::NotFound(format!("trace {id}")))?;
    Ok(TraceParts {
        summary,
        spans,
        findings: findings.into_iter().map(FindingView::from).collect(),
        timing: [("spans", spans_took), ("findings", findings_took)],
    })
}

/// A trace's summary, its span outlines, its findings, and how long reading each took.
struct TraceParts {
    summary: TraceSummary,
    spans: Vec<SpanOutline>,
    findings: Vec<FindingView>,
    timing: [(&'static str, Duration); 2],
}

async fn timed<T>(work: impl Future<Output = ApiResult<T>>) -> ApiResult<(T, Duration)> {
    let started = Instant::now();
    let value = work.await?;
    Ok((value, started.elapsed()))
}

#[utoipa::path(get, path = "/api/v1/traces/{trace_id}/spans/{span_id}", tag = "traces",
    params(("trace_id" = String, Path), ("span_id" = String, Path, description = "16 hex characters")),
    responses((status = 200, body = SpanView), (status = 404, body = ErrorBody)))]
pub async fn get_span(
    Read(st): Read,
    Path((trace_id, span_id)): Path<(String, String)>,
) -> ApiResult<Json<SpanView>> {
    let (t, s) = (parse_trace_id(&trace_id)?, parse_span_id(&span_id)?);
    let span = st
        .store
        .span(&st.project, t, s)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("span {s} of trace {t}")))?;
    Ok(Json(span.into()))
}

/// Every finding of a trace, page by page.
async fn trace_findings(st: &Scope, id: TraceId) -> ApiResult<Vec<spyglass_model::SpanFinding>> {
    let mut q = FindingQuery {
        trace_id: Some(id),
        limit: MAX_LIMIT,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = st.store.findings(&st.project, &q).await?;
        out.extend(page.items);
        match page
            .next_cursor
            .as_deref()
            .and_then(spyglass_model::query::decode_finding_cursor)
        {
            Some(c) => q.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/traces/{trace_id}/export", tag = "traces",
    params(("trace_id" = String, Path)),
    responses((status = 200, description = "gzip-compressed JSON (a TraceExport)", content_type = "application/gzip"),
        (status = 404, body = ErrorBody)))]
pub async fn export_trace(Read(st): Read, Path(trace_id): Path<String>) -> ApiResult<Response> {
    let root = parse_trace_id(&trace_id)?;
    let mut traces = Vec::new();
    let mut seen: HashSet<TraceId> = HashSet::from([root]);
    let mut queue: VecDeque<(TraceId, Option<TraceId>)> = VecDeque::from([(root, None)]);
    while let Some((id, parent)) = queue.pop_front() {
        let Some((trace, spans)) = st.store.trace(&st.project, id).await? else {
            if parent.is_none() {
                return Err(ApiError::NotFound(format!("trace {id}")));
            }
            continue;
        };
        let findings = trace_findings(&st, id).await?;
        traces.push(ExportedTrace {
            trace,
            spans,
            spawned_by: parent,
            findings,
        });
        if traces.len() >= MAX_EXPORT_TRACES {
            break;
        }
        for child in st.store.linked_traces(&st.project, id).await? {
            if seen.insert(child) {
                queue.push_back((child, Some(id)));
            }
        }
    }
    let export = TraceExport {
        format: "spyglass.trace-export.v1",
        exported_at: rfc3339(spyglass_model::now_ns()),
        root_trace_id: root,
        traces,
    };
    let json = serde_json::to_vec(&export).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    gz.write_all(&json)
        .and_then(|_| gz.flush())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let body = gz
        .finish()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let disposition = format!("attachment; filename=\"trace-{root}.json.gz\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("ascii"),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_lists_phases_in_milliseconds() {
        let v = server_timing(&[
            ("store", Duration::from_micros(12_345)),
            ("tree", Duration::from_millis(3)),
        ]);
        assert_eq!(v.to_str().unwrap(), "store;dur=12.3, tree;dur=3.0");
    }
}
