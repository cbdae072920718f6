//! `/healthz`, `/readyz` and `/metrics`.

use crate::AppState;
use crate::access::Read;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store answers queries (and the queue, in the scale-out roles).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "ready"), (status = 503, description = "store or queue unavailable")))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    if let Err(e) = st.store.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        )
            .into_response();
    }
    for check in &st.ready_checks {
        if let Err(e) = check().await {
            return (StatusCode::SERVICE_UNAVAILABLE, e).into_response();
        }
    }
    (StatusCode::OK, "ready").into_response()
}

/// Prometheus text exposition of the server's own metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &st.registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}"),
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}

/// How long this project's data is kept.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RetentionView {
    /// Days kept; 0 keeps everything.
    pub days: u32,
    /// Data that started before this is deleted by the next pass (`null`: kept forever).
    pub cutoff_ns: Option<i64>,
    pub cutoff_time: Option<String>,
    /// Seconds between passes.
    pub interval_s: u64,
    /// Where expired data is archived before it is deleted (`null`: not archived).
    pub archive_destination: Option<String>,
    /// `parquet` or `jsonl`.
    pub archive_format: &'static str,
}

#[utoipa::path(get, path = "/api/v1/retention", tag = "ops",
    responses((status = 200, body = RetentionView)))]
pub async fn retention(Read(st): Read) -> axum::Json<RetentionView> {
    let cutoff = st
        .retention
        .cutoff_ns(&st.project, spyglass_model::now_ns());
    axum::Json(RetentionView {
        days: st.retention.days_for(&st.project),
        cutoff_ns: cutoff,
        cutoff_time: cutoff.map(crate::params::rfc3339),
        interval_s: st.retention.interval_s,
        archive_destination: Some(st.archive.config.destination.clone()).filter(|d| !d.is_empty()),
        archive_format: st.archive.config.format.extension(),
    })
}

/// What is masked in this project's stored spans, and what the scanner looks at.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RedactionView {
    /// Secrets (API keys, tokens, private keys) replaced by `[REDACTED:<kind>]` before storage.
    pub secret_masking: bool,
    /// Personal data (emails, phone numbers, card numbers, ...) replaced before storage.
    pub pii_masking: bool,
    /// Names of the configured custom PII patterns.
    pub custom_pii_patterns: Vec<String>,
    /// Detectors switched off.
    pub disabled_detectors: Vec<String>,
    pub scan_system_prompts: bool,
    /// Bytes of each text scanned; the rest is stored unscanned.
    pub max_scan_bytes: usize,
}

#[utoipa::path(get, path = "/api/v1/redaction", tag = "security",
    responses((status = 200, body = RedactionView)))]
pub async fn redaction(Read(st): Read) -> axum::Json<RedactionView> {
    let sec = &st.engine.security;
    let masking = sec.masking_for(&st.project);
    let cfg = sec.config();
    axum::Json(RedactionView {
        secret_masking: masking.secrets,
        pii_masking: masking.pii,
        custom_pii_patterns: cfg
            .custom_pii_patterns
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        disabled_detectors: cfg.disabled_detectors.clone(),
        scan_system_prompts: cfg.scan_system_prompts,
        max_scan_bytes: cfg.max_scan_bytes,
    })
}
