//! Canonical spans back into OTLP, with what Spyglass learned about each span added as
//! `spyglass.*` attributes. Pure: no IO, no clock.
//!
//! The span is rebuilt as the normalizer received it, as far as the canonical span keeps it:
//! ids, parent, name, times, OTLP kind, status, attributes, events, links, scope and resource.
//! The one thing the normalizer moves out of the attributes is the input and output (the keys
//! it read them from are not kept), so they go back as OpenInference's `input.value` and
//! `output.value`, which every reader takes verbatim; normalizing the result gives the same
//! canonical span again.

use crate::anyvalue::{self, double, int, string};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as OtlpSpan, Status as OtlpStatus,
};
use serde::Serialize;
use spyglass_model::{
    Category, JsonText, OtelKind, Severity, Span, SpanFinding, SpanId, Status, TraceId,
};
use spyglass_store::Batch;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// The span's cost in USD, when known.
pub const COST_USD: &str = "spyglass.cost_usd";
/// computed, reported or unpriced.
pub const COST_SOURCE: &str = "spyglass.cost_source";
/// The canonical kind: agent, chain, llm, tool, ...
pub const KIND: &str = "spyglass.kind";
/// JSON array of `{category, detector, severity, score}`, when the span has findings.
pub const FINDINGS: &str = "spyglass.findings";
pub const FINDINGS_COUNT: &str = "spyglass.findings.count";
/// The worst severity among the findings, when there are any.
pub const FINDINGS_MAX_SEVERITY: &str = "spyglass.findings.max_severity";

const ENRICHMENT: [&str; 6] = [
    COST_USD,
    COST_SOURCE,
    KIND,
    FINDINGS,
    FINDINGS_COUNT,
    FINDINGS_MAX_SEVERITY,
];

/// Where the input and output go; the normalizer reads them back from here.
pub const INPUT_KEY: &str = "input.value";
pub const OUTPUT_KEY: &str = "output.value";

/// The attribute the normalizer appends when it drops attributes; it goes back into the OTLP
/// span's own count.
const DROPPED_ATTRIBUTES: &str = "spyglass.dropped_attributes_count";

/// W3C "sampled": every span that reached Spyglass was recorded and exported.
const SAMPLED: u32 = 1;

/// One span version in a batch: a batch comes from one request, so one project, and each
/// span in it has its own receipt time (a running and a finished version differ in it).
type VersionKey = (TraceId, SpanId, i64);

/// A batch's findings, by the span version they were made on.
pub struct Findings<'a> {
    by_span: HashMap<VersionKey, Vec<&'a SpanFinding>>,
}

impl<'a> Findings<'a> {
    pub fn new(findings: &'a [SpanFinding]) -> Self {
        let mut by_span: HashMap<VersionKey, Vec<&'a SpanFinding>> = HashMap::new();
        for f in findings {
            by_span
                .entry((f.trace_id, f.span_id, f.received_ns))
                .or_default()
                .push(f);
        }
        Findings { by_span }
    }

    pub fn of(&self, span: &Span) -> &[&'a SpanFinding] {
        self.by_span
            .get(&(span.trace_id, span.span_id, span.received_ns))
            .map_or(&[], Vec::as_slice)
    }
}

/// One OTLP request built span by span, grouped by resource and scope in order of first use.
#[derive(Default)]
pub struct RequestBuilder {
    resources: Vec<ResourceGroup>,
    spans: usize,
}

struct ResourceGroup {
    service_name: Arc<str>,
    attributes: Arc<JsonText>,
    out: ResourceSpans,
}

impl RequestBuilder {
    /// Adds the spans `range` of `batch`, each with its findings.
    pub fn push_batch(&mut self, batch: &Batch, range: Range<usize>) {
        let findings = Findings::new(&batch.findings);
        for span in &batch.spans[range] {
            self.push(span, findings.of(span));
        }
    }

    pub fn push(&mut self, span: &Span, findings: &[&SpanFinding]) {
        let group = self.group(span);
        let scope_spans = &mut group.out.scope_spans;
        let i = match scope_spans.iter().position(|s| {
            s.scope
                .as_ref()
                .is_some_and(|sc| sc.name == *span.scope_name)
        }) {
            Some(i) => i,
            None => {
                scope_spans.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: span.scope_name.to_string(),
                        ..Default::default()
                    }),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
                scope_spans.len() - 1
            }
        };
        scope_spans[i].spans.push(encode_span(span, findings));
        self.spans += 1;
    }

    /// Spans added so far.
    pub fn len(&self) -> usize {
        self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    pub fn finish(self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.resources.into_iter().map(|g| g.out).collect(),
        }
    }

    /// The group of the span's resource. A request holds few resources, so a scan (comparing
    /// the shared attribute text by pointer first) beats hashing each span's resource text.
    fn group(&mut self, span: &Span) -> &mut ResourceGroup {
        let found = self.resources.iter().position(|g| {
            g.service_name == span.service_name
                && (Arc::ptr_eq(&g.attributes, &span.resource_attributes)
                    || g.attributes == span.resource_attributes)
        });
        let i = match found {
            Some(i) => i,
            None => {
                self.resources.push(ResourceGroup {
                    service_name: span.service_name.clone(),
                    attributes: span.resource_attributes.clone(),
                    out: ResourceSpans {
                        resource: Some(encode_resource(span)),
                        scope_spans: Vec::new(),
                        schema_url: String::new(),
                    },
                });
                self.resources.len() - 1
            }
        };
        &mut self.resources[i]
    }
}

