//! OTLP request → canonical spans: per-span validation, convention mapping, and caps.

use crate::anyvalue::{self, ValueCaps};
use crate::conventions::{self, Payload};
use crate::limits::{Limits, MIN_TIMESTAMP_NS};
use crate::messages;
use crate::view::{ResourceIdentity, SpanView};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use spyglass_model::{
    CostSource, Event, JsonText, Link, OtelKind, Span, SpanId, SpanKind, Status, TraceId,
};
use std::sync::Arc;

/// The outcome of one request: accepted spans, and what was rejected or cut and why.
#[derive(Debug, Default)]
pub struct Normalized {
    pub spans: Vec<Span>,
    pub rejected: u64,
    /// The first few rejection reasons (the OTLP partial-success message names them).
    pub errors: Vec<String>,
    /// Values that were cut to a limit (kept, but worth telling the sender).
    pub warnings: Vec<String>,
}

const MAX_REPORTED: usize = 5;

impl Normalized {
    fn reject(&mut self, why: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(why);
        }
    }

    /// Notes something the sender should know (a repair at decode time, for example).
    pub fn warn(&mut self, why: String) {
        if self.warnings.len() < MAX_REPORTED {
            self.warnings.push(why);
        }
    }

    /// The partial-success message: rejections first, then truncation notices.
    pub fn message(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.rejected > 0 {
            let more = self.rejected as usize - self.errors.len();
            let mut s = format!(
                "rejected {} span(s): {}",
                self.rejected,
                self.errors.join("; ")
            );
            if more > 0 {
                s.push_str(&format!("; and {more} more"));
            }
            parts.push(s);
        }
        if !self.warnings.is_empty() {
            parts.push(format!(
                "accepted with truncation: {}",
                self.warnings.join("; ")
            ));
        }
        parts.join(". ")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    pub limits: Limits,
}

struct ResourceCtx {
    service_name: Arc<str>,
    environment: Option<Arc<str>>,
    attributes: Arc<JsonText>,
    identity: ResourceIdentity,
}

impl Normalizer {
    pub fn new(limits: Limits) -> Self {
        Normalizer { limits }
    }

    fn caps(&self) -> ValueCaps {
        ValueCaps::new(
            self.limits.max_attribute_value_bytes,
            self.limits.max_value_depth,
        )
    }

    /// Normalizes every span of a request. `received_ns` orders versions of the same span.
    pub fn normalize(
        &self,
        req: ExportTraceServiceRequest,
        project: &str,
        received_ns: i64,
    ) -> Normalized {
        let mut out = Normalized::default();
        let now = spyglass_model::now_ns();
        let project: Arc<str> = project.into();
        let mut seq: i64 = 0;
        for rs in req.resource_spans {
            let raw = rs.resource.map(|r| r.attributes).unwrap_or_default();
            let res = self.resource(raw);
            for ss in rs.scope_spans {
                let scope_name: Arc<str> = ss.scope.map(|s| s.name).unwrap_or_default().into();
                for span in ss.spans {
                    if out.spans.len() as u64 + out.rejected
                        >= self.limits.max_spans_per_request as u64
                    {
                        out.reject(format!(
                            "more than max_spans_per_request ({}) spans in one request; send them in several",
                            self.limits.max_spans_per_request
                        ));
                        continue;
                    }
                    match self.span(span, &res, &scope_name, &project, now, &mut out) {
                        Ok(mut s) => {
                            s.received_ns = received_ns + seq;
                            seq += 1;
                            out.spans.push(s);
                        }
                        Err(why) => out.reject(why),
                    }
                }
            }
        }
        out
    }

