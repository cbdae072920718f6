//! `/`: a small built-in trace browser over this API (list, tree with waterfall, span detail,
//! live refresh). The full React dashboard replaces it.

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../../assets/index.html");

pub async fn index() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        INDEX,
    )
}
