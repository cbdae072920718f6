//! API errors and their one mapping to HTTP: `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spyglass_archive::ArchiveError;
use spyglass_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] spyglass_archive::ArchiveError),
    #[error(transparent)]
    Auth(#[from] spyglass_auth::AuthError),
    /// Busy now; the client may retry after this many seconds.
    #[error("{message}")]
    Busy { message: String, retry_after_s: u64 },
    /// A fault of the server's own (a worker task that panicked, say).
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: not_found, method_not_allowed, bad_request, conflict,
    /// unauthorized, forbidden, rate_limited, too_large, unavailable, timeout, internal.
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Store(StoreError::InvalidQuery(_)) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ApiError::Store(StoreError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::Store(
                StoreError::Closed | StoreError::DiskFull(_) | StoreError::Unavailable(_),
            ) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Archive(ArchiveError::Format(_) | ArchiveError::Destination(_)) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ApiError::Archive(ArchiveError::TooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            ApiError::Archive(ArchiveError::Store(StoreError::InvalidQuery(_))) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ApiError::Archive(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Auth(a) => {
                use spyglass_auth::AuthError as A;
                match a {
                    A::Unauthenticated | A::InvalidKey | A::InvalidSession | A::BadLogin => {
                        (StatusCode::UNAUTHORIZED, "unauthorized")
                    }
                    A::Csrf | A::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                    A::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                    A::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
                    A::Conflict(_) | A::Disabled => (StatusCode::CONFLICT, "conflict"),
                    A::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                    A::Store(
                        StoreError::Closed | StoreError::DiskFull(_) | StoreError::Unavailable(_),
                    ) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                    A::Store(_) | A::Hash(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                }
            }
        }
    }
}

/// Seconds a client is asked to wait before retrying a write refused because the disk is full.
const DISK_FULL_RETRY_AFTER_S: u64 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() && !matches!(self, ApiError::Busy { .. }) {
            tracing::error!(error = %self, "API request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message: self.to_string(),
                },
            }),
        )
            .into_response();
        let retry_after = match self {
            ApiError::Busy { retry_after_s, .. }
            | ApiError::Auth(spyglass_auth::AuthError::RateLimited { retry_after_s }) => {
                Some(retry_after_s)
            }
            // The disk is full: nothing was written; retry once space returns.
            ApiError::Store(StoreError::DiskFull(_) | StoreError::Unavailable(_))
            | ApiError::Auth(spyglass_auth::AuthError::Store(
                StoreError::DiskFull(_) | StoreError::Unavailable(_),
            )) => Some(DISK_FULL_RETRY_AFTER_S),
            _ => None,
        };
        if let Some(s) = retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(s),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"spyglass\""),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `Query<T>` whose rejection is an [`ApiError`], so a bad query string answers in the API's
/// JSON error shape like every other 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `Json<T>` whose rejection (bad JSON, wrong content type, unknown field) is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| ApiJson(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_unavailable_with_retry_after() {
        let resp =
            ApiError::Store(StoreError::DiskFull("No space left on device".into())).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers().get(axum::http::header::RETRY_AFTER).unwrap(),
            "5"
        );
        let (status, code) = ApiError::Store(StoreError::Database("x".into())).status_and_code();
        assert_eq!(
            (status, code),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
    }
}
