//! The ClickHouse backend, for the scale-out roles: the same [`Store`] trait and conformance
//! suite as the embedded DuckDB store, over ClickHouse's HTTP interface with the official
//! `clickhouse` crate.
//!
//! Writes keep trace summaries, rollups and agent versions exact the way the DuckDB writer
//! does (`summary`, `rollup`, `versions`): the spans of the traces a batch touches are read
//! back, the batch is folded in, and what changed is inserted. Per-trace state is not cached
//! across batches, because another processor may have written the trace since (the queue
//! gives each trace to one processor at a time, but ownership moves). A batch from the queue
//! is written with its key (its entries' ids) as the insert token, and the spans go last, so
//! a batch redelivered after a failure at any point is stored once (see `write`).

mod admin;
mod analytics;
mod client;
mod read;
mod rows;
pub mod schema;
mod write;

pub use client::ClickHouseConfig;

use crate::analytics::check_timeseries;
use crate::{
    Batch, PriceFn, RecomputeReport, Result, RetentionConfig, RetentionReport, Store, StoreStats,
};
use async_trait::async_trait;
use client::Ch;
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

pub struct ClickHouseStore {
    ch: Ch,
    /// Per-project retention, stamped on rows as their TTL (a backstop behind the exact
    /// per-trace retention pass).
    retention: RetentionConfig,
    /// Writes of one process are serialized: two concurrent batches of one trace would each
    /// fold into a state that misses the other.
    writer: tokio::sync::Mutex<write::Writer>,
}

impl ClickHouseStore {
    /// Connects, creates the database if needed and applies the migrations it lacks.
    pub async fn open(cfg: &ClickHouseConfig, retention: RetentionConfig) -> Result<Self> {
        let ch = Ch::connect(cfg)?;
        let (was, now) = ch.migrate().await?;
        tracing::info!(
            url = %cfg.redacted_url(),
            database = %ch.db,
            schema_version = now,
            previous = was,
            "opened ClickHouse store"
        );
        Ok(ClickHouseStore {
            ch,
            retention,
            writer: tokio::sync::Mutex::new(write::Writer),
        })
    }

    fn ttl_days(&self, project: &str) -> u16 {
        self.retention.days_for(project).min(u16::MAX as u32) as u16
    }
}

#[async_trait]
impl Store for ClickHouseStore {
    async fn write(&self, batch: Arc<Batch>) -> Result<()> {
        let mut w = self.writer.lock().await;
        w.write(&self.ch, &batch, &write::unique_token(), &|p| {
            self.ttl_days(p)
        })
        .await
    }

    async fn write_once(&self, batch: Arc<Batch>, key: &str) -> Result<()> {
        let mut w = self.writer.lock().await;
        w.write(&self.ch, &batch, &format!("entry-{key}"), &|p| {
            self.ttl_days(p)
        })
        .await
    }

    async fn trace(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<Span>)>> {
        read::trace(&self.ch, project, trace_id, true).await
    }

    async fn trace_outline(
        &self,
        project: &str,
        trace_id: TraceId,
    ) -> Result<Option<(TraceSummary, Vec<SpanOutline>)>> {
        let found = read::trace(&self.ch, project, trace_id, false).await?;
        Ok(found.map(|(s, spans)| (s, spans.iter().map(SpanOutline::from).collect())))
    }

    async fn span(
        &self,
        project: &str,
        trace_id: TraceId,
        span_id: SpanId,
    ) -> Result<Option<Span>> {
        read::span(&self.ch, project, trace_id, span_id).await
    }

    async fn traces(&self, project: &str, q: &TraceQuery) -> Result<Page<TraceSummary>> {
        read::traces(&self.ch, project, q).await
    }

    async fn linked_traces(&self, project: &str, trace_id: TraceId) -> Result<Vec<TraceId>> {
        read::linked_traces(&self.ch, project, trace_id).await
    }

    async fn sessions(&self, project: &str, q: &SessionQuery) -> Result<Page<SessionSummary>> {
        read::sessions(&self.ch, project, q).await
    }

    async fn session(&self, project: &str, session_id: &str) -> Result<Option<SessionDetail>> {
        read::session(&self.ch, project, session_id).await
    }

