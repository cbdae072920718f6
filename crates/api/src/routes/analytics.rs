//! `/api/v1/analytics/*`: metrics over time from the per-minute rollups, rankings, and usage
//! per user and session.

use crate::access::Read;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::parse_time;
use axum::Json;
use serde::Deserialize;
use spyglass_model::analytics::{
    AnalyticsFilter, DEFAULT_SERIES, GroupBy, Metric, Timeseries, TimeseriesQuery, TopEntry,
    TopKind, TopQuery, Usage, UsageBy, UsageQuery,
};
use spyglass_model::{Severity, SpanKind};
use std::collections::BTreeMap;

fn refuse_unknown(unknown: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match unknown.keys().next() {
        Some(k) => Err(ApiError::BadRequest(format!(
            "unknown query parameter {k:?}"
        ))),
        None => Ok(()),
    }
}

/// A named value of one of the string enums, or a 400 listing the allowed ones.
fn one_of<T: Copy>(
    name: &str,
    v: &str,
    parse: impl Fn(&str) -> Option<T>,
    all: &[T],
    show: impl Fn(T) -> &'static str,
) -> Result<T, ApiError> {
    parse(v.trim()).ok_or_else(|| {
        let allowed: Vec<&str> = all.iter().map(|t| show(*t)).collect();
        ApiError::BadRequest(format!(
            "{name}: {v:?} is not one of {}",
            allowed.join(", ")
        ))
    })
}

/// The filters every analytics route takes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    service: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    tool: Option<String>,
    /// A span kind: agent, chain, llm, tool, retriever, embedding, reranker, guardrail, event, other.
    kind: Option<String>,
    /// One user's traces (counts traces; see `group_by=user`).
    user: Option<String>,
    /// For `metric=findings`: at least this severe (low, medium, high, critical).
    min_severity: Option<String>,
}

impl FilterParams {
    fn into_filter(self) -> Result<AnalyticsFilter, ApiError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(AnalyticsFilter {
            kind: self
                .kind
                .as_deref()
                .map(|v| one_of("kind", v, SpanKind::parse, SpanKind::ALL, SpanKind::as_str))
                .transpose()?,
            min_severity: self
                .min_severity
                .as_deref()
                .map(|v| {
                    one_of(
                        "min_severity",
                        v,
                        Severity::parse,
                        Severity::ALL,
                        Severity::as_str,
                    )
                })
                .transpose()?,
            service: nonempty(self.service),
            agent: nonempty(self.agent),
            model: nonempty(self.model),
            tool: nonempty(self.tool),
            user: nonempty(self.user),
        })
    }
}

/// `from` (default 24 hours back) and `to` (default now).
pub(crate) fn range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
    let from = parse_time("from", from.unwrap_or("24h"))?;
    let to = match to {
        Some(v) => parse_time("to", v)?,
        None => spyglass_model::now_ns(),
    };
    if to <= from {
        return Err(ApiError::BadRequest("`to` must be after `from`".into()));
    }
    Ok((from, to))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesParams {
    /// count, errors, error_rate, latency_avg, latency_p50, latency_p90, latency_p95,
    /// latency_p99, tokens, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    /// reasoning_tokens, cost, findings.
    metric: String,
    /// model, agent, service, tool, kind, status, user.
    group_by: Option<String>,
    /// Bucket width, whole minutes: `1m`, `5m`, `1h`, `1d`, seconds, or `auto` (default: about
    /// 120 points over the range).
    interval: Option<String>,
    /// Unix ns, RFC 3339, or a duration back (`24h`, the default).
    from: Option<String>,
    /// Default: now.
    to: Option<String>,
    /// Most series (the largest totals), default 10, at most 100.
    limit: Option<u32>,
    /// Documented as `FilterParams` in the route's parameters.
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterParams,
    /// What neither took (`deny_unknown_fields` does not work through `flatten`).
    #[serde(flatten)]
    #[param(ignore)]
    unknown: BTreeMap<String, String>,
}

