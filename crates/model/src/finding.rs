//! Security findings: what a detector reports about a text, and a finding placed on the span
//! it was found in (what is stored and served). Nothing in a finding repeats the secret or
//! personal data it found: the evidence is masked when the finding is made.

use crate::ids::{SpanId, TraceId};
use crate::span::{Span, SpanKind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

string_enum!(
    /// The family a detector belongs to.
    Category {
        PromptInjection => "prompt_injection",
        Pii => "pii",
        Secret => "secret",
        /// Loops and runaways: repeated tool calls or prompts, depth, fan-out, cost and
        /// duration caps of a trace.
        Loop => "loop",
    }
);

string_enum!(
    /// How bad a finding is; ordered, so `max()` picks the worst.
    Severity {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

impl Severity {
    /// One step worse, saturating at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

string_enum!(
    /// Which text of a span (or of a guard check) a finding is in.
    Field {
        Input => "input",
        Output => "output",
        StatusMessage => "status_message",
        /// The span's attributes (JSON object text); the finding's `key` names the attribute.
        Attribute => "attribute",
        /// Text given to a guard check.
        Text => "text",
        /// The span as a whole (loop and runaway findings).
        Span => "span",
    }
);

string_enum!(
    /// Whether injected instructions came from the user (direct) or from content the agent
    /// read: a tool result, a retrieved document, a web page, an e-mail (indirect).
    Vector {
        Direct => "direct",
        Indirect => "indirect",
    }
);

string_enum!(
    /// How an injection payload was hidden, when it was decoded before it was recognized.
    Encoding {
        Base64 => "base64",
        Hex => "hex",
        Rot13 => "rot13",
        /// `%69%67…` or `\u0069\u0067…` / `\x69\x67…` escapes.
        Escapes => "escapes",
    }
);

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub category: Category,
    /// Dotted id, e.g. `injection.override`, `pii.credit_card`, `secret.openai_api_key`,
    /// `loop.tool_repeat`; custom PII patterns are `pii.<name>`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub detector: Cow<'static, str>,
    pub severity: Severity,
    /// Confidence in [0, 1]: the combined injection score, or how sure a pattern match is
    /// (checksummed and prefixed tokens near 1, keyword + entropy matches lower).
    pub score: f32,
    pub field: Field,
    /// The attribute key when `field` is `attribute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Byte range in the field's stored text (for attributes: in the attributes JSON text).
    pub start: usize,
    pub end: usize,
    /// A short excerpt to show; secrets and personal data are masked.
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl Finding {
    /// What redaction writes in place of the match: `openai_api_key` for
    /// `secret.openai_api_key`, `email` for `pii.email`.
    pub fn label(&self) -> &str {
        self.detector
            .split_once('.')
            .map_or(&*self.detector, |(_, rest)| rest)
    }
}

/// A finding on the span it was found in: one stored row, one item of `/api/v1/findings`.
/// The span's identity and the fields the findings list filters on are copied in, so listing
/// findings never joins the spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpanFinding {
    /// Stable over versions of the span: the same detection on a running and then a finished
    /// version of a span has one id (16 hex characters in JSON).
    #[serde(with = "hex_id")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: u64,
    #[serde(skip, default = "crate::span::default_project")]
    pub project_id: Arc<str>,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub span_name: String,
    pub span_kind: SpanKind,
    pub service_name: String,
    pub agent_name: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    /// The span's start (ns): when the finding happened.
    pub time_ns: i64,
    /// When Spyglass received the span version the finding was made on (ns).
    pub received_ns: i64,
    #[serde(flatten)]
    pub finding: Finding,
}

impl SpanFinding {
    pub fn on(span: &Span, finding: Finding) -> SpanFinding {
        SpanFinding {
            id: finding_id(span, &finding),
            project_id: span.project_id.clone(),
            trace_id: span.trace_id,
            span_id: span.span_id,
            span_name: span.name.clone(),
            span_kind: span.kind,
            service_name: span.service_name.to_string(),
            agent_name: span.agent_name.clone(),
            session_id: span.session_id.clone(),
            user_id: span.user_id.clone(),
            time_ns: span.start_ns,
            received_ns: span.received_ns,
            finding,
        }
    }
}

impl SpanFinding {
    /// The finding on `span` as stored in `span`'s project (an import moves findings): the id
    /// is derived from the project, so it is derived again, and is the same in the same
    /// project. The rest of the finding (its time, the version it was made on) is kept.
    pub fn moved_to(mut self, span: &Span) -> SpanFinding {
        self.project_id = span.project_id.clone();
        self.id = finding_id(span, &self.finding);
        self
    }
}

/// FNV-1a over what makes a detection the same one: stored ids must not change between builds,
/// so no seeded or std hasher.
fn finding_id(span: &Span, f: &Finding) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(span.project_id.as_bytes());
    eat(&span.trace_id.0);
    eat(&span.span_id.as_u64().to_be_bytes());
    eat(f.detector.as_bytes());
    eat(&[f.field.code()]);
    eat(f.key.as_deref().unwrap_or("").as_bytes());
    eat(&(f.start as u64).to_be_bytes());
    eat(&(f.end as u64).to_be_bytes());
    h
}

mod hex_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            category: Category::PromptInjection,
            detector: Cow::Borrowed("injection.override"),
            severity: Severity::High,
            score: 0.97,
            field: Field::StatusMessage,
            key: None,
            start: 3,
            end: 9,
            evidence: "ignore previous".into(),
            vector: Some(Vector::Indirect),
            encoding: None,
        }
    }

    #[test]
    fn serializes_snake_case_and_omits_empty_options() {
        let f = finding();
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["category"], "prompt_injection");
        assert_eq!(json["field"], "status_message");
        assert_eq!(json["vector"], "indirect");
        assert!(json.get("key").is_none());
        assert!(json.get("encoding").is_none());
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn a_span_finding_is_flat_and_round_trips() {
        let mut span = Span::new(TraceId::from_u128(7), SpanId::from_u64(9), "search", 42);
        span.agent_name = Some("researcher".into());
        let sf = SpanFinding::on(&span, finding());
        let json = serde_json::to_value(&sf).unwrap();
        assert_eq!(json["detector"], "injection.override");
        assert_eq!(json["agent_name"], "researcher");
        assert_eq!(json["time_ns"], 42);
        assert!(json.get("project_id").is_none());
        assert_eq!(json["id"].as_str().unwrap().len(), 16);
        let back: SpanFinding = serde_json::from_value(json).unwrap();
        assert_eq!(back, sf);
        // Another version of the span, the same detection: the same id.
        span.end_ns = Some(50);
        span.received_ns += 1;
        assert_eq!(SpanFinding::on(&span, finding()).id, sf.id);
        let mut other = finding();
        other.start += 1;
        assert_ne!(SpanFinding::on(&span, other).id, sf.id);
    }

    #[test]
    fn label_is_the_detector_after_its_family() {
        let mut f = finding();
        f.detector = Cow::Borrowed("secret.openai_api_key");
        assert_eq!(f.label(), "openai_api_key");
        f.detector = Cow::Borrowed("plain");
        assert_eq!(f.label(), "plain");
    }

    #[test]
    fn severity_orders_and_raises() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::Low.raised(), Severity::Medium);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
    }
}