    async fn facets(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<Facets> {
        read::facets(&self.ch, project, from_ns, to_ns).await
    }

    async fn findings(&self, project: &str, q: &FindingQuery) -> Result<Page<SpanFinding>> {
        read::findings(&self.ch, project, q).await
    }

    async fn finding_counts(
        &self,
        project: &str,
        from_ns: Option<i64>,
        to_ns: Option<i64>,
    ) -> Result<FindingCounts> {
        read::finding_counts(&self.ch, project, from_ns, to_ns).await
    }

    async fn timeseries(&self, project: &str, q: &TimeseriesQuery) -> Result<Timeseries> {
        check_timeseries(q)?;
        analytics::timeseries(&self.ch, project, q).await
    }

    async fn top(&self, project: &str, q: &TopQuery) -> Result<Vec<TopEntry>> {
        analytics::top(&self.ch, project, q).await
    }

    async fn usage(&self, project: &str, q: &UsageQuery) -> Result<Vec<Usage>> {
        analytics::usage(&self.ch, project, q).await
    }

    async fn topology_rows(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<crate::topology::TopoRow>> {
        analytics::topology_rows(&self.ch, project, from_ns, to_ns).await
    }

    async fn agent_versions(
        &self,
        project: &str,
        agent: &str,
    ) -> Result<Vec<spyglass_model::topology::AgentVersion>> {
        analytics::agent_versions(&self.ch, project, agent).await
    }

    async fn attack_evidence(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        sink_tools: &[String],
        max_traces: usize,
    ) -> Result<Vec<crate::attack::TraceEvidence>> {
        analytics::attack_evidence(&self.ch, project, from_ns, to_ns, sink_tools, max_traces).await
    }

    async fn agent_identities(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<crate::topology::AgentIdentity>> {
        analytics::agent_identities(&self.ch, project, from_ns, to_ns).await
    }

    async fn tool_descriptions(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<(String, String)>> {
        analytics::tool_descriptions(&self.ch, project, from_ns, to_ns).await
    }

    async fn guardrails(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<spyglass_model::topology::Guardrail>> {
        analytics::guardrails(&self.ch, project, from_ns, to_ns).await
    }

    async fn alert_rules(&self, project: Option<&str>) -> Result<Vec<AlertRule>> {
        admin::alert_rules(&self.ch, project).await
    }

    async fn put_alert_rule(&self, rule: &AlertRule) -> Result<()> {
        admin::put_alert_rule(&self.ch, rule).await
    }

    async fn delete_alert_rule(&self, project: &str, id: &str) -> Result<bool> {
        admin::delete_alert_rule(&self.ch, project, id).await
    }

    async fn record_alert_event(&self, event: &AlertEvent) -> Result<()> {
        admin::record_alert_event(&self.ch, event).await
    }

    async fn alert_events(
        &self,
        project: &str,
        rule_id: Option<&str>,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AlertEvent>> {
        admin::alert_events(&self.ch, project, rule_id, before_ns, limit).await
    }

    async fn latest_alert_events(&self) -> Result<Vec<AlertEvent>> {
        admin::latest_alert_events(&self.ch).await
    }

    async fn price_overrides(&self) -> Result<Vec<(String, String)>> {
        admin::price_overrides(&self.ch).await
    }

    async fn put_price_overrides(&self, project: &str, json: Option<&str>) -> Result<()> {
        admin::put_price_overrides(&self.ch, project, json).await
    }

    async fn recompute_costs(
        &self,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: PriceFn,
    ) -> Result<RecomputeReport> {
        let mut w = self.writer.lock().await;
        w.recompute_costs(&self.ch, project, from_ns, to_ns, price, &|p| {
            self.ttl_days(p)
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        admin::stats(&self.ch).await
    }

    async fn apply_retention(&self, project: &str, cutoff_ns: i64) -> Result<RetentionReport> {
        let _w = self.writer.lock().await;
        admin::apply_retention(&self.ch, project, cutoff_ns).await
    }

    async fn projects(&self) -> Result<Vec<String>> {
        admin::projects(&self.ch).await
    }

    async fn export(
        &self,
        spec: &crate::archive::ExportSpec,
        dir: &std::path::Path,
    ) -> Result<Vec<crate::archive::ExportedFile>> {
        admin::export(&self.ch, spec, dir).await
    }

    async fn delete(
        &self,
        project: &str,
        target: &spyglass_model::audit::DeleteTarget,
    ) -> Result<spyglass_model::audit::DeletionReport> {
        let _w = self.writer.lock().await;
        admin::delete(&self.ch, project, target).await
    }

    async fn auth_records(&self) -> Result<Vec<spyglass_model::auth::AuthRecord>> {
        admin::auth_records(&self.ch).await
    }

    async fn put_auth_record(&self, record: &spyglass_model::auth::AuthRecord) -> Result<()> {
        admin::put_auth_record(&self.ch, record).await
    }

    async fn delete_auth_record(
        &self,
        kind: spyglass_model::auth::AuthKind,
        id: &str,
    ) -> Result<bool> {
        admin::delete_auth_record(&self.ch, kind, id).await
    }

    async fn record_audit(&self, entry: &spyglass_model::audit::AuditEntry) -> Result<()> {
        admin::record_audit(&self.ch, entry).await
    }

    async fn audit_log(
        &self,
        project: &str,
        before_ns: Option<i64>,
        limit: u32,
    ) -> Result<Vec<spyglass_model::audit::AuditEntry>> {
        admin::audit_log(&self.ch, project, before_ns, limit).await
    }

    async fn compact(&self) -> Result<()> {
        admin::compact(&self.ch).await
    }

    async fn ping(&self) -> Result<()> {
        self.ch.ping().await
    }
}
