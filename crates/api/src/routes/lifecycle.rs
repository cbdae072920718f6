//! Deletion on request (a trace, a session, everything of a user) and the audit log of admin
//! actions.

use crate::AppState;
use crate::access::{Manage, Scope, Write};
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::{parse_time, parse_trace_id};
use axum::Json;
use axum::extract::Path;
use serde::Deserialize;
use spyglass_model::audit::{AuditEntry, DeleteTarget, DeletionReport};

/// Records an admin action in the request's project, naming who asked.
pub async fn audit(st: &Scope, action: &str, target: String, detail: serde_json::Value) {
    record(st, &st.project, &st.principal, action, target, detail).await
}

/// Records an admin action; a failure to record is logged, not returned (the action happened).
pub async fn record(
    st: &AppState,
    project: &str,
    who: &spyglass_auth::Principal,
    action: &str,
    target: String,
    detail: serde_json::Value,
) {
    let entry = AuditEntry::now(project, &who.actor(), action, target, detail);
    if let Err(e) = st.store.record_audit(&entry).await {
        tracing::error!(error = %e, action, "recording an audit entry failed");
    }
}

async fn delete(st: &Scope, action: &str, target: DeleteTarget) -> ApiResult<Json<DeletionReport>> {
    let report = st.store.delete(&st.project, &target).await?;
    tracing::info!(target = %target.describe(), traces = report.traces, spans = report.spans, "deleted on request");
    audit(
        st,
        action,
        target.describe(),
        serde_json::to_value(report).unwrap_or_default(),
    )
    .await;
    if report.traces == 0 {
        return Err(ApiError::NotFound(target.describe()));
    }
    Ok(Json(report))
}

#[utoipa::path(delete, path = "/api/v1/traces/{trace_id}", tag = "traces",
    params(("trace_id" = String, Path)),
    responses((status = 200, body = DeletionReport), (status = 404, body = ErrorBody)))]
pub async fn delete_trace(
    Write(st): Write,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletionReport>> {
    let t = parse_trace_id(&id)?;
    delete(&st, "delete.trace", DeleteTarget::Trace(t)).await
}

#[utoipa::path(delete, path = "/api/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path)),
    responses((status = 200, body = DeletionReport), (status = 404, body = ErrorBody)))]
pub async fn delete_session(
    Write(st): Write,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletionReport>> {
    delete(&st, "delete.session", DeleteTarget::Session(id)).await
}

/// Everything of a user (GDPR erasure): every trace with a span of theirs.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "sessions",
    params(("user_id" = String, Path)),
    responses((status = 200, body = DeletionReport), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    Manage(st): Manage,
    Path(id): Path<String>,
) -> ApiResult<Json<DeletionReport>> {
    delete(&st, "delete.user", DeleteTarget::User(id)).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Entries before this time (the `time_ns` of the last entry of the previous page).
    before: Option<String>,
    /// Default 50, at most 1000.
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "ops", params(AuditParams),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody)))]
pub async fn audit_log(
    Manage(st): Manage,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let before = p
        .before
        .as_deref()
        .map(|v| parse_time("before", v))
        .transpose()?;
    let limit = p.limit.unwrap_or(spyglass_model::query::DEFAULT_LIMIT);
    Ok(Json(st.store.audit_log(&st.project, before, limit).await?))
}
