//! The canonical span: one row per span, whatever convention its instrumentor spoke.
//! `docs/canonical-span.md` is the contract for every field.

use crate::ids::{SpanId, TraceId};
use crate::json_text::JsonText;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

string_enum!(
    /// What a span does in an agent run.
    SpanKind {
        Agent => "agent",
        Chain => "chain",
        Llm => "llm",
        Tool => "tool",
        Retriever => "retriever",
        Embedding => "embedding",
        Reranker => "reranker",
        Guardrail => "guardrail",
        Event => "event",
        Other => "other",
    }
);

impl SpanKind {
    /// Kinds whose tokens and cost are summed into trace totals. Wrappers (agent, chain) often
    /// repeat their children's usage, so only the calls themselves count.
    pub fn counts_usage(self) -> bool {
        matches!(
            self,
            SpanKind::Llm | SpanKind::Embedding | SpanKind::Reranker
        )
    }
}

string_enum!(
    /// The OTLP span status.
    Status {
        Unset => "unset",
        Ok => "ok",
        Error => "error",
    }
);

string_enum!(
    /// The OTLP `SpanKind` (client, server, ...), kept for completeness.
    OtelKind {
        Unspecified => "unspecified",
        Internal => "internal",
        Server => "server",
        Client => "client",
        Producer => "producer",
        Consumer => "consumer",
    }
);

impl OtelKind {
    pub fn from_otlp(v: i32) -> Self {
        match v {
            1 => OtelKind::Internal,
            2 => OtelKind::Server,
            3 => OtelKind::Client,
            4 => OtelKind::Producer,
            5 => OtelKind::Consumer,
            _ => OtelKind::Unspecified,
        }
    }
}

string_enum!(
    /// Where a span's cost came from.
    CostSource {
        Computed => "computed",
        Reported => "reported",
        Unpriced => "unpriced",
    }
);

string_enum!(
    /// A semantic convention recognized on a span. Stored as bit positions (the variant's
    /// index): append new conventions at the end, never reorder.
    Convention {
        AgentStack => "agentstack",
        GenAi => "gen_ai",
        GoClaw => "goclaw",
        Langfuse => "langfuse",
        OpenInference => "openinference",
        OpenLlmetry => "openllmetry",
        Seed => "seed",
        TraceCtrl => "tracectrl",
        VercelAi => "vercel_ai",
        Plain => "plain",
    }
);

/// A set of conventions, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conventions(u16);

impl Conventions {
    pub fn insert(&mut self, c: Convention) {
        self.0 |= 1 << (c as u16);
    }
    pub fn contains(self, c: Convention) -> bool {
        self.0 & (1 << (c as u16)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn bits(self) -> u16 {
        self.0
    }
    pub fn from_bits(b: u16) -> Self {
        Conventions(b)
    }
    /// Sorted names; `["plain"]` when nothing matched.
    pub fn names(self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Convention::ALL
            .iter()
            .filter(|c| **c != Convention::Plain && self.contains(**c))
            .map(|c| c.as_str())
            .collect();
        if v.is_empty() {
            v.push(Convention::Plain.as_str());
        }
        v.sort_unstable();
        v
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Conventions {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Vec<String> as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Conventions {}

impl Serialize for Conventions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Conventions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut c = Conventions::default();
        for n in names {
            match Convention::parse(&n) {
                Some(Convention::Plain) | None => {}
                Some(x) => c.insert(x),
            }
        }
        Ok(c)
    }
}

/// Token counts; each is `None` when nothing reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tokens {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cache_read: Option<i64>,
    pub cache_write: Option<i64>,
    pub reasoning: Option<i64>,
    pub total: Option<i64>,
}

impl Tokens {
    pub fn is_empty(&self) -> bool {
        *self == Tokens::default()
    }

    /// Fills `total` from input + output when no total was reported.
    pub fn complete(&mut self) {
        if self.total.is_none()
            && let (Some(i), Some(o)) = (self.input, self.output)
        {
            self.total = Some(i.saturating_add(o));
        }
    }

    /// Adds another span's counts, keeping `None` where both are unknown.
    pub fn add(&mut self, o: &Tokens) {
        fn add(a: &mut Option<i64>, b: Option<i64>) {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0).saturating_add(b));
            }
        }
        add(&mut self.input, o.input);
        add(&mut self.output, o.output);
        add(&mut self.cache_read, o.cache_read);
        add(&mut self.cache_write, o.cache_write);
        add(&mut self.reasoning, o.reasoning);
        add(&mut self.total, o.total);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub time_ns: i64,
    pub name: String,
    pub attributes: JsonText,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attributes: JsonText,
}

/// What a whole OTLP resource says, shared by all its spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub service_name: String,
    pub environment: Option<String>,
    pub attributes: JsonText,
}

/// Serde for `Arc<str>` (and `Option<Arc<str>>`) as plain strings, without serde's `rc`
/// feature: the strings every span of a request shares are reference-counted, not copied.
pub mod arc_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};
        use std::sync::Arc;

        pub fn serialize<S: Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
            v.as_deref().serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
            Option::<String>::deserialize(d).map(|o| o.map(Arc::from))
        }
    }
}

/// The canonical span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Span {
    #[serde(skip, default = "default_project")]
    pub project_id: Arc<str>,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    #[serde(with = "arc_str")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub service_name: Arc<str>,
    #[serde(with = "arc_str")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub scope_name: Arc<str>,
    #[serde(with = "arc_str::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub environment: Option<Arc<str>>,
    pub otel_kind: OtelKind,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub status: Status,
    pub status_message: Option<String>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub provider: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub cost_source: Option<CostSource>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: JsonText,
    #[serde(with = "arc_json")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub resource_attributes: Arc<JsonText>,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    #[serde(rename = "convention")]
    pub conventions: Conventions,
    pub unmapped_keys: Vec<String>,
    /// When Spyglass received this version (ns); later versions win at read.
    pub received_ns: i64,
}

