//! Rows as ClickHouse stores them (RowBinary through the `clickhouse` crate, by position:
//! every `SELECT` lists exactly the struct's fields in order) and their conversions to and from
//! the model.

use crate::StoreError;
use crate::summary::TraceState;
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use spyglass_model::{
    Category, Conventions, CostSource, Encoding, Field, Finding, JsonText, OtelKind, Severity,
    Span, SpanFinding, SpanId, SpanKind, Status, Tokens, TraceId, TraceSummary, Vector,
};
use std::sync::Arc;

pub(super) fn corrupt(column: &'static str, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        column,
        message: message.to_string(),
    }
}

/// A JSON array, or `None` for an empty list.
fn json_list<T: Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).expect("lists of serializable items"))
}

fn json_list_or_empty<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    column: &'static str,
) -> Result<Vec<T>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t).map_err(|e| corrupt(column, e)),
    }
}

/// A span version's rank among versions of the same span: finished beats running, then the
/// latest received wins (the `spans` table's ReplacingMergeTree version).
pub fn version_rank(finished: bool, received_ns: i64) -> u64 {
    ((finished as u64) << 63) | (received_ns.max(0) as u64 & (u64::MAX >> 1))
}

/// Top-level attributes as `key → value` (strings as they are, anything else as JSON), for
/// SQL users; the JSON text stays the source of truth.
fn attribute_map(attributes: &JsonText) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(attributes.as_str()) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The columns of [`SpanRow`] in order (the stored names).
pub const SPAN_COLUMNS: &str = "project_id, trace_id, span_id, parent_span_id, name, service_name, \
    scope_name, environment, otel_kind, kind, start_ns, end_ns, duration_ns, status, status_message, \
    session_id, user_id, agent_name, agent_id, tool_name, provider, request_model, response_model, \
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, \
    total_tokens, cost_usd, cost_source, input, output, attributes, resource_attributes, events, \
    links, conventions, unmapped_keys, received_ns";

/// [`SPAN_COLUMNS`] without the bulky payloads (typed NULLs and empty objects in their place),
/// for trees, summaries and analytics.
pub const SPAN_OUTLINE_COLUMNS: &str = "project_id, trace_id, span_id, parent_span_id, name, \
    service_name, scope_name, environment, otel_kind, kind, start_ns, end_ns, duration_ns, status, \
    status_message, session_id, user_id, agent_name, agent_id, tool_name, provider, request_model, \
    response_model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
    reasoning_tokens, total_tokens, cost_usd, cost_source, CAST(NULL, 'Nullable(String)'), \
    CAST(NULL, 'Nullable(String)'), '{}', '{}', CAST(NULL, 'Nullable(String)'), \
    CAST(NULL, 'Nullable(String)'), conventions, unmapped_keys, received_ns";

/// Keeps the latest version of each span among the rows a query selects.
pub const LATEST_SPAN: &str = "ORDER BY trace_id, span_id, (end_ns IS NOT NULL) DESC, received_ns DESC LIMIT 1 BY trace_id, span_id";

/// A span as read back (the columns of [`SPAN_COLUMNS`]).
#[derive(Debug, Row, Deserialize)]
pub struct SpanRow {
    pub project_id: String,
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub name: String,
    pub service_name: String,
    pub scope_name: String,
    pub environment: Option<String>,
    pub otel_kind: u8,
    pub kind: String,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub status: String,
    pub status_message: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub provider: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub cost_source: Option<u8>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: String,
    pub resource_attributes: String,
    pub events: Option<String>,
    pub links: Option<String>,
    pub conventions: u16,
    pub unmapped_keys: Option<String>,
    pub received_ns: i64,
}

impl SpanRow {
    pub fn into_span(self) -> Result<Span, StoreError> {
        Ok(Span {
            project_id: self.project_id.into(),
            trace_id: TraceId::from_u128(self.trace_id),
            span_id: SpanId::from_u64(self.span_id),
            parent_span_id: self.parent_span_id.map(SpanId::from_u64),
            name: self.name,
            service_name: self.service_name.into(),
            scope_name: self.scope_name.into(),
            environment: self.environment.map(Into::into),
            otel_kind: OtelKind::from_code(self.otel_kind).unwrap_or(OtelKind::Unspecified),
            kind: SpanKind::parse(&self.kind).unwrap_or(SpanKind::Other),
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            duration_ns: self.duration_ns,
            status: Status::parse(&self.status).unwrap_or(Status::Unset),
            status_message: self.status_message,
            session_id: self.session_id,
            user_id: self.user_id,
            agent_name: self.agent_name,
            agent_id: self.agent_id,
            tool_name: self.tool_name,
            provider: self.provider,
            request_model: self.request_model,
            response_model: self.response_model,
            tokens: Tokens {
                input: self.input_tokens,
                output: self.output_tokens,
                cache_read: self.cache_read_tokens,
                cache_write: self.cache_write_tokens,
                reasoning: self.reasoning_tokens,
                total: self.total_tokens,
            },
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
            conventions: Conventions::from_bits(self.conventions),
            unmapped_keys: json_list_or_empty(self.unmapped_keys.as_deref(), "unmapped_keys")?,
            received_ns: self.received_ns,
        })
    }
}

