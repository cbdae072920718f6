//! Query-string parsing shared by the routes: times, ids, and the trace filters (including the
//! open-ended `attr.<key>=<value>`).

use crate::error::ApiError;
use spyglass_model::query::{Cursor, Order, StatusFilter, TraceQuery, TraceSort};
use spyglass_model::{SpanId, SpanKind, TraceId};
use std::time::{Duration, UNIX_EPOCH};

/// A time: Unix nanoseconds, RFC 3339, or a duration back from now (`15m`, `2h`, `7d`).
pub fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Ok(ns) = v.parse::<i64>() {
        return Ok(ns);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .map_err(|_| ApiError::BadRequest(format!("{name}: time before 1970")));
    }
    let ago = v.strip_prefix('-').unwrap_or(v);
    if let Ok(d) = humantime::parse_duration(ago) {
        return Ok(spyglass_model::now_ns() - d.as_nanos() as i64);
    }
    Err(ApiError::BadRequest(format!(
        "{name}: {v:?} is not a time; use Unix nanoseconds, RFC 3339, or a duration back from now like 15m"
    )))
}

/// RFC 3339 with nanoseconds, for the `*_time` companions of `*_ns` fields.
pub fn rfc3339(ns: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

pub fn parse_trace_id(v: &str) -> Result<TraceId, ApiError> {
    v.parse()
        .map_err(|e| ApiError::BadRequest(format!("trace id {v:?}: {e}")))
}

pub fn parse_span_id(v: &str) -> Result<SpanId, ApiError> {
    v.parse()
        .map_err(|e| ApiError::BadRequest(format!("span id {v:?}: {e}")))
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{name}: {v:?} is not a number")))
}

fn ms_to_ns(name: &str, v: &str) -> Result<i64, ApiError> {
    let ms: f64 = num(name, v)?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(ApiError::BadRequest(format!(
            "{name}: must be a non-negative number of milliseconds"
        )));
    }
    Ok((ms * 1e6) as i64)
}

/// Builds the trace filter from the raw query pairs. Unknown parameters are an error, so a
/// typo does not silently return everything.
pub fn trace_query(pairs: &[(String, String)]) -> Result<TraceQuery, ApiError> {
    let mut q = TraceQuery::default();
    for (k, v) in pairs {
        let some = || Some(v.clone()).filter(|s| !s.is_empty());
        match k.as_str() {
            "from" => q.from_ns = Some(parse_time(k, v)?),
            "to" => q.to_ns = Some(parse_time(k, v)?),
            "service" => q.service = some(),
            "agent" => q.agent = some(),
            "session" | "session_id" => q.session = some(),
            "user" | "user_id" => q.user = some(),
            "model" => q.model = some(),
            "environment" => q.environment = some(),
            "status" => {
                q.status = Some(StatusFilter::parse(v).ok_or_else(|| {
                    ApiError::BadRequest(format!("status: {v:?}; use ok, error, unset or running"))
                })?)
            }
            "kind" => {
                q.kind = Some(SpanKind::parse(v).ok_or_else(|| {
                    let all: Vec<&str> = SpanKind::ALL.iter().map(|k| k.as_str()).collect();
                    ApiError::BadRequest(format!("kind: {v:?}; use one of {}", all.join(", ")))
                })?)
            }
            "min_duration_ms" => q.min_duration_ns = Some(ms_to_ns(k, v)?),
            "max_duration_ms" => q.max_duration_ns = Some(ms_to_ns(k, v)?),
            "min_cost" => q.min_cost = Some(num(k, v)?),
            "q" | "text" => q.text = some(),
            "sort" => {
                q.sort = TraceSort::parse(v).ok_or_else(|| {
                    ApiError::BadRequest(format!("sort: {v:?}; use start_time, duration or cost"))
                })?
            }
            "order" => {
                q.order = match v.as_str() {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "order: {v:?}; use asc or desc"
                        )));
                    }
                }
            }
            "limit" => q.limit = num(k, v)?,
            "cursor" => {
                q.cursor = Some(Cursor::decode(v).ok_or_else(|| {
                    ApiError::BadRequest("cursor: not a cursor from this API".into())
                })?)
            }
            key => match key.strip_prefix("attr.") {
                Some(attr) if !attr.is_empty() => q.attrs.push((attr.to_string(), v.clone())),
                _ => return Err(ApiError::BadRequest(format!("unknown parameter {key:?}"))),
            },
        }
    }
    if let (Some(a), Some(b)) = (q.from_ns, q.to_ns)
        && a > b
    {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_filter() {
        let q = trace_query(&pairs(&[
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "1767225600000000001"),
            ("service", "api"),
            ("status", "error"),
            ("kind", "llm"),
            ("min_duration_ms", "1.5"),
            ("min_cost", "0.01"),
            ("q", "hello"),
            ("attr.gen_ai.request.model", "gpt-4o"),
            ("sort", "cost"),
            ("order", "asc"),
            ("limit", "10"),
        ]))
        .unwrap();
        assert_eq!(q.from_ns, Some(1_767_225_600_000_000_000));
        assert_eq!(q.min_duration_ns, Some(1_500_000));
        assert_eq!(
            q.attrs,
            vec![("gen_ai.request.model".to_string(), "gpt-4o".to_string())]
        );
        assert_eq!(q.sort, TraceSort::Cost);
        assert_eq!(q.order, Order::Asc);
    }

    #[test]
    fn rejects_bad_input_clearly() {
        for bad in [
            ("status", "maybe"),
            ("kind", "robot"),
            ("limit", "x"),
            ("cursor", "zz"),
            ("nope", "1"),
            ("from", "yesterday-ish"),
        ] {
            let e = trace_query(&pairs(&[bad])).unwrap_err();
            assert!(matches!(e, ApiError::BadRequest(_)), "{bad:?}");
        }
        assert!(
            trace_query(&pairs(&[("from", "2h"), ("to", "3h")])).is_err(),
            "from after to"
        );
    }

    #[test]
    fn relative_times_and_formatting() {
        let t = parse_time("from", "15m").unwrap();
        assert!((spyglass_model::now_ns() - t - 900_000_000_000).abs() < 5_000_000_000);
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }
}
