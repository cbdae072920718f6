//! Who is asking, and what they may do in which project.

use spyglass_model::auth::{KeyScope, Role, UserRecord};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a request needs in its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Send spans (OTLP) and ask the guard.
    Ingest,
    /// Read the project's data.
    Read,
    /// Change the project's settings and data: rules, prices, imports, deletions.
    Write,
    /// Manage the project's keys; read its audit log.
    Manage,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Ingest => "send spans",
            Access::Read => "read",
            Access::Write => "change",
            Access::Manage => "administer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The single-project local mode: no keys and no users exist.
    Local,
    Key {
        id: String,
        prefix: String,
        project: Arc<str>,
        scope: KeyScope,
    },
    User {
        id: String,
        username: String,
        admin: bool,
        roles: BTreeMap<String, Role>,
        /// The session's CSRF token, expected back on every request that changes something.
        csrf: String,
    },
}

/// Why a principal may not do something in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The project does not exist for this principal: answered as 404, like a missing trace,
    /// so another tenant's project ids are not revealed.
    NoProject,
    Forbidden(String),
}

pub use spyglass_model::DEFAULT_PROJECT;

impl Principal {
    /// A signed-in user, with the CSRF token of their session.
    pub fn user(user: &UserRecord, csrf: &str) -> Principal {
        Principal::User {
            id: user.id.clone(),
            username: user.username.clone(),
            admin: user.admin,
            roles: user.roles.clone(),
            csrf: csrf.to_string(),
        }
    }

    /// Who to name in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Local => "local".into(),
            Principal::Key { prefix, .. } => format!("key:{prefix}"),
            Principal::User { username, .. } => format!("user:{username}"),
        }
    }

    pub fn is_server_admin(&self) -> bool {
        matches!(self, Principal::Local | Principal::User { admin: true, .. })
    }

    /// The project a request means when it names none.
    pub fn default_project(&self) -> Option<Arc<str>> {
        match self {
            Principal::Local => Some(DEFAULT_PROJECT.into()),
            Principal::Key { project, .. } => Some(project.clone()),
            Principal::User { admin, roles, .. } => {
                if *admin || roles.contains_key(DEFAULT_PROJECT) {
                    Some(DEFAULT_PROJECT.into())
                } else {
                    roles.keys().next().map(|p| p.as_str().into())
                }
            }
        }
    }

    /// Whether this principal may do `access` in `project`; `exists` says whether the
    /// project exists at all.
    pub fn check(&self, project: &str, access: Access, exists: bool) -> Result<(), Denied> {
        let forbidden = |what: &str| {
            Err(Denied::Forbidden(format!(
                "{what} cannot {} in this project",
                access.describe()
            )))
        };
        match self {
            Principal::Local => {
                if project == DEFAULT_PROJECT {
                    Ok(())
                } else {
                    Err(Denied::NoProject)
                }
            }
            Principal::Key {
                project: own,
                scope,
                ..
            } => {
                if **own != *project || !exists {
                    return Err(Denied::NoProject);
                }
                let ok = match scope {
                    KeyScope::Ingest => access == Access::Ingest,
                    KeyScope::Read => access == Access::Read,
                    KeyScope::Admin => true,
                };
                if ok {
                    Ok(())
                } else {
                    forbidden(&format!(
                        "{} {} key",
                        if *scope == KeyScope::Ingest || *scope == KeyScope::Admin {
                            "an"
                        } else {
                            "a"
                        },
                        scope.as_str()
                    ))
                }
            }
            Principal::User { admin, roles, .. } => {
                if !exists {
                    return Err(Denied::NoProject);
                }
                let role = if *admin {
                    Role::Admin
                } else {
                    match roles.get(project) {
                        Some(r) => *r,
                        None => return Err(Denied::NoProject),
                    }
                };
                let needed = match access {
                    // Spans come from keys: a browser session never sends OTLP.
                    Access::Ingest => return forbidden("a signed-in user"),
                    Access::Read => Role::Viewer,
                    Access::Write => Role::Member,
                    Access::Manage => Role::Admin,
                };
                if role >= needed {
                    Ok(())
                } else {
                    forbidden(&format!("the {role:?} role").to_lowercase())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: KeyScope) -> Principal {
        Principal::Key {
            id: "i".into(),
            prefix: "sg_x_i".into(),
            project: "a".into(),
            scope,
        }
    }

    fn user(admin: bool, roles: &[(&str, Role)]) -> Principal {
        Principal::User {
            id: "u".into(),
            username: "u".into(),
            admin,
            roles: roles.iter().map(|(p, r)| (p.to_string(), *r)).collect(),
            csrf: String::new(),
        }
    }

    #[test]
    fn key_scopes() {
        use Access::*;
        let ingest = key(KeyScope::Ingest);
        assert!(ingest.check("a", Ingest, true).is_ok());
        for a in [Read, Write, Manage] {
            assert!(matches!(
                ingest.check("a", a, true),
                Err(Denied::Forbidden(_))
            ));
        }
        let read = key(KeyScope::Read);
        assert!(read.check("a", Read, true).is_ok());
        for a in [Ingest, Write, Manage] {
            assert!(matches!(
                read.check("a", a, true),
                Err(Denied::Forbidden(_))
            ));
        }
        let admin = key(KeyScope::Admin);
        for a in [Ingest, Read, Write, Manage] {
            assert!(admin.check("a", a, true).is_ok());
        }
        // Another project is not there, whatever the scope.
        assert_eq!(admin.check("b", Read, true), Err(Denied::NoProject));
        assert_eq!(admin.check("a", Read, false), Err(Denied::NoProject));
    }

    #[test]
    fn user_roles() {
        use Access::*;
        let viewer = user(false, &[("a", Role::Viewer)]);
        assert!(viewer.check("a", Read, true).is_ok());
        assert!(matches!(
            viewer.check("a", Write, true),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(viewer.check("b", Read, true), Err(Denied::NoProject));
        let member = user(false, &[("a", Role::Member)]);
        assert!(member.check("a", Write, true).is_ok());
        assert!(member.check("a", Manage, true).is_err());
        let admin = user(false, &[("a", Role::Admin)]);
        assert!(admin.check("a", Manage, true).is_ok());
        assert!(matches!(
            admin.check("a", Ingest, true),
            Err(Denied::Forbidden(_))
        ));
        let server_admin = user(true, &[]);
        assert!(server_admin.check("b", Manage, true).is_ok());
        assert_eq!(server_admin.check("b", Read, false), Err(Denied::NoProject));
        assert!(server_admin.is_server_admin() && !admin.is_server_admin());
    }

    #[test]
    fn default_projects() {
        assert_eq!(
            user(false, &[("b", Role::Viewer), ("c", Role::Admin)])
                .default_project()
                .as_deref(),
            Some("b")
        );
        assert_eq!(user(false, &[]).default_project(), None);
        assert_eq!(
            user(true, &[]).default_project().as_deref(),
            Some(DEFAULT_PROJECT)
        );
        assert_eq!(
            Principal::Local.check("other", Access::Read, true),
            Err(Denied::NoProject)
        );
    }
}