pub(crate) fn default_project() -> Arc<str> {
    Arc::from(crate::DEFAULT_PROJECT)
}

mod arc_json {
    use super::JsonText;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(v: &Arc<JsonText>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<JsonText>, D::Error> {
        JsonText::deserialize(d).map(Arc::new)
    }
}

/// Version order for "latest wins" of a span version that ended at `end_ns` (`None` while it
/// runs) and was received at `received_ns`: finished beats running, then later received wins.
pub fn version_key(end_ns: Option<i64>, received_ns: i64) -> (bool, i64) {
    (end_ns.is_some(), received_ns)
}

impl Span {
    pub fn is_running(&self) -> bool {
        self.end_ns.is_none()
    }

    /// The model to show: the one that answered, else the one asked for.
    pub fn model(&self) -> Option<&str> {
        self.response_model
            .as_deref()
            .or(self.request_model.as_deref())
    }

    /// Version order for "latest wins" (see [`version_key`]).
    pub fn version_key(&self) -> (bool, i64) {
        version_key(self.end_ns, self.received_ns)
    }

    /// A minimal span for tests and demos; every optional field empty.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: &str, start_ns: i64) -> Self {
        Span {
            project_id: default_project(),
            trace_id,
            span_id,
            parent_span_id: None,
            name: name.to_string(),
            service_name: Arc::from("unknown_service"),
            scope_name: Arc::from(""),
            environment: None,
            otel_kind: OtelKind::Internal,
            kind: SpanKind::Other,
            start_ns,
            end_ns: None,
            duration_ns: None,
            status: Status::Unset,
            status_message: None,
            session_id: None,
            user_id: None,
            agent_name: None,
            agent_id: None,
            tool_name: None,
            provider: None,
            request_model: None,
            response_model: None,
            tokens: Tokens::default(),
            cost_usd: None,
            cost_source: None,
            input: None,
            output: None,
            attributes: JsonText::empty_object(),
            resource_attributes: Arc::new(JsonText::empty_object()),
            events: Vec::new(),
            links: Vec::new(),
            conventions: Conventions::default(),
            unmapped_keys: Vec::new(),
            received_ns: 0,
        }
    }

    /// Sets the end time and the derived duration.
    pub fn finish(&mut self, end_ns: i64) {
        self.end_ns = Some(end_ns);
        self.duration_ns = Some(end_ns.saturating_sub(self.start_ns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_sorted_and_plain_when_empty() {
        let mut c = Conventions::default();
        assert_eq!(c.names(), vec!["plain"]);
        c.insert(Convention::VercelAi);
        c.insert(Convention::GenAi);
        assert_eq!(c.names(), vec!["gen_ai", "vercel_ai"]);
        let json = serde_json::to_string(&c).unwrap();
        let back: Conventions = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn stored_codes_are_stable() {
        // Stored data depends on these codes: variants may be appended, never reordered.
        let kinds: Vec<(u8, &str)> = SpanKind::ALL
            .iter()
            .map(|k| (k.code(), k.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (0, "agent"),
                (1, "chain"),
                (2, "llm"),
                (3, "tool"),
                (4, "retriever"),
                (5, "embedding"),
                (6, "reranker"),
                (7, "guardrail"),
                (8, "event"),
                (9, "other")
            ]
        );
        assert_eq!(
            [
                Status::Unset.code(),
                Status::Ok.code(),
                Status::Error.code()
            ],
            [0, 1, 2]
        );
        assert_eq!(OtelKind::Consumer.code(), 5);
        assert_eq!(
            [
                CostSource::Computed.code(),
                CostSource::Reported.code(),
                CostSource::Unpriced.code()
            ],
            [0, 1, 2]
        );
        for k in SpanKind::ALL {
            assert_eq!(SpanKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(SpanKind::from_code(200), None);
    }

    #[test]
    fn convention_bits_are_stable() {
        // Stored data depends on these positions.
        let bits: Vec<u16> = Convention::ALL
            .iter()
            .map(|c| {
                let mut s = Conventions::default();
                s.insert(*c);
                s.bits()
            })
            .collect();
        assert_eq!(bits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
        assert_eq!(Convention::ALL[1], Convention::GenAi);
        assert_eq!(Convention::ALL[8], Convention::VercelAi);
    }

    #[test]
    fn tokens_total_and_sum() {
        let mut t = Tokens {
            input: Some(10),
            output: Some(5),
            ..Default::default()
        };
        t.complete();
        assert_eq!(t.total, Some(15));
        let mut sum = Tokens::default();
        sum.add(&t);
        sum.add(&Tokens {
            reasoning: Some(2),
            ..Default::default()
        });
        assert_eq!(sum.input, Some(10));
        assert_eq!(sum.reasoning, Some(2));
        assert_eq!(sum.cache_read, None);
    }

    #[test]
    fn version_order_prefers_finished_then_latest() {
        let mut a = Span::new(TraceId::from_u128(1), SpanId::from_u64(1), "x", 10);
        a.received_ns = 100;
        let mut b = a.clone();
        b.received_ns = 50;
        b.finish(20);
        assert!(b.version_key() > a.version_key());
    }

    #[test]
    fn enum_names_round_trip() {
        for k in SpanKind::ALL {
            assert_eq!(SpanKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(OtelKind::from_otlp(3), OtelKind::Client);
    }
}
