//! Authentication and authorization: projects, API keys, users with per-project roles, and
//! browser sessions. The [`Directory`] keeps every record in memory (they are few) and writes
//! each change to the store before it takes effect, so a revoked key stops working on the
//! next request and survives a restart.

pub mod credentials;
mod directory;
pub mod limit;
pub mod principal;
pub mod secret;

pub use credentials::{CSRF_HEADER, Credentials, PROJECT_HEADER, SESSION_COOKIE};
pub use directory::{Directory, NewUser, UserChange};
pub use principal::{Access, DEFAULT_PROJECT, Denied, Principal};

use serde::Deserialize;
use spyglass_store::StoreError;

/// `[auth]` in the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require keys and sign-in. Also on, whatever this says, once any key or user exists.
    pub enabled: bool,
    /// The first admin, created at the first start with authentication on.
    pub admin_username: String,
    /// Its password; when empty one is generated and written to
    /// `<data_dir>/initial-admin-password` (readable by the owner only).
    pub admin_password: String,
    /// How long a sign-in lasts.
    pub session_hours: u64,
    /// Requests per second each key or user may make (0: unlimited); `burst` more at once.
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: u32,
    /// Failed and successful sign-ins per minute per username.
    pub logins_per_minute: u32,
    /// Mark the session cookie `Secure`. Defaults to whether the API serves TLS.
    pub secure_cookie: Option<bool>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            admin_username: "admin".into(),
            admin_password: String::new(),
            session_hours: 24 * 7,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 100,
            logins_per_minute: 10,
            secure_cookie: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "authentication required: send an API key (Authorization: Bearer or X-API-Key) or sign in"
    )]
    Unauthenticated,
    #[error("invalid or revoked API key")]
    InvalidKey,
    #[error("the session has expired or was signed out; sign in again")]
    InvalidSession,
    #[error("wrong username or password")]
    BadLogin,
    #[error("missing or wrong X-CSRF-Token header (it comes with the sign-in answer)")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("rate limit exceeded; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error(
        "authentication is off (single-project local mode); start with [auth] enabled = true to manage keys and users"
    )]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl AuthError {
    pub(crate) fn denied(d: Denied, project: &str) -> AuthError {
        match d {
            Denied::NoProject => AuthError::NotFound(format!("project {project}")),
            Denied::Forbidden(m) => AuthError::Forbidden(m),
        }
    }
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
