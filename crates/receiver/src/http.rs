//! OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies, gzip or identity encoding.
//! Answers per the OTLP specification: an `ExportTraceServiceResponse` (with partial success
//! when spans were rejected) in the request's encoding, or a `google.rpc.Status` body with the
//! right HTTP status.

use crate::error::ReceiverError;
use crate::pipeline::Pipeline;
use crate::rpc_status::{RpcStatus, json_status};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use spyglass_auth::Directory;
use spyglass_ingest::Format;
use spyglass_ingest::decode::decode_content_encoding;
use std::sync::Arc;

#[derive(Clone)]
struct HttpState {
    pipeline: Arc<Pipeline>,
    max_body_bytes: usize,
    auth: Arc<Directory>,
}

/// The OTLP/HTTP router. Spans go to the project of the request's ingest key.
pub fn router(pipeline: Arc<Pipeline>, max_body_bytes: usize, auth: Arc<Directory>) -> Router {
    let state = HttpState {
        pipeline,
        max_body_bytes,
        auth,
    };
    Router::new()
        .route("/v1/traces", post(export_traces))
        .route(
            "/v1/logs",
            post(|h: HeaderMap| async move { not_supported(&h, "logs") }),
        )
        .route(
            "/v1/metrics",
            post(|h: HeaderMap| async move { not_supported(&h, "metrics") }),
        )
        .fallback(|uri: axum::http::Uri| async move {
            unrouted(
                StatusCode::NOT_FOUND,
                tonic::Code::NotFound,
                format!(
                    "no OTLP endpoint {}; traces go to POST /v1/traces",
                    uri.path()
                ),
            )
        })
        .method_not_allowed_fallback(|m: axum::http::Method, uri: axum::http::Uri| async move {
            unrouted(
                StatusCode::METHOD_NOT_ALLOWED,
                tonic::Code::Unimplemented,
                format!("{} takes POST, not {m}", uri.path()),
            )
        })
        .with_state(state)
}

fn format_of(headers: &HeaderMap) -> Result<Format, ReceiverError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Format::Protobuf),
        "application/json" => Ok(Format::Json),
        _ => Err(ReceiverError::UnsupportedMediaType(ct.to_string())),
    }
}

async fn export_traces(State(st): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let format = format_of(&headers).ok();
    match handle(&st, &headers, body).await {
        Ok(resp) => success(format.unwrap_or(Format::Protobuf), resp),
        Err(e) => {
            tracing::debug!(error = %e, "OTLP/HTTP request refused");
            error_response(format.unwrap_or(Format::Json), &e)
        }
    }
}

async fn handle(
    st: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportTraceServiceResponse, ReceiverError> {
    let project = st.auth.authorize_ingest(headers)?;
    let format = format_of(headers)?;
    let limit = st.max_body_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ReceiverError::BodyTooLarge { size: len, limit });
    }
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            ReceiverError::BodyTooLarge {
                size: limit + 1,
                limit,
            }
        } else {
            ReceiverError::BodyRead(e.to_string())
        }
    })?;
    let mut admission = st.pipeline.admit(raw.len()).map_err(ReceiverError::from)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let body = decode_content_encoding(&raw, encoding, limit)?;
    if body.len() > raw.len() {
        st.pipeline
            .grow(&mut admission, body.len())
            .map_err(ReceiverError::from)?;
    }
    let accepted = st
        .pipeline
        .export_bytes(admission, &body, format, &project)
        .await?;
    Ok(response_of(accepted))
}

/// The OTLP response: partial success only when something was rejected or cut.
pub fn response_of(a: crate::pipeline::Accepted) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (a.rejected > 0 || !a.message.is_empty()).then_some(
            ExportTracePartialSuccess {
                rejected_spans: a.rejected as i64,
                error_message: a.message,
            },
        ),
    }
}

fn success(format: Format, resp: ExportTraceServiceResponse) -> Response {
    match format {
        Format::Protobuf => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            )],
            resp.encode_to_vec(),
        )
            .into_response(),
        Format::Json => {
            // proto3 JSON: int64 as a string, camelCase names, empty message as {}.
            let body = match resp.partial_success {
                Some(p) => serde_json::json!({
                    "partialSuccess": { "rejectedSpans": p.rejected_spans.to_string(), "errorMessage": p.error_message }
                }),
                None => serde_json::json!({}),
            };
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn status_body(format: Format, code: tonic::Code, message: &str) -> (HeaderValue, Vec<u8>) {
    match format {
        Format::Protobuf => (
            HeaderValue::from_static("application/x-protobuf"),
            RpcStatus {
                code: code as i32,
                message: message.to_string(),
                details: vec![],
            }
            .encode_to_vec(),
        ),
        Format::Json => (
            HeaderValue::from_static("application/json"),
            json_status(code, message).to_string().into_bytes(),
        ),
    }
}

pub fn error_response(format: Format, e: &ReceiverError) -> Response {
    let m = e.mapping();
    let (ct, body) = status_body(format, m.grpc, &e.to_string());
    let mut resp = (
        StatusCode::from_u16(m.http).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, ct)],
        body,
    )
        .into_response();
    if let Some(secs) = m.retry_after_secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A request for a path or method the receiver does not have, answered as an OTLP status
/// in JSON (there is no content type to follow).
fn unrouted(status: StatusCode, code: tonic::Code, message: String) -> Response {
    let (ct, body) = status_body(Format::Json, code, &message);
    let mut resp = (status, [(header::CONTENT_TYPE, ct)], body).into_response();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    resp
}

fn not_supported(headers: &HeaderMap, signal: &str) -> Response {
    let format = format_of(headers).unwrap_or(Format::Json);
    let msg = format!(
        "Spyglass receives traces only; OTLP {signal} are not supported (send them to another backend)"
    );
    let (ct, body) = status_body(format, tonic::Code::Unimplemented, &msg);
    (
        StatusCode::NOT_IMPLEMENTED,
        [(header::CONTENT_TYPE, ct)],
        body,
    )
        .into_response()
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        src = s.source();
    }
    false
}