fn interval_s(v: Option<&str>, from: i64, to: i64) -> Result<i64, ApiError> {
    let v = match v.map(str::trim) {
        None | Some("") | Some("auto") => return Ok(TimeseriesQuery::auto_interval_s(from, to)),
        Some(v) => v,
    };
    let secs = match v.parse::<i64>() {
        Ok(s) => s,
        Err(_) => humantime::parse_duration(v)
            .map_err(|_| {
                ApiError::BadRequest(format!("interval: {v:?} is not a duration like 5m or 1h"))
            })?
            .as_secs() as i64,
    };
    if secs < 60 || secs % 60 != 0 {
        return Err(ApiError::BadRequest(format!(
            "interval: {v:?}; buckets are whole minutes (rollups are per minute)"
        )));
    }
    Ok(secs)
}

#[utoipa::path(get, path = "/api/v1/analytics/timeseries", tag = "analytics",
    params(TimeseriesParams, FilterParams),
    responses((status = 200, body = Timeseries), (status = 400, body = ErrorBody)))]
pub async fn timeseries(
    Read(st): Read,
    ApiQuery(p): ApiQuery<TimeseriesParams>,
) -> ApiResult<Json<Timeseries>> {
    refuse_unknown(&p.unknown)?;
    let metric = one_of(
        "metric",
        &p.metric,
        Metric::parse,
        Metric::ALL,
        Metric::as_str,
    )?;
    let group_by = p
        .group_by
        .as_deref()
        .filter(|g| !g.is_empty())
        .map(|g| one_of("group_by", g, GroupBy::parse, GroupBy::ALL, GroupBy::as_str))
        .transpose()?;
    let (from_ns, to_ns) = range(p.from.as_deref(), p.to.as_deref())?;
    let q = TimeseriesQuery {
        metric,
        group_by,
        interval_s: interval_s(p.interval.as_deref(), from_ns, to_ns)?,
        from_ns,
        to_ns,
        filter: p.filter.into_filter()?,
        limit: p.limit.unwrap_or(DEFAULT_SERIES),
    };
    Ok(Json(st.store.timeseries(&st.project, &q).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopParams {
    /// traces, sessions, users (most expensive); slow_tools, failing_tools, slow_models,
    /// failing_models, costly_models, costly_agents.
    kind: String,
    /// Default: 24 hours back.
    from: Option<String>,
    to: Option<String>,
    /// Default 10, at most 1000.
    limit: Option<u32>,
    /// Documented as `FilterParams` in the route's parameters.
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterParams,
    /// What neither took (`deny_unknown_fields` does not work through `flatten`).
    #[serde(flatten)]
    #[param(ignore)]
    unknown: BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/api/v1/analytics/top", tag = "analytics", params(TopParams, FilterParams),
    responses((status = 200, body = Vec<TopEntry>), (status = 400, body = ErrorBody)))]
pub async fn top(
    Read(st): Read,
    ApiQuery(p): ApiQuery<TopParams>,
) -> ApiResult<Json<Vec<TopEntry>>> {
    refuse_unknown(&p.unknown)?;
    let kind = one_of(
        "kind",
        &p.kind,
        TopKind::parse,
        TopKind::ALL,
        TopKind::as_str,
    )?;
    let (from_ns, to_ns) = range(p.from.as_deref(), p.to.as_deref())?;
    let q = TopQuery {
        kind,
        from_ns,
        to_ns,
        filter: p.filter.into_filter()?,
        limit: p
            .limit
            .unwrap_or(10)
            .clamp(1, spyglass_model::query::MAX_LIMIT),
    };
    Ok(Json(st.store.top(&st.project, &q).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// user (default) or session.
    by: Option<String>,
    /// Traces starting at or after (default: all time).
    from: Option<String>,
    to: Option<String>,
    /// One user or session id.
    key: Option<String>,
    /// Default 50, at most 1000.
    limit: Option<u32>,
    offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/analytics/usage", tag = "analytics", params(UsageParams),
    responses((status = 200, body = Vec<Usage>), (status = 400, body = ErrorBody)))]
pub async fn usage(
    Read(st): Read,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> ApiResult<Json<Vec<Usage>>> {
    let by = match p.by.as_deref() {
        None | Some("") => UsageBy::User,
        Some(v) => one_of("by", v, UsageBy::parse, UsageBy::ALL, UsageBy::as_str)?,
    };
    let q = UsageQuery {
        by,
        from_ns: p
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to_ns: p.to.as_deref().map(|v| parse_time("to", v)).transpose()?,
        key: p.key.filter(|k| !k.is_empty()),
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.usage(&st.project, &q).await?))
}