    fn resource(&self, raw: Vec<KeyValue>) -> ResourceCtx {
        let find = |k: &str| {
            raw.iter()
                .rev()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref())
                .and_then(anyvalue::as_text)
        };
        let service_name = find("service.name")
            .filter(|s| !s.is_empty())
            .map(|s| anyvalue::truncate_string(s, self.limits.max_name_bytes))
            .unwrap_or_else(|| "unknown_service".to_string())
            .into();
        let environment = find("deployment.environment.name")
            .or_else(|| find("deployment.environment"))
            .map(|s| anyvalue::truncate_string(s, self.limits.max_name_bytes).into());
        let mut text = String::with_capacity(64 * raw.len());
        let cap = raw.len().min(self.limits.max_attributes_per_span);
        anyvalue::write_object(&mut text, raw[..cap].iter(), &self.caps(), 0);
        let identity = ResourceIdentity::read(&raw);
        ResourceCtx {
            service_name,
            environment,
            attributes: Arc::new(JsonText::from_trusted(text)),
            identity,
        }
    }

    fn span(
        &self,
        mut s: OtlpSpan,
        res: &ResourceCtx,
        scope_name: &Arc<str>,
        project: &Arc<str>,
        now: i64,
        out: &mut Normalized,
    ) -> Result<Span, String> {
        let v = validate(&s, now, &self.limits)?;
        let lim = &self.limits;

        let dropped = s
            .attributes
            .len()
            .saturating_sub(lim.max_attributes_per_span);
        if dropped > 0 {
            s.attributes.truncate(lim.max_attributes_per_span);
            out.warn(format!(
                "span {}: kept {} attributes, dropped {dropped}",
                v.span_id, lim.max_attributes_per_span
            ));
        }
        let dropped_events = s.events.len().saturating_sub(lim.max_events_per_span);
        s.events.truncate(lim.max_events_per_span);

        let view = SpanView::new(
            &s.name,
            &s.attributes,
            &res.identity,
            &s.events,
            v.parent.is_none(),
        );
        let mut x = conventions::extract(&view);

        // Attributes: everything but what went into input/output, with caps.
        let caps = self.caps();
        let mut text = String::with_capacity(48 * s.attributes.len() + 2);
        let kept = s.attributes.iter().filter(|kv| !x.is_consumed(&kv.key));
        anyvalue::write_object(&mut text, kept, &caps, 0);
        let total_dropped = dropped as u64 + s.dropped_attributes_count as u64;
        if total_dropped > 0 {
            // Append the count as one more member of the object.
            text.pop();
            if text.len() > 1 {
                text.push(',');
            }
            text.push_str(&format!(
                "\"spyglass.dropped_attributes_count\":{total_dropped}}}"
            ));
        }
        let unmapped = std::mem::take(&mut x.unmapped_keys);

        let events = s
            .events
            .iter()
            .map(|e| {
                let mut a = String::new();
                anyvalue::write_object(&mut a, e.attributes.iter(), &caps, 0);
                Event {
                    time_ns: i64::try_from(e.time_unix_nano).unwrap_or(i64::MAX),
                    name: anyvalue::truncate_string(e.name.clone(), lim.max_name_bytes),
                    attributes: JsonText::from_trusted(a),
                }
            })
            .collect();
        if dropped_events > 0 {
            out.warn(format!(
                "span {}: kept {} events, dropped {dropped_events}",
                v.span_id, lim.max_events_per_span
            ));
        }
        let links = s
            .links
            .iter()
            .take(lim.max_links_per_span)
            .filter_map(|l| {
                let mut a = String::new();
                anyvalue::write_object(&mut a, l.attributes.iter(), &caps, 0);
                Some(Link {
                    trace_id: TraceId::from_bytes(&l.trace_id).ok()?,
                    span_id: SpanId::from_bytes(&l.span_id).ok()?,
                    attributes: JsonText::from_trusted(a),
                })
            })
            .collect();

        if caps.cut_strings.get() > 0 {
            out.warn(format!(
                "span {}: {} attribute value(s) cut to {} bytes",
                v.span_id,
                caps.cut_strings.get(),
                caps.max_string_bytes
            ));
        }
        if caps.cut_depth.get() > 0 {
            out.warn(format!(
                "span {}: {} attribute value(s) nested deeper than {} levels cut to \"[depth limit]\"",
                v.span_id,
                caps.cut_depth.get(),
                caps.max_depth
            ));
        }

        let kind = x.kind.unwrap_or(SpanKind::Other);
        let (mut status, mut status_message) = match s.status.take() {
            Some(st) => (
                match st.code {
                    1 => Status::Ok,
                    2 => Status::Error,
                    _ => Status::Unset,
                },
                Some(st.message).filter(|m| !m.is_empty()),
            ),
            None => (Status::Unset, None),
        };
        if status == Status::Unset && x.failed {
            status = Status::Error;
        }
        if status == Status::Error && status_message.is_none() {
            status_message = x.error_message.clone();
        }
        let (cost_usd, cost_source) = match x.cost {
            Some(c) => (Some(c), Some(CostSource::Reported)),
            None if matches!(kind, SpanKind::Llm | SpanKind::Embedding) => {
                (None, Some(CostSource::Unpriced))
            }
            None => (None, None),
        };
        let mut tokens = x.tokens;
        tokens.complete();

        let name_cap =
            |o: Option<String>| o.map(|s| anyvalue::truncate_string(s, lim.max_name_bytes));
        let payload = |p: Option<Payload>| match p? {
            Payload::Messages(m) => Some(messages::to_json_capped(m, lim.max_payload_bytes)),
            Payload::Text(t) => Some(anyvalue::truncate_string(t, lim.max_payload_bytes)),
        };

        Ok(Span {
            project_id: project.clone(),
            trace_id: v.trace_id,
            span_id: v.span_id,
            parent_span_id: v.parent,
            name: anyvalue::truncate_string(std::mem::take(&mut s.name), lim.max_name_bytes),
            service_name: res.service_name.clone(),
            scope_name: scope_name.clone(),
            environment: res.environment.clone(),
            otel_kind: OtelKind::from_otlp(s.kind),
            kind,
            start_ns: v.start_ns,
            end_ns: v.end_ns,
            duration_ns: v.end_ns.map(|e| e - v.start_ns),
            status,
            status_message: status_message
                .map(|m| anyvalue::truncate_string(m, lim.max_payload_bytes)),
            session_id: name_cap(x.session_id),
            user_id: name_cap(x.user_id),
            agent_name: name_cap(x.agent_name),
            agent_id: name_cap(x.agent_id),
            tool_name: name_cap(x.tool_name),
            provider: name_cap(x.provider),
            request_model: name_cap(x.request_model),
            response_model: name_cap(x.response_model),
            tokens,
            cost_usd,
            cost_source,
            input: payload(x.input.value),
            output: payload(x.output.value),
            attributes: JsonText::from_trusted(text),
            resource_attributes: res.attributes.clone(),
            events,
            links,
            conventions: x.conventions,
            unmapped_keys: unmapped,
            received_ns: 0,
        })
    }
}

