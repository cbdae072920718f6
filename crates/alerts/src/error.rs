//! Why a webhook delivery (or a webhook target, when a rule is saved) was refused or failed.
//! Messages name the host, never the full URL: a URL's path is often its credential (Slack's
//! incoming webhooks are), and these messages end up in logs and API responses.

/// A failed or refused webhook delivery.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook url is invalid: {0}")]
    InvalidUrl(String),
    #[error("webhook url must be http or https, not {0}")]
    Scheme(String),
    #[error("cannot resolve webhook host {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// The target resolves to an address a server should not be made to call (SSRF).
    #[error(
        "webhook target {target} is {kind} address; set alerts.allow_private_webhooks to allow it"
    )]
    Refused { target: String, kind: &'static str },
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("webhook answered with a redirect (HTTP {0}); redirects are not followed")]
    Redirect(u16),
    #[error("webhook request failed: {0}")]
    Transport(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot encode the webhook body: {0}")]
    Encode(String),
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<NotifyError>,
    },
}

impl NotifyError {
    /// Whether the SSRF guard refused the target (as opposed to the target failing).
    pub fn is_refused(&self) -> bool {
        matches!(self, NotifyError::Refused { .. })
    }
}
