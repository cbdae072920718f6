//! `/api/v1/findings`: security findings (prompt injection, personal data, secrets, loops) on
//! the spans they were found in, filtered and paged, and their counts for an overview.

use crate::access::Read;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::{parse_time, parse_trace_id, rfc3339};
use axum::Json;
use serde::{Deserialize, Serialize};
use spyglass_model::query::{FindingCounts, FindingQuery, decode_finding_cursor};
use spyglass_model::{Category, Severity, SpanFinding};
use utoipa::ToSchema;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingParams {
    /// Findings on spans starting at or after: Unix ns, RFC 3339, or a duration back (`1h`).
    from: Option<String>,
    /// Findings on spans starting at or before (same forms as `from`).
    to: Option<String>,
    /// Comma-separated severities: low, medium, high, critical.
    severity: Option<String>,
    /// At least this severe.
    min_severity: Option<String>,
    /// Comma-separated categories: prompt_injection, pii, secret, loop.
    category: Option<String>,
    /// A detector id (`secret.openai_api_key`) or a family prefix ending in `.` (`pii.`).
    detector: Option<String>,
    agent: Option<String>,
    service: Option<String>,
    session: Option<String>,
    trace_id: Option<String>,
    /// Page size, at most 1000 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A finding with the RFC 3339 time of its span.
#[derive(Serialize, ToSchema)]
pub struct FindingView {
    #[serde(flatten)]
    pub finding: SpanFinding,
    pub time: String,
}

impl From<SpanFinding> for FindingView {
    fn from(f: SpanFinding) -> Self {
        FindingView {
            time: rfc3339(f.time_ns),
            finding: f,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FindingPage {
    pub items: Vec<FindingView>,
    pub next_cursor: Option<String>,
}

fn list<T>(
    name: &str,
    v: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Vec<T>, ApiError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!("{name}: {s:?} is not one of {allowed}"))
            })
        })
        .collect()
}

const SEVERITIES: &str = "low, medium, high, critical";
const CATEGORIES: &str = "prompt_injection, pii, secret, loop";

fn range(from: Option<&str>, to: Option<&str>) -> Result<(Option<i64>, Option<i64>), ApiError> {
    Ok((
        from.map(|v| parse_time("from", v)).transpose()?,
        to.map(|v| parse_time("to", v)).transpose()?,
    ))
}

fn finding_query(p: FindingParams) -> Result<FindingQuery, ApiError> {
    let (from_ns, to_ns) = range(p.from.as_deref(), p.to.as_deref())?;
    Ok(FindingQuery {
        from_ns,
        to_ns,
        severities: match &p.severity {
            Some(v) => list("severity", v, Severity::parse, SEVERITIES)?,
            None => Vec::new(),
        },
        min_severity: p
            .min_severity
            .as_deref()
            .map(|v| {
                Severity::parse(v.trim()).ok_or_else(|| {
                    ApiError::BadRequest(format!("min_severity: {v:?} is not one of {SEVERITIES}"))
                })
            })
            .transpose()?,
        categories: match &p.category {
            Some(v) => list("category", v, Category::parse, CATEGORIES)?,
            None => Vec::new(),
        },
        detector: p.detector.filter(|d| !d.is_empty()),
        agent: p.agent,
        service: p.service,
        session: p.session,
        trace_id: p.trace_id.as_deref().map(parse_trace_id).transpose()?,
        limit: p.limit.unwrap_or(0),
        cursor: p
            .cursor
            .as_deref()
            .map(|c| {
                decode_finding_cursor(c)
                    .ok_or_else(|| ApiError::BadRequest(format!("cursor {c:?} is not valid")))
            })
            .transpose()?,
    })
}

#[utoipa::path(get, path = "/api/v1/findings", tag = "security", params(FindingParams),
    responses((status = 200, body = FindingPage), (status = 400, body = ErrorBody)))]
pub async fn list_findings(
    Read(st): Read,
    ApiQuery(p): ApiQuery<FindingParams>,
) -> ApiResult<Json<FindingPage>> {
    let q = finding_query(p)?;
    let page = st.store.findings(&st.project, &q).await?;
    Ok(Json(FindingPage {
        items: page.items.into_iter().map(FindingView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    /// Default: 24 hours back.
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/findings/counts", tag = "security", params(CountParams),
    responses((status = 200, body = FindingCounts), (status = 400, body = ErrorBody)))]
pub async fn finding_counts(
    Read(st): Read,
    ApiQuery(p): ApiQuery<CountParams>,
) -> ApiResult<Json<FindingCounts>> {
    let (from, to) = range(Some(p.from.as_deref().unwrap_or("24h")), p.to.as_deref())?;
    Ok(Json(st.store.finding_counts(&st.project, from, to).await?))
}
