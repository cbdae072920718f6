//! Spyglass's canonical data model: spans, traces, sessions and query parameters.
//! Pure types, no IO; every other crate speaks these.

pub mod ids;
pub mod json_text;
pub mod query;
pub mod span;
pub mod trace;

pub use ids::{IdError, SpanId, TraceId};
pub use json_text::JsonText;
pub use span::{
    Convention, Conventions, CostSource, Event, Link, OtelKind, Resource, Span, SpanKind, Status,
    Tokens,
};
pub use trace::{
    FacetValue, Facets, SessionDetail, SessionSummary, SpanOutline, TraceDetail, TraceSummary,
    TreeRow, build_tree,
};

/// The project of the single-project local mode (no API keys configured).
pub const DEFAULT_PROJECT: &str = "default";

/// Current wall-clock time in Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
