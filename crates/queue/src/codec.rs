//! The wire format of queue entries: a 1-byte format version, then a protobuf message.
//!
//! Protobuf (through `prost`'s derive, no `.proto` build step) rather than JSON because it is
//! compact and fast, keeps `project_id` (which the span's JSON form skips), and lets fields be
//! appended compatibly: a new field gets a new tag and old readers ignore it. A change that
//! old readers would misread takes a new version byte instead. Enums travel as their stored
//! codes (`code()`), JSON-text fields as their text, checked on decode.

use crate::QueueError;
use spyglass_model::{
    Category, Conventions, CostSource, Encoding, Event, Field, Finding, JsonText, Link, OtelKind,
    Severity, Span, SpanFinding, SpanId, SpanKind, Status, Tokens, TraceId, Vector,
};
#[cfg(feature = "runtime")]
use spyglass_store::Batch;
use std::borrow::Cow;
use std::sync::Arc;

/// The only format this build writes and reads.
pub const FORMAT_V1: u8 = 1;

#[derive(Clone, PartialEq, prost::Message)]
struct SpansMsg {
    #[prost(message, repeated, tag = "1")]
    spans: Vec<SpanMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BatchMsg {
    #[prost(message, repeated, tag = "1")]
    spans: Vec<SpanMsg>,
    #[prost(message, repeated, tag = "2")]
    findings: Vec<FindingMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SpanMsg {
    #[prost(string, tag = "1")]
    project_id: String,
    #[prost(bytes = "vec", tag = "2")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    parent_span_id: Option<Vec<u8>>,
    #[prost(string, tag = "5")]
    name: String,
    #[prost(string, tag = "6")]
    service_name: String,
    #[prost(string, tag = "7")]
    scope_name: String,
    #[prost(string, optional, tag = "8")]
    environment: Option<String>,
    #[prost(uint32, tag = "9")]
    otel_kind: u32,
    #[prost(uint32, tag = "10")]
    kind: u32,
    #[prost(int64, tag = "11")]
    start_ns: i64,
    #[prost(int64, optional, tag = "12")]
    end_ns: Option<i64>,
    #[prost(int64, optional, tag = "13")]
    duration_ns: Option<i64>,
    #[prost(uint32, tag = "14")]
    status: u32,
    #[prost(string, optional, tag = "15")]
    status_message: Option<String>,
    #[prost(string, optional, tag = "16")]
    session_id: Option<String>,
    #[prost(string, optional, tag = "17")]
    user_id: Option<String>,
    #[prost(string, optional, tag = "18")]
    agent_name: Option<String>,
    #[prost(string, optional, tag = "19")]
    agent_id: Option<String>,
    #[prost(string, optional, tag = "20")]
    tool_name: Option<String>,
    #[prost(string, optional, tag = "21")]
    provider: Option<String>,
    #[prost(string, optional, tag = "22")]
    request_model: Option<String>,
    #[prost(string, optional, tag = "23")]
    response_model: Option<String>,
    #[prost(int64, optional, tag = "24")]
    tokens_input: Option<i64>,
    #[prost(int64, optional, tag = "25")]
    tokens_output: Option<i64>,
    #[prost(int64, optional, tag = "26")]
    tokens_cache_read: Option<i64>,
    #[prost(int64, optional, tag = "27")]
    tokens_cache_write: Option<i64>,
    #[prost(int64, optional, tag = "28")]
    tokens_reasoning: Option<i64>,
    #[prost(int64, optional, tag = "29")]
    tokens_total: Option<i64>,
    #[prost(double, optional, tag = "30")]
    cost_usd: Option<f64>,
    #[prost(uint32, optional, tag = "31")]
    cost_source: Option<u32>,
    #[prost(string, optional, tag = "32")]
    input: Option<String>,
    #[prost(string, optional, tag = "33")]
    output: Option<String>,
    #[prost(string, tag = "34")]
    attributes: String,
    #[prost(string, tag = "35")]
    resource_attributes: String,
    #[prost(message, repeated, tag = "36")]
    events: Vec<EventMsg>,
    #[prost(message, repeated, tag = "37")]
    links: Vec<LinkMsg>,
    #[prost(uint32, tag = "38")]
    conventions: u32,
    #[prost(string, repeated, tag = "39")]
    unmapped_keys: Vec<String>,
    #[prost(int64, tag = "40")]
    received_ns: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EventMsg {
    #[prost(int64, tag = "1")]
    time_ns: i64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    attributes: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LinkMsg {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    attributes: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FindingMsg {
    #[prost(fixed64, tag = "1")]
    id: u64,
    #[prost(string, tag = "2")]
    project_id: String,
    #[prost(bytes = "vec", tag = "3")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    span_name: String,
    #[prost(uint32, tag = "6")]
    span_kind: u32,
    #[prost(string, tag = "7")]
    service_name: String,
    #[prost(string, optional, tag = "8")]
    agent_name: Option<String>,
    #[prost(string, optional, tag = "9")]
    session_id: Option<String>,
    #[prost(string, optional, tag = "10")]
    user_id: Option<String>,
    #[prost(int64, tag = "11")]
    time_ns: i64,
    #[prost(int64, tag = "12")]
    received_ns: i64,
    #[prost(uint32, tag = "13")]
    category: u32,
    #[prost(string, tag = "14")]
    detector: String,
    #[prost(uint32, tag = "15")]
    severity: u32,
    #[prost(float, tag = "16")]
    score: f32,
    #[prost(uint32, tag = "17")]
    field: u32,
    #[prost(string, optional, tag = "18")]
    key: Option<String>,
    #[prost(uint64, tag = "19")]
    start: u64,
    #[prost(uint64, tag = "20")]
    end: u64,
    #[prost(string, tag = "21")]
    evidence: String,
    #[prost(uint32, optional, tag = "22")]
    vector: Option<u32>,
    #[prost(uint32, optional, tag = "23")]
    encoding: Option<u32>,
}

/// Encodes spans as one queue entry.
pub fn encode_spans(spans: &[Span]) -> Vec<u8> {
    frame(&SpansMsg {
        spans: spans.iter().map(span_msg).collect(),
    })
}

/// Decodes what [`encode_spans`] wrote. Untrusted bytes give an error, never a panic.
pub fn decode_spans(bytes: &[u8]) -> Result<Vec<Span>, QueueError> {
    let msg: SpansMsg = unframe(bytes)?;
    let mut shared = Shared::default();
    msg.spans
        .into_iter()
        .map(|m| span_from(m, &mut shared))
        .collect()
}

/// Encodes a committed batch (spans and their findings) for the live stream.
#[cfg(feature = "runtime")]
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    encode_batch_parts(&batch.spans, &batch.findings)
}

/// Decodes what [`encode_batch`] wrote.
#[cfg(feature = "runtime")]
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, QueueError> {
    decode_batch_parts(bytes).map(|(spans, findings)| Batch { spans, findings })
}

/// [`encode_batch`] without the store's type (for builds without the `runtime` feature).
pub fn encode_batch_parts(spans: &[Span], findings: &[SpanFinding]) -> Vec<u8> {
    frame(&BatchMsg {
        spans: spans.iter().map(span_msg).collect(),
        findings: findings.iter().map(finding_msg).collect(),
    })
}

/// [`decode_batch`] without the store's type.
pub fn decode_batch_parts(bytes: &[u8]) -> Result<(Vec<Span>, Vec<SpanFinding>), QueueError> {
    let msg: BatchMsg = unframe(bytes)?;
    let mut shared = Shared::default();
    let spans = msg
        .spans
        .into_iter()
        .map(|m| span_from(m, &mut shared))
        .collect::<Result<_, _>>()?;
    let findings = msg
        .findings
        .into_iter()
        .map(|m| finding_from(m, &mut shared))
        .collect::<Result<_, _>>()?;
    Ok((spans, findings))
}

fn frame(msg: &impl prost::Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + msg.encoded_len());
    out.push(FORMAT_V1);
    // Writing into a Vec only fails when it cannot grow, which aborts anyway.
    msg.encode(&mut out).expect("a Vec grows");
    out
}

fn unframe<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, QueueError> {
    match bytes.split_first() {
        None => Err(QueueError::Decode("empty message".into())),
        Some((&FORMAT_V1, body)) => M::decode(body).map_err(|e| QueueError::Decode(e.to_string())),
        Some((v, _)) => Err(QueueError::Decode(format!("unknown format version {v}"))),
    }
}

fn span_msg(s: &Span) -> SpanMsg {
    SpanMsg {
        project_id: s.project_id.to_string(),
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()),
        name: s.name.clone(),
        service_name: s.service_name.to_string(),
        scope_name: s.scope_name.to_string(),
        environment: s.environment.as_deref().map(str::to_string),
        otel_kind: s.otel_kind.code().into(),
        kind: s.kind.code().into(),
        start_ns: s.start_ns,
        end_ns: s.end_ns,
        duration_ns: s.duration_ns,
        status: s.status.code().into(),
        status_message: s.status_message.clone(),
        session_id: s.session_id.clone(),
        user_id: s.user_id.clone(),
        agent_name: s.agent_name.clone(),
        agent_id: s.agent_id.clone(),
        tool_name: s.tool_name.clone(),
        provider: s.provider.clone(),
        request_model: s.request_model.clone(),
        response_model: s.response_model.clone(),
        tokens_input: s.tokens.input,
        tokens_output: s.tokens.output,
        tokens_cache_read: s.tokens.cache_read,
        tokens_cache_write: s.tokens.cache_write,
        tokens_reasoning: s.tokens.reasoning,
        tokens_total: s.tokens.total,
        cost_usd: s.cost_usd,
        cost_source: s.cost_source.map(|c| c.code().into()),
        input: s.input.clone(),
        output: s.output.clone(),
        attributes: s.attributes.as_str().to_string(),
        resource_attributes: s.resource_attributes.as_str().to_string(),
        events: s
            .events
            .iter()
            .map(|e| EventMsg {
                time_ns: e.time_ns,
                name: e.name.clone(),
                attributes: e.attributes.as_str().to_string(),
            })
            .collect(),
        links: s
            .links
            .iter()
            .map(|l| LinkMsg {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                attributes: l.attributes.as_str().to_string(),
            })
            .collect(),
        conventions: s.conventions.bits().into(),
        unmapped_keys: s.unmapped_keys.clone(),
        received_ns: s.received_ns,
    }
}

/// The spans of one request share their project, service, scope and resource: decoding keeps
/// them shared (one allocation per run of equal values) as the ingest path does.
#[derive(Default)]
struct Shared {
    project: Option<Arc<str>>,
    service: Option<Arc<str>>,
    scope: Option<Arc<str>>,
    resource: Option<Arc<JsonText>>,
}

fn reuse(slot: &mut Option<Arc<str>>, s: String) -> Arc<str> {
    match slot {
        Some(a) if **a == *s => a.clone(),
        _ => {
            let a: Arc<str> = Arc::from(s);
            *slot = Some(a.clone());
            a
        }
    }
}

fn bad(what: &str) -> QueueError {
    QueueError::Decode(what.to_string())
}

fn code<T>(v: u32, from: fn(u8) -> Option<T>, what: &str) -> Result<T, QueueError> {
    u8::try_from(v)
        .ok()
        .and_then(from)
        .ok_or_else(|| QueueError::Decode(format!("unknown {what} code {v}")))
}

/// A span's own ids must be valid OTLP ids (ingest rejects zero ids).
fn trace_id(b: &[u8]) -> Result<TraceId, QueueError> {
    TraceId::from_bytes(b).map_err(|e| QueueError::Decode(format!("trace id: {e}")))
}

fn span_id(b: &[u8]) -> Result<SpanId, QueueError> {
    SpanId::from_bytes(b).map_err(|e| QueueError::Decode(format!("span id: {e}")))
}

/// Referenced ids (parents, links) only need the right length: whatever the model holds
/// travels unchanged.
fn any_trace_id(b: &[u8]) -> Result<TraceId, QueueError> {
    <[u8; 16]>::try_from(b)
        .map(TraceId)
        .map_err(|_| bad("link trace id length"))
}

fn any_span_id(b: &[u8]) -> Result<SpanId, QueueError> {
    <[u8; 8]>::try_from(b)
        .map(SpanId)
        .map_err(|_| bad("span id length"))
}

/// The empty text is what `JsonText::default()` holds; everything else must be JSON.
fn json(s: String, what: &str) -> Result<JsonText, QueueError> {
    if s.is_empty() {
        return Ok(JsonText::default());
    }
    JsonText::parse(s).map_err(|e| QueueError::Decode(format!("{what}: {e}")))
}

fn span_from(m: SpanMsg, sh: &mut Shared) -> Result<Span, QueueError> {
    let resource_attributes = match &sh.resource {
        Some(r) if r.as_str() == m.resource_attributes => r.clone(),
        _ => {
            let r = Arc::new(json(m.resource_attributes, "resource attributes")?);
            sh.resource = Some(r.clone());
            r
        }
    };
    let conventions = u16::try_from(m.conventions).map_err(|_| bad("conventions out of range"))?;
    Ok(Span {
        project_id: reuse(&mut sh.project, m.project_id),
        trace_id: trace_id(&m.trace_id)?,
        span_id: span_id(&m.span_id)?,
        parent_span_id: m.parent_span_id.as_deref().map(any_span_id).transpose()?,
        name: m.name,
        service_name: reuse(&mut sh.service, m.service_name),
        scope_name: reuse(&mut sh.scope, m.scope_name),
        environment: m.environment.map(Arc::from),
        otel_kind: code(m.otel_kind, OtelKind::from_code, "otel kind")?,
        kind: code(m.kind, SpanKind::from_code, "span kind")?,
        start_ns: m.start_ns,
        end_ns: m.end_ns,
        duration_ns: m.duration_ns,
        status: code(m.status, Status::from_code, "status")?,
        status_message: m.status_message,
        session_id: m.session_id,
        user_id: m.user_id,
        agent_name: m.agent_name,
        agent_id: m.agent_id,
        tool_name: m.tool_name,
        provider: m.provider,
        request_model: m.request_model,
        response_model: m.response_model,
        tokens: Tokens {
            input: m.tokens_input,
            output: m.tokens_output,
            cache_read: m.tokens_cache_read,
            cache_write: m.tokens_cache_write,
            reasoning: m.tokens_reasoning,
            total: m.tokens_total,
        },
        cost_usd: m.cost_usd,
        cost_source: m
            .cost_source
            .map(|c| code(c, CostSource::from_code, "cost source"))
            .transpose()?,
        input: m.input,
        output: m.output,
        attributes: json(m.attributes, "attributes")?,
        resource_attributes,
        events: m
            .events
            .into_iter()
            .map(|e| {
                Ok(Event {
                    time_ns: e.time_ns,
                    name: e.name,
                    attributes: json(e.attributes, "event attributes")?,
                })
            })
            .collect::<Result<_, QueueError>>()?,
        links: m
            .links
            .into_iter()
            .map(|l| {
                Ok(Link {
                    trace_id: any_trace_id(&l.trace_id)?,
                    span_id: any_span_id(&l.span_id)?,
                    attributes: json(l.attributes, "link attributes")?,
                })
            })
            .collect::<Result<_, QueueError>>()?,
        conventions: Conventions::from_bits(conventions),
        unmapped_keys: m.unmapped_keys,
        received_ns: m.received_ns,
    })
}

fn finding_msg(f: &SpanFinding) -> FindingMsg {
    FindingMsg {
        id: f.id,
        project_id: f.project_id.to_string(),
        trace_id: f.trace_id.0.to_vec(),
        span_id: f.span_id.0.to_vec(),
        span_name: f.span_name.clone(),
        span_kind: f.span_kind.code().into(),
        service_name: f.service_name.clone(),
        agent_name: f.agent_name.clone(),
        session_id: f.session_id.clone(),
        user_id: f.user_id.clone(),
        time_ns: f.time_ns,
        received_ns: f.received_ns,
        category: f.finding.category.code().into(),
        detector: f.finding.detector.to_string(),
        severity: f.finding.severity.code().into(),
        score: f.finding.score,
        field: f.finding.field.code().into(),
        key: f.finding.key.clone(),
        start: f.finding.start as u64,
        end: f.finding.end as u64,
        evidence: f.finding.evidence.clone(),
        vector: f.finding.vector.map(|v| v.code().into()),
        encoding: f.finding.encoding.map(|e| e.code().into()),
    }
}

fn finding_from(m: FindingMsg, sh: &mut Shared) -> Result<SpanFinding, QueueError> {
    let offset = |v: u64| usize::try_from(v).map_err(|_| bad("finding offset out of range"));
    Ok(SpanFinding {
        id: m.id,
        project_id: reuse(&mut sh.project, m.project_id),
        trace_id: any_trace_id(&m.trace_id)?,
        span_id: any_span_id(&m.span_id)?,
        span_name: m.span_name,
        span_kind: code(m.span_kind, SpanKind::from_code, "span kind")?,
        service_name: m.service_name,
        agent_name: m.agent_name,
        session_id: m.session_id,
        user_id: m.user_id,
        time_ns: m.time_ns,
        received_ns: m.received_ns,
        finding: Finding {
            category: code(m.category, Category::from_code, "category")?,
            detector: Cow::Owned(m.detector),
            severity: code(m.severity, Severity::from_code, "severity")?,
            score: m.score,
            field: code(m.field, Field::from_code, "field")?,
            key: m.key,
            start: offset(m.start)?,
            end: offset(m.end)?,
            evidence: m.evidence,
            vector: m
                .vector
                .map(|v| code(v, Vector::from_code, "vector"))
                .transpose()?,
            encoding: m
                .encoding
                .map(|e| code(e, Encoding::from_code, "encoding"))
                .transpose()?,
        },
    })
}

#[cfg(all(test, feature = "runtime"))]
mod tests;