/// A span version to insert.
#[derive(Debug, Row, Serialize)]
pub struct SpanInsert<'a> {
    pub project_id: &'a str,
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub name: &'a str,
    pub service_name: &'a str,
    pub scope_name: &'a str,
    pub environment: Option<&'a str>,
    pub otel_kind: u8,
    pub kind: &'static str,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub status: &'static str,
    pub status_message: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub tool_name: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub request_model: Option<&'a str>,
    pub response_model: Option<&'a str>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub cost_source: Option<u8>,
    pub input: Option<&'a str>,
    pub output: Option<&'a str>,
    pub attributes: &'a str,
    pub attributes_map: Vec<(String, String)>,
    pub resource_attributes: &'a str,
    pub events: Option<String>,
    pub links: Option<String>,
    pub conventions: u16,
    pub unmapped_keys: Option<String>,
    pub received_ns: i64,
    pub ver: u64,
    pub ttl_days: u16,
}

impl<'a> SpanInsert<'a> {
    pub fn of(s: &'a Span, ttl_days: u16) -> Self {
        SpanInsert {
            project_id: &s.project_id,
            trace_id: s.trace_id.as_u128(),
            span_id: s.span_id.as_u64(),
            parent_span_id: s.parent_span_id.map(|p| p.as_u64()),
            name: &s.name,
            service_name: &s.service_name,
            scope_name: &s.scope_name,
            environment: s.environment.as_deref(),
            otel_kind: s.otel_kind.code(),
            kind: s.kind.as_str(),
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            duration_ns: s.duration_ns,
            status: s.status.as_str(),
            status_message: s.status_message.as_deref(),
            session_id: s.session_id.as_deref(),
            user_id: s.user_id.as_deref(),
            agent_name: s.agent_name.as_deref(),
            agent_id: s.agent_id.as_deref(),
            tool_name: s.tool_name.as_deref(),
            provider: s.provider.as_deref(),
            request_model: s.request_model.as_deref(),
            response_model: s.response_model.as_deref(),
            input_tokens: s.tokens.input,
            output_tokens: s.tokens.output,
            cache_read_tokens: s.tokens.cache_read,
            cache_write_tokens: s.tokens.cache_write,
            reasoning_tokens: s.tokens.reasoning,
            total_tokens: s.tokens.total,
            cost_usd: s.cost_usd,
            cost_source: s.cost_source.map(|c| c.code()),
            input: s.input.as_deref(),
            output: s.output.as_deref(),
            attributes: s.attributes.as_str(),
            attributes_map: attribute_map(&s.attributes),
            resource_attributes: s.resource_attributes.as_str(),
            events: json_list(&s.events),
            links: json_list(&s.links),
            conventions: s.conventions.bits(),
            unmapped_keys: json_list(&s.unmapped_keys),
            received_ns: s.received_ns,
            ver: version_rank(s.end_ns.is_some(), s.received_ns),
            ttl_days,
        }
    }
}

#[derive(Debug, Row, Serialize)]
pub struct LinkInsert<'a> {
    pub project_id: &'a str,
    pub trace_id: u128,
    pub span_id: u64,
    pub linked_trace_id: u128,
    pub linked_span_id: u64,
    pub start_ns: i64,
}

/// The columns of [`SummaryRow`] in order.
pub const SUMMARY_COLUMNS: &str = "trace_id, root_span_id, name, service_name, start_ns, end_ns, \
    duration_ns, span_count, error_count, running_count, status, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_usd, session_id, \
    user_id, environment, agents, services, models, tools, kinds, input_preview, output_preview, \
    last_received_ns";

/// The latest version of each trace summary among the rows `inner` selects. As in the DuckDB
/// store, `inner` must only narrow by conditions that every older version also meets when the
/// latest does (project, `max_start_ns >= x`, `start_ns <= x`).
pub(super) fn latest_summaries(inner: &str) -> String {
    format!(
        "(SELECT * FROM trace_summaries WHERE {inner} ORDER BY trace_id, version DESC \
         LIMIT 1 BY trace_id)"
    )
}

/// A trace summary as read back.
#[derive(Debug, Row, Deserialize)]
pub struct SummaryRow {
    pub trace_id: u128,
    pub root_span_id: Option<u64>,
    pub name: String,
    pub service_name: String,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub span_count: i64,
    pub error_count: i64,
    pub running_count: i64,
    pub status: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub agents: Vec<String>,
    pub services: Vec<String>,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    pub kinds: Vec<String>,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    pub last_received_ns: i64,
}

