//! Projects, API keys, users and their sessions as the store keeps them. Secrets never appear
//! here: a key is kept as a salted SHA-256 digest, a password as an argon2id PHC string, a
//! session as the digest of its cookie value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A tenant. Every span, finding, rule and key belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    /// Lowercase letters, digits and `-`, at most 64 characters.
    pub id: String,
    pub name: String,
    pub created_ns: i64,
}

/// Checks a project id: lowercase letters, digits and `-`, starting with a letter or digit.
pub fn valid_project_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// What an API key may do. Ingest keys cannot read; read keys cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Send spans (OTLP) and ask the guard.
    Ingest,
    /// Read everything of the project through the API.
    Read,
    /// Everything a project admin may do (for automation and the CLI).
    Admin,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::Read => "read",
            KeyScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<KeyScope> {
        match s {
            "ingest" => Some(KeyScope::Ingest),
            "read" => Some(KeyScope::Read),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }
}

/// An API key. The key itself is shown once, at creation; `prefix` identifies it in lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The random part of the prefix; unique.
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub scope: KeyScope,
    /// `sg_<scope>_<id>`: the first characters of the key.
    pub prefix: String,
    /// Hex of 16 random bytes hashed in front of the key.
    pub salt: String,
    /// Hex SHA-256 of salt ‖ key.
    pub hash: String,
    pub created_ns: i64,
    /// Who created it (a username, a key prefix, or `local`).
    pub created_by: String,
    pub revoked_ns: Option<i64>,
}

/// A user's role in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything of the project.
    Viewer,
    /// Also changes alert rules, price overrides, imports and deletes traces.
    Member,
    /// Also manages the project's keys and sees its audit log.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    /// argon2id, PHC string format.
    pub password_hash: String,
    /// A server admin manages projects and users and has the admin role in every project.
    pub admin: bool,
    /// Role per project id.
    pub roles: BTreeMap<String, Role>,
    pub created_ns: i64,
}

/// A signed-in browser (or CLI) session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Hex SHA-256 of the cookie's value.
    pub id: String,
    pub user_id: String,
    /// Must come back in `X-CSRF-Token` on every request that changes something.
    pub csrf: String,
    pub created_ns: i64,
    pub expires_ns: i64,
}

/// One row of the store's auth table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AuthRecord {
    Project(Project),
    Key(ApiKeyRecord),
    User(UserRecord),
    Session(SessionRecord),
}

/// The kinds of [`AuthRecord`], as the store's `kind` column names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    Project,
    Key,
    User,
    Session,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Project => "project",
            AuthKind::Key => "key",
            AuthKind::User => "user",
            AuthKind::Session => "session",
        }
    }
}

impl AuthRecord {
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthRecord::Project(_) => AuthKind::Project,
            AuthRecord::Key(_) => AuthKind::Key,
            AuthRecord::User(_) => AuthKind::User,
            AuthRecord::Session(_) => AuthKind::Session,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            AuthRecord::Project(p) => &p.id,
            AuthRecord::Key(k) => &k.id,
            AuthRecord::User(u) => &u.id,
            AuthRecord::Session(s) => &s.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        for ok in ["default", "a", "team-7", "0x"] {
            assert!(valid_project_id(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!valid_project_id(bad), "{bad}");
        }
    }

    #[test]
    fn records_round_trip_with_their_kind() {
        let r = AuthRecord::Project(Project {
            id: "p".into(),
            name: "P".into(),
            created_ns: 1,
        });
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""kind":"project""#), "{text}");
        assert_eq!(serde_json::from_str::<AuthRecord>(&text).unwrap(), r);
        assert_eq!(r.kind().as_str(), "project");
    }

    #[test]
    fn roles_order_by_power() {
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Admin);
        assert_eq!(Role::parse("member"), Some(Role::Member));
        assert_eq!(KeyScope::parse("ingest"), Some(KeyScope::Ingest));
        assert_eq!(KeyScope::parse("write"), None);
    }
}
