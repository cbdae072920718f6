//! `/api/v1/alerts/*`: alert rules (created from a template or written out, with their
//! current state), the events of their state changes, and the built-in templates.

use crate::access::{Read, Scope, Write};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::params::parse_time;
use crate::routes::lifecycle::audit;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use spyglass_alerts::{RuleSpec, TEMPLATES, template};
use spyglass_model::alert::{AlertEvent, AlertRule, RuleStatus};

fn status_of(st: &Scope, rule: AlertRule) -> RuleStatus {
    st.alerts
        .status(&rule.id)
        .unwrap_or_default()
        .status(rule.redacted())
}

async fn find(st: &Scope, id: &str) -> ApiResult<AlertRule> {
    st.store
        .alert_rules(Some(&st.project))
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("alert rule {id:?}")))
}

/// Builds and checks a rule, webhook targets included (a private address is refused unless
/// the server allows them).
async fn build(
    st: &Scope,
    spec: &RuleSpec,
    id: &str,
    created_ns: Option<i64>,
) -> ApiResult<AlertRule> {
    let now = spyglass_model::now_ns();
    let mut rule = spec
        .build(&st.project, id, now)
        .map_err(ApiError::BadRequest)?;
    if let Some(c) = created_ns {
        rule.created_ns = c;
    }
    for w in &rule.webhooks {
        spyglass_alerts::check_target(&w.url, st.allow_private_webhooks)
            .await
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    Ok(rule)
}

#[utoipa::path(get, path = "/api/v1/alerts/rules", tag = "alerts",
    responses((status = 200, body = Vec<RuleStatus>)))]
pub async fn list_rules(Read(st): Read) -> ApiResult<Json<Vec<RuleStatus>>> {
    let rules = st.store.alert_rules(Some(&st.project)).await?;
    Ok(Json(rules.into_iter().map(|r| status_of(&st, r)).collect()))
}

#[utoipa::path(post, path = "/api/v1/alerts/rules", tag = "alerts", request_body = RuleSpec,
    responses((status = 201, body = RuleStatus), (status = 400, body = ErrorBody)))]
pub async fn create_rule(
    Write(st): Write,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<(StatusCode, Json<RuleStatus>)> {
    let id = format!("{:016x}", rand_id());
    let rule = build(&st, &spec, &id, None).await?;
    st.store.put_alert_rule(&rule).await?;
    tracing::info!(rule = %rule.id, name = %rule.name, "alert rule created");
    audit(
        &st,
        "alert_rule.create",
        rule.id.clone(),
        serde_json::to_value(rule.redacted()).unwrap_or_default(),
    )
    .await;
    Ok((StatusCode::CREATED, Json(status_of(&st, rule))))
}

#[utoipa::path(get, path = "/api/v1/alerts/rules/{id}", tag = "alerts",
    params(("id" = String, Path)),
    responses((status = 200, body = RuleStatus), (status = 404, body = ErrorBody)))]
pub async fn get_rule(Read(st): Read, Path(id): Path<String>) -> ApiResult<Json<RuleStatus>> {
    let rule = find(&st, &id).await?;
    Ok(Json(status_of(&st, rule)))
}

fn refuse_config(rule: &AlertRule) -> ApiResult<()> {
    if rule.from_config {
        return Err(ApiError::Conflict(format!(
            "alert rule {:?} is defined in the config file; change it there",
            rule.id
        )));
    }
    Ok(())
}

/// Replaces a rule with the spec (fields left out take their defaults, as on creation).
#[utoipa::path(put, path = "/api/v1/alerts/rules/{id}", tag = "alerts", request_body = RuleSpec,
    params(("id" = String, Path)),
    responses((status = 200, body = RuleStatus), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replace_rule(
    Write(st): Write,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<Json<RuleStatus>> {
    let old = find(&st, &id).await?;
    refuse_config(&old)?;
    let rule = build(&st, &spec, &id, Some(old.created_ns)).await?;
    st.store.put_alert_rule(&rule).await?;
    audit(
        &st,
        "alert_rule.replace",
        rule.id.clone(),
        serde_json::to_value(rule.redacted()).unwrap_or_default(),
    )
    .await;
    Ok(Json(status_of(&st, rule)))
}

#[utoipa::path(delete, path = "/api/v1/alerts/rules/{id}", tag = "alerts",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_rule(Write(st): Write, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let rule = find(&st, &id).await?;
    refuse_config(&rule)?;
    st.store.delete_alert_rule(&st.project, &id).await?;
    tracing::info!(rule = %id, "alert rule deleted");
    audit(
        &st,
        "alert_rule.delete",
        id.clone(),
        serde_json::Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Events of one rule.
    rule_id: Option<String>,
    /// Events before this time (Unix ns, RFC 3339 or a duration back): the `time_ns` of the
    /// last event of the previous page.
    before: Option<String>,
    /// Default 50, at most 1000.
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/alerts/events", tag = "alerts", params(EventParams),
    responses((status = 200, body = Vec<AlertEvent>), (status = 400, body = ErrorBody)))]
pub async fn list_events(
    Read(st): Read,
    ApiQuery(p): ApiQuery<EventParams>,
) -> ApiResult<Json<Vec<AlertEvent>>> {
    let before = p
        .before
        .as_deref()
        .map(|v| parse_time("before", v))
        .transpose()?;
    let events = st
        .store
        .alert_events(
            &st.project,
            p.rule_id.as_deref(),
            before,
            p.limit.unwrap_or(spyglass_model::query::DEFAULT_LIMIT),
        )
        .await?;
    Ok(Json(events))
}

/// Every built-in template as the rule it makes with its default parameter.
#[utoipa::path(get, path = "/api/v1/alerts/templates", tag = "alerts",
    responses((status = 200, body = Vec<AlertRule>)))]
pub async fn list_templates(Read(st): Read) -> Json<Vec<AlertRule>> {
    Json(
        TEMPLATES
            .iter()
            .filter_map(|t| {
                template(t, &st.project, None).map(|mut r| {
                    r.id = (*t).to_string();
                    r
                })
            })
            .collect(),
    )
}

/// 64 random bits from the standard library's randomly seeded hasher (no extra crate for
/// ids that only need to be unique).
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(spyglass_model::now_ns());
    h.finish()
}