impl SummaryRow {
    pub fn into_summary(self) -> TraceSummary {
        TraceSummary {
            trace_id: TraceId::from_u128(self.trace_id),
            root_span_id: self.root_span_id.map(SpanId::from_u64),
            name: self.name,
            service_name: self.service_name,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            duration_ns: self.duration_ns,
            span_count: self.span_count,
            error_count: self.error_count,
            running_count: self.running_count,
            status: Status::parse(&self.status).unwrap_or(Status::Unset),
            tokens: Tokens {
                input: self.input_tokens,
                output: self.output_tokens,
                cache_read: self.cache_read_tokens,
                cache_write: self.cache_write_tokens,
                reasoning: self.reasoning_tokens,
                total: self.total_tokens,
            },
            cost_usd: self.cost_usd,
            session_id: self.session_id,
            user_id: self.user_id,
            environment: self.environment,
            agents: self.agents,
            services: self.services,
            models: self.models,
            tools: self.tools,
            kinds: self.kinds,
            input_preview: self.input_preview,
            output_preview: self.output_preview,
            last_received_ns: self.last_received_ns,
        }
    }
}

/// A trace summary version to insert.
#[derive(Debug, Row, Serialize)]
pub struct SummaryInsert {
    pub project_id: String,
    pub trace_id: u128,
    pub root_span_id: Option<u64>,
    pub name: String,
    pub service_name: String,
    pub start_ns: i64,
    pub max_start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub span_count: i64,
    pub error_count: i64,
    pub running_count: i64,
    pub status: &'static str,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub agents: Vec<String>,
    pub services: Vec<String>,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    pub kinds: Vec<String>,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    pub min_received_ns: i64,
    pub last_received_ns: i64,
    pub version: i64,
    pub ttl_days: u16,
}

impl SummaryInsert {
    /// The summary of a trace's state, written as `version`.
    pub fn of(
        project: &str,
        trace: TraceId,
        state: &TraceState,
        version: i64,
        ttl_days: u16,
    ) -> Self {
        let (max_start_ns, min_received_ns) = state.storage_bounds();
        let s = state.summary(trace);
        SummaryInsert {
            project_id: project.to_string(),
            trace_id: trace.as_u128(),
            root_span_id: s.root_span_id.map(|r| r.as_u64()),
            name: s.name,
            service_name: s.service_name,
            start_ns: s.start_ns,
            max_start_ns,
            end_ns: s.end_ns,
            duration_ns: s.duration_ns,
            span_count: s.span_count,
            error_count: s.error_count,
            running_count: s.running_count,
            status: s.status.as_str(),
            input_tokens: s.tokens.input,
            output_tokens: s.tokens.output,
            cache_read_tokens: s.tokens.cache_read,
            cache_write_tokens: s.tokens.cache_write,
            reasoning_tokens: s.tokens.reasoning,
            total_tokens: s.tokens.total,
            cost_usd: s.cost_usd,
            session_id: s.session_id,
            user_id: s.user_id,
            environment: s.environment,
            agents: s.agents,
            services: s.services,
            models: s.models,
            tools: s.tools,
            kinds: s.kinds,
            input_preview: s.input_preview,
            output_preview: s.output_preview,
            min_received_ns,
            last_received_ns: s.last_received_ns,
            version,
            ttl_days,
        }
    }
}

/// The columns of [`FindingRow`] in order.
pub const FINDING_COLUMNS: &str = "project_id, id, trace_id, span_id, span_name, span_kind, \
    service_name, agent_name, session_id, user_id, time_ns, received_ns, category, detector, \
    severity, score, field, key, start_offset, end_offset, evidence, vector, encoding";

/// A finding, both ways.
#[derive(Debug, Row, Serialize, Deserialize)]
pub struct FindingRow {
    pub project_id: String,
    pub id: u64,
    pub trace_id: u128,
    pub span_id: u64,
    pub span_name: String,
    pub span_kind: u8,
    pub service_name: String,
    pub agent_name: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub time_ns: i64,
    pub received_ns: i64,
    pub category: u8,
    pub detector: String,
    pub severity: u8,
    pub score: f32,
    pub field: u8,
    pub key: Option<String>,
    pub start_offset: u64,
    pub end_offset: u64,
    pub evidence: String,
    pub vector: Option<u8>,
    pub encoding: Option<u8>,
}