/// A whole batch as one request.
pub fn encode_batch(batch: &Batch) -> ExportTraceServiceRequest {
    let mut b = RequestBuilder::default();
    b.push_batch(batch, 0..batch.spans.len());
    b.finish()
}

/// The resource's attributes, with `service.name` added when the producer sent none (the
/// canonical span then says `unknown_service`, as OpenTelemetry SDKs do).
fn encode_resource(span: &Span) -> Resource {
    let mut attributes = anyvalue::key_values(&span.resource_attributes);
    if !attributes.iter().any(|kv| kv.key == "service.name") {
        attributes.push(string("service.name", &*span.service_name));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

pub fn encode_span(span: &Span, findings: &[&SpanFinding]) -> OtlpSpan {
    let mut dropped_attributes_count = 0;
    let mut attributes = anyvalue::key_values(&span.attributes);
    attributes.retain(|kv| {
        if kv.key == DROPPED_ATTRIBUTES {
            if let Some(Value::IntValue(n)) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                dropped_attributes_count = u32::try_from(*n).unwrap_or(u32::MAX);
            }
            return false;
        }
        // Spyglass's own keys from an upstream Spyglass are replaced by this one's, and an
        // input or output left in the attributes (the alternative the normalizer did not
        // choose) by the one it chose.
        let replaced = match kv.key.as_str() {
            INPUT_KEY => span.input.is_some(),
            OUTPUT_KEY => span.output.is_some(),
            key => ENRICHMENT.contains(&key),
        };
        !replaced
    });
    if let Some(input) = &span.input {
        attributes.push(string(INPUT_KEY, input));
    }
    if let Some(output) = &span.output {
        attributes.push(string(OUTPUT_KEY, output));
    }
    enrich(&mut attributes, span, findings);

    OtlpSpan {
        trace_id: span.trace_id.0.to_vec(),
        span_id: span.span_id.0.to_vec(),
        trace_state: String::new(),
        parent_span_id: span
            .parent_span_id
            .map(|p| p.0.to_vec())
            .unwrap_or_default(),
        flags: SAMPLED,
        name: span.name.clone(),
        kind: otlp_kind(span.otel_kind),
        start_time_unix_nano: nanos(span.start_ns),
        end_time_unix_nano: span.end_ns.map_or(0, nanos),
        attributes,
        dropped_attributes_count,
        events: span
            .events
            .iter()
            .map(|e| Event {
                time_unix_nano: nanos(e.time_ns),
                name: e.name.clone(),
                attributes: anyvalue::key_values(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: span
            .links
            .iter()
            .map(|l| Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: String::new(),
                attributes: anyvalue::key_values(&l.attributes),
                dropped_attributes_count: 0,
                flags: 0,
            })
            .collect(),
        dropped_links_count: 0,
        status: encode_status(span),
    }
}

/// The finding fields a downstream tool can filter on; evidence and offsets stay in Spyglass.
#[derive(Serialize)]
struct FindingSummary<'a> {
    category: Category,
    detector: &'a str,
    severity: Severity,
    score: f32,
}

fn enrich(attributes: &mut Vec<KeyValue>, span: &Span, findings: &[&SpanFinding]) {
    if let Some(cost) = span.cost_usd {
        attributes.push(double(COST_USD, cost));
    }
    if let Some(source) = span.cost_source {
        attributes.push(string(COST_SOURCE, source.as_str()));
    }
    attributes.push(string(KIND, span.kind.as_str()));
    attributes.push(int(FINDINGS_COUNT, findings.len() as i64));
    if findings.is_empty() {
        return;
    }
    let summaries: Vec<FindingSummary> = findings
        .iter()
        .map(|f| FindingSummary {
            category: f.finding.category,
            detector: &f.finding.detector,
            severity: f.finding.severity,
            score: f.finding.score,
        })
        .collect();
    let json = serde_json::to_string(&summaries).expect("plain fields serialize");
    attributes.push(string(FINDINGS, json));
    if let Some(worst) = findings.iter().map(|f| f.finding.severity).max() {
        attributes.push(string(FINDINGS_MAX_SEVERITY, worst.as_str()));
    }
}

fn encode_status(span: &Span) -> Option<OtlpStatus> {
    let code = match span.status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error => 2,
    };
    if code == 0 && span.status_message.is_none() {
        return None;
    }
    Some(OtlpStatus {
        code,
        message: span.status_message.clone().unwrap_or_default(),
    })
}

fn otlp_kind(k: OtelKind) -> i32 {
    match k {
        OtelKind::Unspecified => 0,
        OtelKind::Internal => 1,
        OtelKind::Server => 2,
        OtelKind::Client => 3,
        OtelKind::Producer => 4,
        OtelKind::Consumer => 5,
    }
}

/// Stored times are validated Unix nanoseconds, so never negative; 0 stands in otherwise.
fn nanos(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}

#[cfg(test)]
mod tests;
