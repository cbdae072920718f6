//! Storage behind one trait. Every backend (DuckDB embedded now, ClickHouse for scale-out)
//! implements [`Store`] and must pass the conformance suite in [`conformance`].
//!
//! Writes are append-only; reads resolve each (project, trace, span) to its latest version:
//! a finished span beats a running one, then the latest received wins. Every call takes the
//! project and every query filters on it.

pub mod analytics;
pub mod conformance;
pub mod duckdb;
mod error;
pub mod rollup;
pub mod sketch;
pub mod summary;

pub use error::StoreError;

use async_trait::async_trait;
use spyglass_model::alert::{AlertEvent, AlertRule};
use spyglass_model::analytics::{
    Timeseries, TimeseriesQuery, TopEntry, TopQuery, Usage, UsageQuery,
};
use spyglass_model::query::{FindingCounts, FindingQuery, Page, SessionQuery, TraceQuery};
use spyglass_model::{
    Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, TraceId, TraceSummary,
};
use std::sync::Arc;

/// The hasher of maps keyed by ids and names from the network: seeded, so collisions cannot
/// be forged, and cheaper than SipHash.
pub(crate) type Seeded = foldhash::fast::RandomState;

pub type Result<T> = std::result::Result<T, StoreError>;

/// Numbers about the store, for `/metrics` and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Span rows stored (every version).
    pub span_rows: i64,
    pub trace_count: i64,
    /// Bytes of the store's files on disk.
    pub disk_bytes: u64,
}

/// What one ingest request writes, atomically: spans (possibly of several projects, each
/// carries its own) and the findings the engine made on them. The live stream publishes the
/// same batch once it is committed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub spans: Vec<Span>,
    pub findings: Vec<SpanFinding>,
}

impl From<Vec<Span>> for Batch {
    fn from(spans: Vec<Span>) -> Self {
        Batch {
            spans,
            findings: Vec::new(),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch durably and atomically; when this returns `Ok`, a crash loses none of
    /// it.
    async fn write(&self, batch: Arc<Batch>) -> Result<()>;

    /// The trace summary and every span (latest versions), in start order.
    async fn trace(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<Span>)>>;

    /// One span (latest version), with everything.
    async fn span(&self, project: &str, trace_id: TraceId, span_id: SpanId)
    -> Result<Option<Span>>;

    async fn traces(&self, project: &str, q: &TraceQuery) -> Result<Page<TraceSummary>>;

    /// Traces with a span that links to a span of `trace_id` (the sub-traces it spawned).
    async fn linked_traces(&self, project: &str, trace_id: TraceId) -> Result<Vec<TraceId>>;

    async fn sessions(&self, project: &str, q: &SessionQuery) -> Result<Page<SessionSummary>>;

    async fn session(&self, project: &str, session_id: &str) -> Result<Option<SessionDetail>>;

    async fn facets(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Facets>;

    /// Findings, newest first, each once (the latest version of its span's detection).
    async fn findings(&self, project: &str, q: &FindingQuery) -> Result<Page<SpanFinding>>;

    /// Counts of distinct findings on spans that started in the range.
    async fn finding_counts(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<FindingCounts>;

    /// A metric over time from the per-minute rollups (findings from the findings, by-user
    /// series from the trace summaries); see `analytics::check_timeseries` for what is refused.
    async fn timeseries(&self, project: &str, q: &TimeseriesQuery) -> Result<Timeseries>;

    /// The most expensive traces, sessions and users; the slowest, failing and costliest
    /// tools, models and agents.
    async fn top(&self, project: &str, q: &TopQuery) -> Result<Vec<TopEntry>>;

    /// Usage per user or per session, most expensive first.
    async fn usage(&self, project: &str, q: &UsageQuery) -> Result<Vec<Usage>>;

    /// Alert rules of a project, or of every project (for the evaluator).
    async fn alert_rules(&self, project: Option<&str>) -> Result<Vec<AlertRule>>;

    /// Creates or replaces a rule (by project and id).
    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<()>;

    /// `false` when there was no such rule.
    async fn delete_alert_rule(&self, project: &str, id: &str) -> Result<bool>;

    async fn record_alert_event(&self, event: &AlertEvent) -> Result<()>;

    /// Events newest first, optionally of one rule, older than `before_ns`.
    async fn alert_events(
        &self,
        project: &str,
        rule_id: Option<&str>,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AlertEvent>>;

    /// The latest event of every rule of every project (to restore alert states at start).
    async fn latest_alert_events(&self) -> Result<Vec<AlertEvent>>;

    async fn stats(&self) -> Result<StoreStats>;

    /// Merges what background compaction merges (rollup deltas) now; reads answer the same
    /// before and after.
    async fn compact(&self) -> Result<()>;

    /// Checks the store answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
}
