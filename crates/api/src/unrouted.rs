//! A method an API path does not have answers in the API's JSON error shape, like every other
//! 4xx, instead of the router's empty 405 (unknown paths reach the router's fallback,
//! `routes::home::spa`, which answers a JSON 404 itself); and the
//! request span of the access log, which names the route, never the path or query a client
//! wrote (ids of users and sessions, search text and whatever secret was pasted into them).

use crate::error::{ErrorBody, ErrorDetail};
use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn json_method_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !path.starts_with("/api/") || is_json {
        return resp;
    }
    if status != StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code: "method_not_allowed",
                message: format!("{path} does not take {method}"),
            },
        }),
    )
        .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// The tracing span of one request: method and route template (`/api/v1/users/{user_id}`).
pub fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(unrouted)", |m| m.as_str());
    tracing::debug_span!("request", method = %req.method(), route)
}

type MakeSpan = fn(&axum::http::Request<axum::body::Body>) -> tracing::Span;
type Classifier =
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>;

/// The access-log layer: request spans from [`request_span`].
pub fn trace_layer() -> tower_http::trace::TraceLayer<Classifier, MakeSpan> {
    tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span as MakeSpan)
}
