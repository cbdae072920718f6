//! The web dashboard (`ui/`, embedded by `spyglass-ui-assets`): its files by name, and
//! `index.html` for every other GET outside the API, so the single-page app's own routes
//! (`/traces/…`, `/security`) load from a bookmark or a reload.

use crate::error::ApiError;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use spyglass_ui_assets::Asset;

fn serve(asset: Asset) -> Response {
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        // index.html names the current hashed bundles: always revalidate it.
        "no-cache"
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.bytes,
    )
        .into_response()
}

/// Paths that belong to the server, never to the dashboard: a miss there is a real 404.
fn reserved(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || matches!(path, "/metrics" | "/healthz" | "/readyz")
}

pub async fn index() -> Response {
    serve(spyglass_ui_assets::index())
}

/// The router's fallback: a dashboard file, else the app's `index.html`, else 404.
pub async fn spa(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if (method != Method::GET && method != Method::HEAD) || reserved(path) {
        return ApiError::NotFound(format!("{method} {path}")).into_response();
    }
    if let Some(asset) = spyglass_ui_assets::get(path.trim_start_matches('/')) {
        return serve(asset);
    }
    // A missing hashed bundle (an old index.html in a cache) must fail, not load HTML as JS.
    if path.starts_with("/assets/") {
        return ApiError::NotFound(format!("dashboard file {path}")).into_response();
    }
    serve(spyglass_ui_assets::index())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::StatusCode;

    async fn get(path: &str) -> Response {
        spa(Method::GET, path.parse().unwrap()).await
    }

    #[tokio::test]
    async fn app_routes_get_index_html_uncached() {
        for path in [
            "/traces",
            "/traces/abc?span=1",
            "/security",
            "/no/such/page",
        ] {
            let r = get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
            assert!(
                r.headers()[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = to_bytes(r.into_body(), 1 << 20).await.unwrap();
            assert!(body.starts_with(b"<!doctype html>") || body.starts_with(b"<!DOCTYPE html>"));
        }
    }

    #[tokio::test]
    async fn server_paths_and_missing_assets_are_404() {
        for path in [
            "/api/v1/nope",
            "/api",
            "/metrics",
            "/healthz",
            "/readyz",
            "/assets/gone-1234.js",
        ] {
            assert_eq!(get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let post = spa(Method::POST, "/traces".parse().unwrap()).await;
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
    }
}
