//! A small builder for OTLP traces.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

pub fn kv_str(k: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        key_strindex: 0,
    }
}

pub fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(v)),
        }),
        key_strindex: 0,
    }
}

pub fn kv_f64(k: &str, v: f64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::DoubleValue(v)),
        }),
        key_strindex: 0,
    }
}

pub fn kv_bool(k: &str, v: bool) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(v)),
        }),
        key_strindex: 0,
    }
}

pub fn kv_strs(k: &str, v: &[&str]) -> KeyValue {
    let values = v
        .iter()
        .map(|s| AnyValue {
            value: Some(Value::StringValue(s.to_string())),
        })
        .collect();
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(ArrayValue { values })),
        }),
        key_strindex: 0,
    }
}

/// xorshift64*: fast, seedable, good enough for ids and shapes (not for secrets).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }
    /// Uniform in `lo..hi` (hi exclusive, hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64) as usize]
    }
    pub fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&(self.next_u64() | 1).to_be_bytes());
        id
    }
    pub fn span_id(&mut self) -> [u8; 8] {
        (self.next_u64() | 1).to_be_bytes()
    }
}

/// Builds the spans of one trace, with times in milliseconds from the trace start.
pub struct TraceBuilder {
    pub trace_id: [u8; 16],
    pub start_ns: i64,
    pub spans: Vec<Span>,
    rng: Rng,
}

/// Handle to a span being built (its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanRef(pub usize);

const MS: i64 = 1_000_000;

impl TraceBuilder {
    pub fn new(rng: &mut Rng, start_ns: i64) -> Self {
        TraceBuilder {
            trace_id: rng.trace_id(),
            start_ns,
            spans: Vec::new(),
            rng: Rng::new(rng.next_u64()),
        }
    }

    /// Adds a finished span `start_ms..start_ms + dur_ms` after the trace start.
    pub fn span(
        &mut self,
        parent: Option<SpanRef>,
        name: &str,
        start_ms: i64,
        dur_ms: i64,
        attributes: Vec<KeyValue>,
    ) -> SpanRef {
        let span_id = self.rng.span_id().to_vec();
        let parent_span_id = parent
            .map(|p| self.spans[p.0].span_id.clone())
            .unwrap_or_default();
        let start = self.start_ns + start_ms * MS;
        self.spans.push(Span {
            trace_id: self.trace_id.to_vec(),
            span_id,
            parent_span_id,
            name: name.into(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: start as u64,
            end_time_unix_nano: (start + dur_ms.max(0) * MS) as u64,
            attributes,
            ..Default::default()
        });
        SpanRef(self.spans.len() - 1)
    }

    pub fn get(&mut self, s: SpanRef) -> &mut Span {
        &mut self.spans[s.0]
    }

    pub fn error(&mut self, s: SpanRef, message: &str) {
        self.spans[s.0].status = Some(Status {
            code: 2,
            message: message.into(),
        });
    }

    pub fn client(&mut self, s: SpanRef) {
        self.spans[s.0].kind = span::SpanKind::Client as i32;
    }

    /// Marks a span as still running (no end time), as an SDK's in-progress export does.
    pub fn running(&mut self, s: SpanRef) {
        self.spans[s.0].end_time_unix_nano = 0;
    }

    pub fn link_to(&mut self, s: SpanRef, trace_id: [u8; 16], span_id: Vec<u8>) {
        self.spans[s.0].links.push(span::Link {
            trace_id: trace_id.to_vec(),
            span_id,
            ..Default::default()
        });
    }

    pub fn event(&mut self, s: SpanRef, at_ms: i64, name: &str, attributes: Vec<KeyValue>) {
        let t = self.start_ns + at_ms * MS;
        self.spans[s.0].events.push(span::Event {
            time_unix_nano: t as u64,
            name: name.into(),
            attributes,
            dropped_attributes_count: 0,
        });
    }
}

/// Wraps spans as one OTLP request from `service` with the given scope.
pub fn request(
    service: &str,
    environment: &str,
    scope: &str,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv_str("service.name", service),
                    kv_str("service.version", "1.4.2"),
                    kv_str("deployment.environment.name", environment),
                    kv_str("telemetry.sdk.language", "python"),
                    kv_str("telemetry.sdk.name", "opentelemetry"),
                ],
                dropped_attributes_count: 0,
                entity_refs: vec![],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
