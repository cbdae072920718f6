//! Who may call a route. Handlers get the project they work on only through these
//! extractors, so every route that touches data says what it needs ([`Read`], [`Write`],
//! [`Manage`], [`Ingest`]) and cannot forget to check it.
//!
//! A request names its project with the `X-Spyglass-Project` header or a `project` query
//! parameter (which the router strips before handlers parse their queries); otherwise it gets
//! its key's project, or the user's first. A project the caller has no role in answers 404,
//! like a trace that does not exist.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use spyglass_auth::{Access, AuthError, CSRF_HEADER, PROJECT_HEADER, Principal};
use std::ops::Deref;
use std::sync::Arc;

/// The state, the project a request works on, and who asked.
pub struct Scope {
    pub state: AppState,
    pub project: Arc<str>,
    pub principal: Arc<Principal>,
}

impl Deref for Scope {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.state
    }
}

/// The `project` query parameter, taken out of the query by [`take_project_param`].
#[derive(Clone)]
struct RequestedProject(String);

/// Moves `project=` out of the query string, so handlers whose query parameters refuse
/// unknown names still accept it.
pub async fn take_project_param(mut req: Request, next: Next) -> Response {
    if let Some(query) = req.uri().query()
        && query.split('&').any(|p| p.starts_with("project="))
    {
        let mut project = None;
        let rest: Vec<&str> = query
            .split('&')
            .filter(|p| match p.strip_prefix("project=") {
                Some(_) => {
                    project = form_urlencoded::parse(p.as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned());
                    false
                }
                None => true,
            })
            .collect();
        let path = req.uri().path();
        let pq = if rest.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", rest.join("&"))
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
        if let Some(p) = project {
            req.extensions_mut().insert(RequestedProject(p));
        }
    }
    next.run(req).await
}

/// Authenticates the request: its key or session, the session's CSRF token on requests that
/// change something, and the caller's rate limit.
pub fn principal(parts: &Parts, state: &AppState) -> Result<Arc<Principal>, ApiError> {
    let p = state
        .auth
        .authenticate(&parts.headers)?
        .ok_or(AuthError::Unauthenticated)?;
    if let Principal::User { csrf, .. } = &p {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !parts.method.is_safe() && !sent.is_some_and(|s| spyglass_auth::secret::same(s, csrf)) {
            return Err(AuthError::Csrf.into());
        }
        // A cookie rides along on cross-site WebSocket handshakes too; only our own pages may
        // open one with it.
        if let Some(origin) = parts.headers.get(axum::http::header::ORIGIN) {
            // Behind a proxy that rewrites Host, the browser's host is in X-Forwarded-Host.
            let authority = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, a)| a);
            let same = ["host", "x-forwarded-host"].iter().any(|h| {
                let host = parts.headers.get(*h).and_then(|v| v.to_str().ok());
                authority.is_some() && host == authority
            });
            if !same {
                return Err(AuthError::Forbidden(
                    "a signed-in session may only be used from Spyglass's own pages".into(),
                )
                .into());
            }
        }
    }
    state.auth.rate_limit(&p)?;
    Ok(Arc::new(p))
}

fn requested_project(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(PROJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            parts
                .extensions
                .get::<RequestedProject>()
                .map(|p| p.0.clone())
        })
}

async fn scope(parts: &Parts, state: &AppState, access: Access) -> Result<Scope, ApiError> {
    let principal = principal(parts, state)?;
    let project = state
        .auth
        .authorize(&principal, requested_project(parts).as_deref(), access)?;
    Ok(Scope {
        state: state.clone(),
        project,
        principal,
    })
}

macro_rules! access_extractor {
    ($(#[$doc:meta])* $name:ident, $access:expr) => {
        $(#[$doc])*
        pub struct $name(pub Scope);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                scope(parts, state, $access).await.map($name)
            }
        }
    };
}

access_extractor!(
    /// Reads the project's data: viewers, read keys and up.
    Read,
    Access::Read
);
access_extractor!(
    /// Changes the project's data or settings: members, admin keys and up.
    Write,
    Access::Write
);
access_extractor!(
    /// Manages the project: its admins and admin keys.
    Manage,
    Access::Manage
);
access_extractor!(
    /// Sends spans or asks the guard: ingest and admin keys.
    Ingest,
    Access::Ingest
);

/// Any authenticated caller, with no project (who am I, my projects).
pub struct Signed(pub AppState, pub Arc<Principal>);

impl FromRequestParts<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Signed(state.clone(), principal(parts, state)?))
    }
}

/// A server admin: manages projects and users, reads the server log.
pub struct ServerAdmin(pub AppState, pub Arc<Principal>);

impl FromRequestParts<AppState> for ServerAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = principal(parts, state)?;
        if !p.is_server_admin() {
            return Err(AuthError::Forbidden("only a server admin may do this".into()).into());
        }
        Ok(ServerAdmin(state.clone(), p))
    }
}