impl FindingRow {
    pub fn of(f: &SpanFinding) -> Self {
        let d = &f.finding;
        FindingRow {
            project_id: f.project_id.to_string(),
            id: f.id,
            trace_id: f.trace_id.as_u128(),
            span_id: f.span_id.as_u64(),
            span_name: f.span_name.clone(),
            span_kind: f.span_kind.code(),
            service_name: f.service_name.clone(),
            agent_name: f.agent_name.clone(),
            session_id: f.session_id.clone(),
            user_id: f.user_id.clone(),
            time_ns: f.time_ns,
            received_ns: f.received_ns,
            category: d.category.code(),
            detector: d.detector.to_string(),
            severity: d.severity.code(),
            score: d.score,
            field: d.field.code(),
            key: d.key.clone(),
            start_offset: d.start as u64,
            end_offset: d.end as u64,
            evidence: d.evidence.clone(),
            vector: d.vector.map(|v| v.code()),
            encoding: d.encoding.map(|e| e.code()),
        }
    }

    pub fn into_finding(self) -> Result<SpanFinding, StoreError> {
        Ok(SpanFinding {
            id: self.id,
            project_id: self.project_id.into(),
            trace_id: TraceId::from_u128(self.trace_id),
            span_id: SpanId::from_u64(self.span_id),
            span_name: self.span_name,
            span_kind: SpanKind::from_code(self.span_kind).unwrap_or(SpanKind::Other),
            service_name: self.service_name,
            agent_name: self.agent_name,
            session_id: self.session_id,
            user_id: self.user_id,
            time_ns: self.time_ns,
            received_ns: self.received_ns,
            finding: Finding {
                category: Category::from_code(self.category)
                    .ok_or_else(|| corrupt("category", self.category))?,
                detector: self.detector.into(),
                severity: Severity::from_code(self.severity)
                    .ok_or_else(|| corrupt("severity", self.severity))?,
                score: self.score,
                field: Field::from_code(self.field).ok_or_else(|| corrupt("field", self.field))?,
                key: self.key,
                start: self.start_offset as usize,
                end: self.end_offset as usize,
                evidence: self.evidence,
                vector: self.vector.and_then(Vector::from_code),
                encoding: self.encoding.and_then(Encoding::from_code),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_outranks_running_then_later_wins() {
        assert!(version_rank(true, 1) > version_rank(false, i64::MAX));
        assert!(version_rank(true, 5) > version_rank(true, 4));
        assert!(version_rank(false, 5) > version_rank(false, 4));
        assert_eq!(version_rank(false, -3), 0);
    }

    #[test]
    fn attribute_map_flattens_the_top_level() {
        let a = JsonText::parse(r#"{"a":"x","b":2,"c":{"d":[1]}}"#.into()).unwrap();
        let mut m = attribute_map(&a);
        m.sort();
        assert_eq!(
            m,
            vec![
                ("a".into(), "x".into()),
                ("b".into(), "2".into()),
                ("c".into(), r#"{"d":[1]}"#.into())
            ]
        );
        assert!(attribute_map(&JsonText::parse("[1]".into()).unwrap()).is_empty());
    }

    #[test]
    fn a_span_survives_insert_row_and_read_row() {
        let mut s = crate::conformance::span("p", 7, 3, Some(1), 10, 20);
        s.events.clear();
        let ins = SpanInsert::of(&s, 0);
        let row = SpanRow {
            project_id: ins.project_id.into(),
            trace_id: ins.trace_id,
            span_id: ins.span_id,
            parent_span_id: ins.parent_span_id,
            name: ins.name.into(),
            service_name: ins.service_name.into(),
            scope_name: ins.scope_name.into(),
            environment: ins.environment.map(Into::into),
            otel_kind: ins.otel_kind,
            kind: ins.kind.into(),
            start_ns: ins.start_ns,
            end_ns: ins.end_ns,
            duration_ns: ins.duration_ns,
            status: ins.status.into(),
            status_message: ins.status_message.map(Into::into),
            session_id: ins.session_id.map(Into::into),
            user_id: ins.user_id.map(Into::into),
            agent_name: ins.agent_name.map(Into::into),
            agent_id: ins.agent_id.map(Into::into),
            tool_name: ins.tool_name.map(Into::into),
            provider: ins.provider.map(Into::into),
            request_model: ins.request_model.map(Into::into),
            response_model: ins.response_model.map(Into::into),
            input_tokens: ins.input_tokens,
            output_tokens: ins.output_tokens,
            cache_read_tokens: ins.cache_read_tokens,
            cache_write_tokens: ins.cache_write_tokens,
            reasoning_tokens: ins.reasoning_tokens,
            total_tokens: ins.total_tokens,
            cost_usd: ins.cost_usd,
            cost_source: ins.cost_source,
            input: ins.input.map(Into::into),
            output: ins.output.map(Into::into),
            attributes: ins.attributes.into(),
            resource_attributes: ins.resource_attributes.into(),
            events: ins.events.clone(),
            links: ins.links.clone(),
            conventions: ins.conventions,
            unmapped_keys: ins.unmapped_keys.clone(),
            received_ns: ins.received_ns,
        };
        assert_eq!(row.into_span().unwrap(), s);
    }
}
