//! Response bodies: the model types plus RFC 3339 companions of their `*_ns` times.

use crate::params::rfc3339;
use serde::Serialize;
use spyglass_model::{SessionSummary, Span, TraceSummary, TreeRow};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TraceView {
    #[serde(flatten)]
    pub trace: TraceSummary,
    pub start_time: String,
    pub end_time: Option<String>,
}

impl From<TraceSummary> for TraceView {
    fn from(trace: TraceSummary) -> Self {
        TraceView {
            start_time: rfc3339(trace.start_ns),
            end_time: trace.end_ns.map(rfc3339),
            trace,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TracePage {
    pub items: Vec<TraceView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TreeRowView {
    #[serde(flatten)]
    pub row: TreeRow,
    pub start_time: String,
}

/// A trace and its spans as a tree, flattened depth-first (`depth`, `parent_span_id`).
#[derive(Serialize, ToSchema)]
pub struct TraceTreeView {
    pub trace: TraceView,
    pub spans: Vec<TreeRowView>,
    /// Security findings on the trace's spans (each names its `span_id`), newest first.
    pub findings: Vec<crate::routes::findings::FindingView>,
}

/// A trace and its span tree as columns (see [`SpanColumns`]).
#[derive(Serialize, ToSchema)]
pub struct TraceOutlineView {
    pub trace: TraceView,
    pub spans: crate::outline::SpanColumns,
    /// Security findings on the trace's spans (each names its `span_id`), newest first.
    pub findings: Vec<crate::routes::findings::FindingView>,
}

#[derive(Serialize, ToSchema)]
pub struct SpanView {
    #[serde(flatten)]
    pub span: Span,
    pub start_time: String,
    pub end_time: Option<String>,
}

impl From<Span> for SpanView {
    fn from(span: Span) -> Self {
        SpanView {
            start_time: rfc3339(span.start_ns),
            end_time: span.end_ns.map(rfc3339),
            span,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: SessionSummary,
    pub start_time: String,
    pub end_time: Option<String>,
}

impl From<SessionSummary> for SessionView {
    fn from(session: SessionSummary) -> Self {
        SessionView {
            start_time: rfc3339(session.start_ns),
            end_time: session.end_ns.map(rfc3339),
            session,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<SessionView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionDetailView {
    pub session: SessionView,
    /// The session's traces (its turns) in start order.
    pub traces: Vec<TraceView>,
}

/// The export file: a trace with its spans, and the sub-traces it spawned.
#[derive(Serialize, ToSchema)]
pub struct TraceExport {
    /// `spyglass.trace-export.v1`
    pub format: &'static str,
    pub exported_at: String,
    pub root_trace_id: spyglass_model::TraceId,
    pub traces: Vec<ExportedTrace>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedTrace {
    pub trace: TraceSummary,
    pub spans: Vec<Span>,
    /// The trace whose span this one's links point to (null for the exported root).
    pub spawned_by: Option<spyglass_model::TraceId>,
    /// The trace's security findings (so an import keeps those on masked text, which a new
    /// scan cannot find again).
    pub findings: Vec<spyglass_model::SpanFinding>,
}
