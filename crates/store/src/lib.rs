//! Storage behind one trait. Every backend (DuckDB embedded now, ClickHouse for scale-out)
//! implements [`Store`] and must pass the conformance suite in [`conformance`].
//!
//! Writes are append-only; reads resolve each (project, trace, span) to its latest version:
//! a finished span beats a running one, then the latest received wins. Every call takes the
//! project and every query filters on it.

pub mod analytics;
pub mod archive;
pub mod attack;
pub mod clickhouse;
pub mod conformance;
pub mod duckdb;
mod error;
mod facets;
mod guardrails;
pub mod retention;
pub mod rollup;
pub mod sketch;
pub mod summary;
pub mod topology;
pub mod versions;

pub use error::StoreError;

use async_trait::async_trait;
use spyglass_model::alert::{AlertEvent, AlertRule};
use spyglass_model::analytics::{
    Timeseries, TimeseriesQuery, TopEntry, TopQuery, Usage, UsageQuery,
};
use spyglass_model::query::{FindingCounts, FindingQuery, Page, SessionQuery, TraceQuery};
use spyglass_model::{
    Facets, SessionDetail, SessionSummary, Span, SpanFinding, SpanId, SpanOutline, TraceId,
    TraceSummary,
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

/// Prices spans in place: sets `cost_usd` and `cost_source` on the ones it prices (the
/// engine's `CostEngine::price_spans`; the store does not depend on the engine).
pub type PriceFn = Arc<dyn Fn(&mut [Span]) + Send + Sync>;

/// What [`Store::apply_retention`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    pub traces: u64,
    pub spans: u64,
    pub rollup_rows: u64,
}

/// How long a project's data is kept (the `[retention]` table of the config file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days of data kept, for every project without its own setting; 0 keeps everything.
    pub days: u32,
    /// Seconds between retention passes (one also runs at start).
    pub interval_s: u64,
    /// Per project: `[retention.projects.<id>] days = N`.
    pub projects: std::collections::BTreeMap<String, ProjectRetention>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRetention {
    pub days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: 30,
            interval_s: 3600,
            projects: Default::default(),
        }
    }
}

impl RetentionConfig {
    /// The project's window in days (0: kept forever).
    pub fn days_for(&self, project: &str) -> u32 {
        self.projects.get(project).map_or(self.days, |p| p.days)
    }

    /// Everything that started before this is deleted; `None` when the project keeps all.
    pub fn cutoff_ns(&self, project: &str, now_ns: i64) -> Option<i64> {
        match self.days_for(project) {
            0 => None,
            d => Some(now_ns - d as i64 * 86_400_000_000_000),
        }
    }
}

