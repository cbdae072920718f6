//! `/healthz`, `/readyz` and `/metrics`.

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store answers queries.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "ready"), (status = 503, description = "store unavailable")))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        )
            .into_response(),
    }
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
pub async fn retention(State(st): State<AppState>) -> axum::Json<RetentionView> {
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