struct Valid {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    start_ns: i64,
    end_ns: Option<i64>,
}

fn validate(s: &OtlpSpan, now: i64, lim: &Limits) -> Result<Valid, String> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let span_label = || format!("span {} of trace {}", hex(&s.span_id), hex(&s.trace_id));
    let trace_id = TraceId::from_bytes(&s.trace_id).map_err(|e| {
        format!(
            "{}: invalid trace_id ({e}; must be 16 bytes, not all zero)",
            span_label()
        )
    })?;
    let span_id = SpanId::from_bytes(&s.span_id).map_err(|e| {
        format!(
            "{}: invalid span_id ({e}; must be 8 bytes, not all zero)",
            span_label()
        )
    })?;
    let parent = match s.parent_span_id.as_slice() {
        [] => None,
        p if p.len() == 8 && p.iter().all(|&b| b == 0) => None,
        p => Some(SpanId::from_bytes(p).map_err(|e| {
            format!(
                "{}: invalid parent_span_id ({e}; must be empty or 8 bytes)",
                span_label()
            )
        })?),
    };
    let latest =
        now.saturating_add((lim.max_future_skew_secs as i64).saturating_mul(1_000_000_000));
    let time = |v: u64, what: &str| -> Result<i64, String> {
        let t = i64::try_from(v)
            .map_err(|_| format!("{}: {what} {v} is beyond year 2262", span_label()))?;
        if t < MIN_TIMESTAMP_NS {
            return Err(format!(
                "{}: {what} {v} is before 2000-01-01 (timestamps are Unix nanoseconds)",
                span_label()
            ));
        }
        if t > latest {
            return Err(format!(
                "{}: {what} {v} is more than {}s in the future",
                span_label(),
                lim.max_future_skew_secs
            ));
        }
        Ok(t)
    };
    if s.start_time_unix_nano == 0 {
        return Err(format!("{}: start_time_unix_nano is missing", span_label()));
    }
    let start_ns = time(s.start_time_unix_nano, "start_time_unix_nano")?;
    let end_ns = match s.end_time_unix_nano {
        0 => None,
        e => {
            let e = time(e, "end_time_unix_nano")?;
            if e < start_ns {
                return Err(format!(
                    "{}: end_time_unix_nano is before start_time_unix_nano",
                    span_label()
                ));
            }
            Some(e)
        }
    };
    Ok(Valid {
        trace_id,
        span_id,
        parent,
        start_ns,
        end_ns,
    })
}