/// What [`Store::recompute_costs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecomputeReport {
    /// LLM and embedding spans that started in the range.
    pub spans_examined: u64,
    /// Of those, spans whose stored cost or cost source changed.
    pub spans_changed: u64,
    /// Traces whose summary was rewritten because one of their spans changed.
    pub traces_touched: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch durably and atomically; when this returns `Ok`, a crash loses none of
    /// it.
    async fn write(&self, batch: Arc<Batch>) -> Result<()>;

    /// [`Store::write`] for a batch that may be delivered again (a queue entry whose
    /// acknowledgement was lost, or whose write failed halfway): every delivery with the same
    /// `key` is stored once. A backend whose writes are atomic needs nothing more than `write`.
    async fn write_once(&self, batch: Arc<Batch>, key: &str) -> Result<()> {
        let _ = key;
        self.write(batch).await
    }

    /// The trace summary and every span (latest versions), in start order.
    async fn trace(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<Span>)>>;

    /// The trace summary and the outline of every span (latest versions, without inputs,
    /// outputs, attributes, events or links), in start order: what a tree needs, which for a
    /// large trace is a fraction of [`Store::trace`]'s reading.
    async fn trace_outline(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<SpanOutline>)>> {
        Ok(self
            .trace(project, trace_id)
            .await?
            .map(|(summary, spans)| (summary, spans.iter().map(SpanOutline::from).collect())))
    }

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

    /// Rollups over the window grouped as the topology needs them (`topology::build` makes
    /// the graph; every agent, tool and model the project used in the window is in them).
    async fn topology_rows(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<topology::TopoRow>>;

    /// An agent's versions (what its runs used: tools, models, system prompt), newest first by
    /// when each was first seen, each with what changed from the one before (`versions`).
    async fn agent_versions(
        &self,
        project: &str,
        agent: &str,
    ) -> Result<Vec<spyglass_model::topology::AgentVersion>>;

    /// Traces that started in the window and called one of `sink_tools` (at most
    /// `max_traces`, newest first), with their spans and prompt-injection findings, for
    /// `attack::paths`.
    async fn attack_evidence(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        sink_tools: &[String],
        max_traces: usize,
    ) -> Result<Vec<attack::TraceEvidence>>;

    /// The ids, instrumentation scopes and conventions of the agent spans in the window (for
    /// the inventory's framework and agent ids).
    async fn agent_identities(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<topology::AgentIdentity>>;

    /// Tool descriptions their spans reported (`gen_ai.tool.description`, `tool.description`),
    /// from each tool's latest call in the window.
    async fn tool_descriptions(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<(String, String)>>;

    /// Guardrails that ran in the window, per guardrail and agent, with their decisions.
    async fn guardrails(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<spyglass_model::topology::Guardrail>>;

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

    /// Per-project price overrides set through the API: (project, JSON document), as stored
    /// by [`Store::put_price_overrides`].
    async fn price_overrides(&self) -> Result<Vec<(String, String)>>;

    /// Stores (replacing) a project's price overrides, a JSON document the store keeps as
    /// given; `None` deletes them.
    async fn put_price_overrides(&self, project: &str, json: Option<&str>) -> Result<()>;

    /// Re-prices, with `price`, the stored versions of every LLM and embedding span of the
    /// project that started in `[from_ns, to_ns)`, and brings everything derived from their
    /// costs up to date: trace summaries, rollups, and whatever the backend keeps to keep
    /// them exact as later versions arrive. Spans `price` leaves alone (a reported cost) keep
    /// theirs. Running it again with the same prices changes nothing.
    async fn recompute_costs(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: PriceFn,
    ) -> Result<RecomputeReport>;

    async fn stats(&self) -> Result<StoreStats>;

    /// Deletes the project's traces whose every span started before `cutoff_ns`, and its
    /// rollups, agent-version rows and alert events older than that.
    async fn apply_retention(&self, project: &str, cutoff_ns: i64) -> Result<RetentionReport>;

    /// Every project with stored traces.
    async fn projects(&self) -> Result<Vec<String>>;

    /// Writes the selected spans of a project (latest versions, with their findings) as
    /// archive files under `dir` (crate::archive has the layout), and lists them.
    async fn export(
        &self,
        spec: &archive::ExportSpec,
        dir: &std::path::Path,
    ) -> Result<Vec<archive::ExportedFile>>;

    /// Deletes a trace, a session's traces or a user's traces (every span, link, finding and
    /// summary; their contributions taken out of rollups and agent versions), gone from every
    /// query when this returns.
    async fn delete(
        &self,
        project: &str,
        target: &spyglass_model::audit::DeleteTarget,
    ) -> Result<spyglass_model::audit::DeletionReport>;

    /// Every project, key, user and session record.
    async fn auth_records(&self) -> Result<Vec<spyglass_model::auth::AuthRecord>>;

    /// Inserts or replaces a record (by kind and id).
    async fn put_auth_record(&self, record: &spyglass_model::auth::AuthRecord) -> Result<()>;

    /// Deletes a record; whether it existed.
    async fn delete_auth_record(
        &self,
        kind: spyglass_model::auth::AuthKind,
        id: &str,
    ) -> Result<bool>;

    async fn record_audit(&self, entry: &spyglass_model::audit::AuditEntry) -> Result<()>;

    /// The audit log, newest first, entries before `before_ns`.
    async fn audit_log(
        &self,
        project: &str,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<spyglass_model::audit::AuditEntry>>;

    /// Merges what background compaction merges (rollup deltas) now; reads answer the same
    /// before and after.
    async fn compact(&self) -> Result<()>;

    /// Checks the store answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
}
