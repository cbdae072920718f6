//! Query parameters shared by the store, the API and the CLI.

use crate::ids::TraceId;
use crate::span::{SpanKind, Status};
use serde::{Deserialize, Serialize};

/// The largest page any list returns.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSort {
    #[default]
    StartTime,
    Duration,
    Cost,
}

impl TraceSort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start_time" | "start" | "time" => Some(TraceSort::StartTime),
            "duration" => Some(TraceSort::Duration),
            "cost" => Some(TraceSort::Cost),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Desc,
    Asc,
}

/// A status filter: the three OTLP statuses plus "running" (a trace with unfinished spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Ok,
    Error,
    Unset,
    Running,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "error" => Some(Self::Error),
            "unset" => Some(Self::Unset),
            "running" => Some(Self::Running),
            _ => None,
        }
    }
    pub fn as_status(self) -> Option<Status> {
        match self {
            Self::Ok => Some(Status::Ok),
            Self::Error => Some(Status::Error),
            Self::Unset => Some(Status::Unset),
            Self::Running => None,
        }
    }
}

/// Filters of `GET /api/v1/traces`. Every field narrows; `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub service: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub user: Option<String>,
    pub status: Option<StatusFilter>,
    pub model: Option<String>,
    pub kind: Option<SpanKind>,
    pub environment: Option<String>,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    pub min_cost: Option<f64>,
    /// Case-insensitive substring over span names, inputs and outputs.
    pub text: Option<String>,
    /// Span attribute equality (`attr.<key>=<value>`), all must hold on some span.
    pub attrs: Vec<(String, String)>,
    pub sort: TraceSort,
    pub order: Order,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl TraceQuery {
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }
}

/// Where the next page starts: the sort key and trace id of the last row returned. Start
/// times and durations are exact integers (an f64 would round nanosecond timestamps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub value: SortValue,
    pub trace_id: TraceId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortValue {
    Int(i64),
    Float(f64),
}

impl Cursor {
    /// Opaque, URL-safe text.
    pub fn encode(&self) -> String {
        match self.value {
            SortValue::Int(i) => format!("i{:016x}_{}", i as u64, self.trace_id),
            SortValue::Float(f) => format!("f{:016x}_{}", f.to_bits(), self.trace_id),
        }
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (v, t) = s.split_once('_')?;
        let bits = u64::from_str_radix(v.get(1..)?, 16).ok()?;
        let value = match v.as_bytes().first()? {
            b'i' => SortValue::Int(bits as i64),
            b'f' => SortValue::Float(f64::from_bits(bits)),
            _ => return None,
        };
        Some(Cursor {
            value,
            trace_id: t.parse().ok()?,
        })
    }
}

/// A page of results with the cursor of the next one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/sessions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub user: Option<String>,
    pub limit: u32,
    /// Sessions that started before this (start_ns, session_id) come next.
    pub cursor: Option<(i64, String)>,
}

/// The cursor of the session list: the last session's start and id, hex-encoded.
pub fn encode_session_cursor(start_ns: i64, id: &str) -> String {
    use std::fmt::Write;
    let mut s = format!("{:016x}_", start_ns as u64);
    for b in id.as_bytes() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn decode_session_cursor(c: &str) -> Option<(i64, String)> {
    let (a, b) = c.split_once('_')?;
    let start = u64::from_str_radix(a, 16).ok()? as i64;
    if b.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..b.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(b.get(i..i + 2)?, 16).ok())
        .collect();
    Some((start, String::from_utf8(bytes?).ok()?))
}

/// Filters of the live stream (`/api/v1/live`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveFilter {
    pub trace_id: Option<TraceId>,
    pub session: Option<String>,
    pub service: Option<String>,
}

impl LiveFilter {
    pub fn matches(&self, s: &crate::span::Span) -> bool {
        self.matches_fields(s.trace_id, s.session_id.as_deref(), &s.service_name)
    }

    /// The same filter over a finding, by the span it is on.
    pub fn matches_finding(&self, f: &crate::finding::SpanFinding) -> bool {
        self.matches_fields(f.trace_id, f.session_id.as_deref(), &f.service_name)
    }

    fn matches_fields(&self, trace_id: TraceId, session: Option<&str>, service: &str) -> bool {
        self.trace_id.is_none_or(|t| t == trace_id)
            && self.session.as_deref().is_none_or(|x| session == Some(x))
            && self.service.as_deref().is_none_or(|x| service == x)
    }
}

/// Filters of `GET /api/v1/findings`. Every field narrows; empty means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingQuery {
    /// Findings on spans that started in `[from_ns, to_ns]`.
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    /// Any of these severities.
    pub severities: Vec<crate::finding::Severity>,
    /// At least this severe.
    pub min_severity: Option<crate::finding::Severity>,
    pub categories: Vec<crate::finding::Category>,
    /// A detector id (`secret.openai_api_key`) or a family prefix ending in `.` (`secret.`).
    pub detector: Option<String>,
    pub agent: Option<String>,
    pub service: Option<String>,
    pub session: Option<String>,
    pub trace_id: Option<TraceId>,
    pub limit: u32,
    /// Findings older than this (time_ns, id) come next.
    pub cursor: Option<(i64, u64)>,
}

impl FindingQuery {
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }
}

/// The cursor of the findings list: the last finding's time and id.
pub fn encode_finding_cursor(time_ns: i64, id: u64) -> String {
    format!("{:016x}_{id:016x}", time_ns as u64)
}

pub fn decode_finding_cursor(c: &str) -> Option<(i64, u64)> {
    let (a, b) = c.split_once('_')?;
    Some((
        u64::from_str_radix(a, 16).ok()? as i64,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// Finding counts over a time range, for an overview: distinct findings by severity,
/// category, detector and agent, and how many traces have any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindingCounts {
    pub total: i64,
    pub traces: i64,
    pub by_severity: Vec<crate::trace::FacetValue>,
    pub by_category: Vec<crate::trace::FacetValue>,
    pub by_detector: Vec<crate::trace::FacetValue>,
    pub by_agent: Vec<crate::trace::FacetValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cursor_round_trips(f in proptest::num::f64::NORMAL, i in proptest::num::i64::ANY, t in 1u128..) {
            for value in [SortValue::Float(f), SortValue::Int(i)] {
                let c = Cursor { value, trace_id: TraceId::from_u128(t) };
                let back = Cursor::decode(&c.encode()).unwrap();
                prop_assert_eq!(back, c);
            }
        }
    }

    #[test]
    fn session_cursor_round_trip() {
        let c = encode_session_cursor(1_700_000_000_000_000_123, "sess_ü_1");
        assert_eq!(
            decode_session_cursor(&c),
            Some((1_700_000_000_000_000_123, "sess_ü_1".to_string()))
        );
        assert_eq!(decode_session_cursor("zz"), None);
    }

    #[test]
    fn limits_are_capped() {
        let mut q = TraceQuery::default();
        assert_eq!(q.effective_limit(), DEFAULT_LIMIT);
        q.limit = 5000;
        assert_eq!(q.effective_limit(), MAX_LIMIT);
        assert!(Cursor::decode("garbage").is_none());
    }
}
