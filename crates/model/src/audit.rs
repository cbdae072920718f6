//! Deletion on request (a trace, a session, or everything of a user, for GDPR requests) and
//! the audit log of admin actions.

use crate::ids::TraceId;
use serde::{Deserialize, Serialize};

/// What to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteTarget {
    Trace(TraceId),
    Session(String),
    /// Every trace with a span of this user.
    User(String),
}

impl DeleteTarget {
    pub fn describe(&self) -> String {
        match self {
            DeleteTarget::Trace(t) => format!("trace {t}"),
            DeleteTarget::Session(s) => format!("session {s}"),
            DeleteTarget::User(u) => format!("user {u}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionReport {
    pub traces: u64,
    pub spans: u64,
}

/// One admin action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub project_id: String,
    pub time_ns: i64,
    /// Who asked: `local` in the single-project mode without keys.
    pub actor: String,
    /// `delete.trace`, `delete.session`, `delete.user`, `alert_rule.create`, …
    pub action: String,
    pub target: String,
    /// What it did (counts, the rule, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An action taken now.
    pub fn now(
        project_id: &str,
        actor: &str,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) -> Self {
        AuditEntry {
            project_id: project_id.into(),
            time_ns: crate::now_ns(),
            actor: actor.into(),
            action: action.into(),
            target,
            detail,
        }
    }
}
