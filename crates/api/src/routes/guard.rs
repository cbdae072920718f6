//! `POST /api/v1/guard/check`: one text checked before an agent acts on it, with the ingest
//! detectors plus the guard policy (blocking categories, cost and loop caps of the trace or
//! session). Answers in well under a millisecond for a few KB, so an agent can wait for it.

use crate::access::Ingest;
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::params::parse_trace_id;
use axum::Json;
use serde::{Deserialize, Serialize};
use spyglass_engine::guard::{GuardContext, GuardOverrides};
use spyglass_engine::security::{Action, Direction};
use spyglass_model::Finding;
use std::time::Instant;
use utoipa::ToSchema;

/// Largest text checked, in bytes: the detectors' cost grows with the text, and a guard sits
/// in an agent's hot path.
pub const MAX_GUARD_TEXT: usize = 256 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardRequest {
    pub text: String,
    /// `input` (a prompt on its way to a model: direct injection), `tool_output` (content an
    /// agent read: indirect injection) or `output` (a model's answer: leaks).
    #[schema(value_type = String)]
    pub direction: Direction,
    /// The trace the text belongs to: its cost and loop caps apply.
    pub trace_id: Option<String>,
    /// The session the text belongs to: its cost cap applies.
    pub session_id: Option<String>,
    /// The agent asking, for the record.
    pub agent: Option<String>,
    /// Policy fields for this check; unset ones come from the server's `[guard]` section.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub policy: Option<GuardOverrides>,
}

#[derive(Serialize, ToSchema)]
pub struct GuardResponse {
    /// `allow`, `flag` (let through, but something was found) or `block`.
    #[schema(value_type = String)]
    pub action: Action,
    /// The injection score in [0, 1] (0 for `output`).
    pub score: f32,
    pub findings: Vec<Finding>,
    /// Why the action is what it is.
    pub reasons: Vec<String>,
    /// The text with secrets (and PII, when configured) masked; absent when nothing was.
    pub redacted: Option<String>,
    /// The trace's usage so far (cost_usd, spans, max_tool_repeats, max_prompt_repeats,
    /// max_depth, duration_secs), when the trace is known.
    #[schema(value_type = Option<Object>)]
    pub trace: Option<serde_json::Value>,
    pub session_cost_usd: Option<f64>,
    /// Server-side time of the check, microseconds.
    pub elapsed_us: u64,
}

#[utoipa::path(post, path = "/api/v1/guard/check", tag = "security", request_body = GuardRequest,
    responses((status = 200, body = GuardResponse), (status = 400, body = ErrorBody)))]
pub async fn check(
    Ingest(st): Ingest,
    ApiJson(req): ApiJson<GuardRequest>,
) -> ApiResult<Json<GuardResponse>> {
    let started = Instant::now();
    if req.text.len() > MAX_GUARD_TEXT {
        return Err(ApiError::BadRequest(format!(
            "text is {} bytes; at most {MAX_GUARD_TEXT} are checked",
            req.text.len()
        )));
    }
    let ctx = GuardContext {
        project: st.project.to_string(),
        trace_id: req.trace_id.as_deref().map(parse_trace_id).transpose()?,
        session_id: req.session_id,
    };
    let policy = match &req.policy {
        Some(o) => {
            let p = st.engine.guard.merged(o);
            p.validate()
                .map_err(|e| ApiError::BadRequest(format!("policy: {e}")))?;
            p
        }
        None => st.engine.guard.clone(),
    };
    let v = st
        .engine
        .guard_check(&req.text, req.direction, &ctx, &policy);
    let elapsed = started.elapsed();
    st.metrics.guard_checks(v.action).inc();
    st.metrics.guard_seconds.observe(elapsed.as_secs_f64());
    if v.action != Action::Allow {
        // Detector ids and reasons only: the text and the evidence may hold what was found.
        tracing::info!(
            action = ?v.action,
            agent = req.agent.as_deref().unwrap_or(""),
            detectors = ?v.findings.iter().map(|f| &*f.detector).collect::<Vec<_>>(),
            "guard check"
        );
    }
    Ok(Json(GuardResponse {
        action: v.action,
        score: v.score,
        findings: v.findings,
        reasons: v.reasons,
        redacted: v.redacted,
        trace: v.trace.and_then(|t| serde_json::to_value(t).ok()),
        session_cost_usd: v.session_cost_usd,
        elapsed_us: elapsed.as_micros() as u64,
    }))
}
