//! The records in memory, and every change to them (written to the store first).

use crate::credentials::{self, Credentials};
use crate::limit::{Limiter, retry_after_secs};
use crate::principal::{Access, DEFAULT_PROJECT, Principal};
use crate::secret;
use crate::{AuthConfig, AuthError, Result};
use spyglass_model::auth::{
    ApiKeyRecord, AuthKind, AuthRecord, KeyScope, Project, Role, SessionRecord, UserRecord,
    valid_project_id,
};
use spyglass_store::Store;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

pub struct Directory {
    store: Arc<dyn Store>,
    secured: bool,
    config: AuthConfig,
    state: RwLock<Snapshot>,
    /// One change at a time, so the store and the snapshot change in the same order.
    changes: tokio::sync::Mutex<()>,
    requests: Limiter,
    logins: Limiter,
}

#[derive(Default)]
struct Snapshot {
    projects: BTreeMap<String, Project>,
    keys: HashMap<String, ApiKeyRecord>,
    users: BTreeMap<String, UserRecord>,
    sessions: HashMap<String, SessionRecord>,
}

impl Snapshot {
    fn apply(&mut self, r: AuthRecord) {
        match r {
            AuthRecord::Project(p) => {
                self.projects.insert(p.id.clone(), p);
            }
            AuthRecord::Key(k) => {
                self.keys.insert(k.id.clone(), k);
            }
            AuthRecord::User(u) => {
                self.users.insert(u.id.clone(), u);
            }
            AuthRecord::Session(s) => {
                self.sessions.insert(s.id.clone(), s);
            }
        }
    }

    fn remove(&mut self, kind: AuthKind, id: &str) {
        match kind {
            AuthKind::Project => drop(self.projects.remove(id)),
            AuthKind::Key => drop(self.keys.remove(id)),
            AuthKind::User => drop(self.users.remove(id)),
            AuthKind::Session => drop(self.sessions.remove(id)),
        }
    }

    fn user_by_name(&self, username: &str) -> Option<&UserRecord> {
        self.users.values().find(|u| u.username == username)
    }
}

/// A user to create.
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub admin: bool,
    pub roles: BTreeMap<String, Role>,
}

/// What to change of a user; `None` keeps it.
#[derive(Default)]
pub struct UserChange {
    pub password: Option<String>,
    pub admin: Option<bool>,
    pub roles: Option<BTreeMap<String, Role>>,
}

/// A signed-in session: the cookie's value (shown once) and the record.
pub struct SignedIn {
    pub token: String,
    pub session: SessionRecord,
    pub user: UserRecord,
}

const MIN_PASSWORD_LEN: usize = 12;

impl Directory {
    /// Loads the records. Authentication is on when the config says so or any key or user
    /// exists; then, if there is no user yet, the first admin is created.
    pub async fn open(
        store: Arc<dyn Store>,
        config: AuthConfig,
        data_dir: &Path,
    ) -> Result<Arc<Directory>> {
        Self::open_with(store, config, Some(data_dir)).await
    }

    /// [`Directory::open`] for a process that only checks credentials against records another
    /// process manages (the scale-out ingest and processor roles): it never creates the default
    /// project or the first admin, so processes starting together cannot each make one.
    pub async fn open_follower(
        store: Arc<dyn Store>,
        config: AuthConfig,
    ) -> Result<Arc<Directory>> {
        Self::open_with(store, config, None).await
    }

    async fn open_with(
        store: Arc<dyn Store>,
        config: AuthConfig,
        data_dir: Option<&Path>,
    ) -> Result<Arc<Directory>> {
        let mut snapshot = Snapshot::default();
        for r in store.auth_records().await? {
            snapshot.apply(r);
        }
        let secured = config.enabled || !snapshot.keys.is_empty() || !snapshot.users.is_empty();
        let dir = Arc::new(Directory {
            store,
            secured,
            requests: Limiter::new(config.rate_limit_per_second, config.rate_limit_burst),
            logins: Limiter::new(
                f64::from(config.logins_per_minute) / 60.0,
                config.logins_per_minute,
            ),
            config,
            state: RwLock::new(snapshot),
            changes: tokio::sync::Mutex::new(()),
        });
        let Some(data_dir) = data_dir else {
            return Ok(dir);
        };
        if !dir.read().projects.contains_key(DEFAULT_PROJECT) {
            dir.put(AuthRecord::Project(Project {
                id: DEFAULT_PROJECT.into(),
                name: "Default".into(),
                created_ns: spyglass_model::now_ns(),
            }))
            .await?;
        }
        if secured && dir.read().users.is_empty() {
            dir.create_first_admin(data_dir).await?;
        }
        Ok(dir)
    }

    /// Reads every record again, taking in what other processes changed (the scale-out
    /// roles share the store): keys created or revoked, accounts, sessions.
    pub async fn refresh(&self) -> Result<()> {
        let _g = self.changes.lock().await;
        let mut snapshot = Snapshot::default();
        for r in self.store.auth_records().await? {
            snapshot.apply(r);
        }
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
        Ok(())
    }

    async fn create_first_admin(&self, data_dir: &Path) -> Result<()> {
        let generated = self.config.admin_password.is_empty();
        let password = if generated {
            secret::random_base62(24)
        } else {
            self.config.admin_password.clone()
        };
        self.create_user(NewUser {
            username: self.config.admin_username.clone(),
            password: password.clone(),
            admin: true,
            roles: BTreeMap::new(),
        })
        .await?;
        if generated {
            let path = data_dir.join("initial-admin-password");
            write_private(&path, &format!("{password}\n"))
                .map_err(|e| AuthError::Invalid(format!("writing {}: {e}", path.display())))?;
            tracing::warn!(
                username = %self.config.admin_username,
                file = %path.display(),
                "created the first admin; its generated password is in this file (delete the file after signing in and changing it)"
            );
        } else {
            tracing::info!(username = %self.config.admin_username, "created the first admin from [auth] admin_password");
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn put(&self, record: AuthRecord) -> Result<()> {
        self.store.put_auth_record(&record).await?;
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(record);
        Ok(())
    }

    async fn remove(&self, kind: AuthKind, id: &str) -> Result<()> {
        self.store.delete_auth_record(kind, id).await?;
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(kind, id);
        Ok(())
    }

    /// Whether keys and sign-in are required (otherwise: single-project local mode).
    pub fn secured(&self) -> bool {
        self.secured
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Who the request is: `Ok(None)` when it carries no credentials. Local mode answers
    /// [`Principal::Local`] for every request.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<Principal>> {
        if !self.secured {
            return Ok(Some(Principal::Local));
        }
        match credentials::from_headers(headers) {
            Credentials::None => Ok(None),
            Credentials::Key(key) => self.key_principal(key).map(Some),
            Credentials::Session(token) => self.session_principal(token).map(Some),
        }
    }

    fn key_principal(&self, key: &str) -> Result<Principal> {
        let (scope, id) = secret::parse_key(key).ok_or(AuthError::InvalidKey)?;
        let s = self.read();
        let rec = s.keys.get(id).ok_or(AuthError::InvalidKey)?;
        if rec.revoked_ns.is_some()
            || rec.scope != scope
            || !secret::same(&secret::key_hash(&rec.salt, key), &rec.hash)
        {
            return Err(AuthError::InvalidKey);
        }
        Ok(Principal::Key {
            id: rec.id.clone(),
            prefix: rec.prefix.clone(),
            project: rec.project_id.as_str().into(),
            scope: rec.scope,
        })
    }

    fn session_principal(&self, token: &str) -> Result<Principal> {
        let s = self.read();
        let session = s
            .sessions
            .get(&secret::session_id(token))
            .filter(|x| x.expires_ns > spyglass_model::now_ns())
            .ok_or(AuthError::InvalidSession)?;
        let user = s
            .users
            .get(&session.user_id)
            .ok_or(AuthError::InvalidSession)?;
        Ok(Principal::user(user, &session.csrf))
    }

    /// Takes a token from the principal's rate-limit bucket.
    pub fn rate_limit(&self, p: &Principal) -> Result<()> {
        let who = match p {
            Principal::Local => return Ok(()),
            Principal::Key { id, .. } => format!("key:{id}"),
            Principal::User { id, .. } => format!("user:{id}"),
        };
        self.requests
            .take(&who)
            .map_err(|wait| AuthError::RateLimited {
                retry_after_s: retry_after_secs(wait),
            })
    }

    pub fn project_exists(&self, id: &str) -> bool {
        self.read().projects.contains_key(id)
    }

    /// Checks `access` to `project` (the principal's default when `None`) and answers the
    /// project's id.
    pub fn authorize(
        &self,
        p: &Principal,
        project: Option<&str>,
        access: Access,
    ) -> Result<Arc<str>> {
        let project: Arc<str> = match project {
            Some(p) => p.into(),
            None => p
                .default_project()
                .ok_or_else(|| AuthError::Forbidden("you have no role in any project".into()))?,
        };
        p.check(&project, access, self.project_exists(&project))
            .map_err(|d| AuthError::denied(d, &project))?;
        Ok(project)
    }

    /// The project an OTLP request's spans belong to, from its key.
    pub fn authorize_ingest(&self, headers: &http::HeaderMap) -> Result<Arc<str>> {
        let p = self
            .authenticate(headers)?
            .ok_or(AuthError::Unauthenticated)?;
        let project = self.authorize(&p, None, Access::Ingest)?;
        self.rate_limit(&p)?;
        Ok(project)
    }

    // Projects.

    /// The projects the principal can see, with its role in each.
    pub fn projects(&self, p: &Principal) -> Vec<(Project, Role)> {
        let s = self.read();
        s.projects
            .values()
            .filter_map(|proj| {
                let role = match p {
                    Principal::Local => (proj.id == DEFAULT_PROJECT).then_some(Role::Admin),
                    Principal::Key { project, scope, .. } => {
                        (**project == *proj.id).then_some(match scope {
                            KeyScope::Admin => Role::Admin,
                            _ => Role::Viewer,
                        })
                    }
                    Principal::User { admin: true, .. } => Some(Role::Admin),
                    Principal::User { roles, .. } => roles.get(&proj.id).copied(),
                }?;
                Some((proj.clone(), role))
            })
            .collect()
    }

    pub async fn create_project(&self, id: &str, name: &str) -> Result<Project> {
        self.require_secured()?;
        if !valid_project_id(id) {
            return Err(AuthError::Invalid(format!(
                "project id {id:?}: use 1 to 64 lowercase letters, digits and '-'"
            )));
        }
        let _g = self.changes.lock().await;
        if self.project_exists(id) {
            return Err(AuthError::Conflict(format!("project {id} exists")));
        }
        let p = Project {
            id: id.into(),
            name: if name.trim().is_empty() {
                id
            } else {
                name.trim()
            }
            .into(),
            created_ns: spyglass_model::now_ns(),
        };
        self.put(AuthRecord::Project(p.clone())).await?;
        Ok(p)
    }

    /// Deletes a project: its keys stop working, roles in it are dropped, and every stored
    /// span, finding, rollup and alert event of it is deleted.
    pub async fn delete_project(&self, id: &str) -> Result<spyglass_store::RetentionReport> {
        self.require_secured()?;
        if id == DEFAULT_PROJECT {
            return Err(AuthError::Invalid(
                "the default project cannot be deleted".into(),
            ));
        }
        let _g = self.changes.lock().await;
        if !self.project_exists(id) {
            return Err(AuthError::NotFound(format!("project {id}")));
        }
        let (keys, users): (Vec<_>, Vec<_>) = {
            let s = self.read();
            (
                s.keys
                    .values()
                    .filter(|k| k.project_id == id)
                    .map(|k| k.id.clone())
                    .collect(),
                s.users
                    .values()
                    .filter(|u| u.roles.contains_key(id))
                    .cloned()
                    .collect(),
            )
        };
        for k in keys {
            self.remove(AuthKind::Key, &k).await?;
        }
        for mut u in users {
            u.roles.remove(id);
            self.put(AuthRecord::User(u)).await?;
        }
        self.remove(AuthKind::Project, id).await?;
        Ok(self.store.apply_retention(id, i64::MAX).await?)
    }

    // Keys.

    pub fn keys(&self, project: &str) -> Vec<ApiKeyRecord> {
        let mut keys: Vec<_> = self
            .read()
            .keys
            .values()
            .filter(|k| k.project_id == project)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (b.created_ns, &b.id).cmp(&(a.created_ns, &a.id)));
        keys
    }

    /// A new key; the key itself is in the answer and nowhere else.
    pub async fn create_key(
        &self,
        project: &str,
        name: &str,
        scope: KeyScope,
        created_by: &str,
    ) -> Result<(ApiKeyRecord, String)> {
        self.require_secured()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AuthError::Invalid(
                "a key needs a name of 1 to 200 characters".into(),
            ));
        }
        let _g = self.changes.lock().await;
        if !self.project_exists(project) {
            return Err(AuthError::NotFound(format!("project {project}")));
        }
        let new = secret::new_key(scope);
        let rec = ApiKeyRecord {
            id: new.id,
            project_id: project.into(),
            name: name.into(),
            scope,
            prefix: new.prefix,
            salt: new.salt,
            hash: new.hash,
            created_ns: spyglass_model::now_ns(),
            created_by: created_by.into(),
            revoked_ns: None,
        };
        self.put(AuthRecord::Key(rec.clone())).await?;
        Ok((rec, new.key))
    }

    /// Revokes a key of the project; it stops working on the next request.
    pub async fn revoke_key(&self, project: &str, id: &str) -> Result<ApiKeyRecord> {
        self.require_secured()?;
        let _g = self.changes.lock().await;
        let mut rec = self
            .read()
            .keys
            .get(id)
            .filter(|k| k.project_id == project)
            .cloned()
            .ok_or_else(|| AuthError::NotFound(format!("key {id}")))?;
        if rec.revoked_ns.is_none() {
            rec.revoked_ns = Some(spyglass_model::now_ns());
            self.put(AuthRecord::Key(rec.clone())).await?;
        }
        Ok(rec)
    }

    // Users and sessions.

    pub fn users(&self) -> Vec<UserRecord> {
        let mut users: Vec<_> = self.read().users.values().cloned().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users
    }

    pub fn user(&self, id: &str) -> Option<UserRecord> {
        self.read().users.get(id).cloned()
    }

    fn check_roles(&self, roles: &BTreeMap<String, Role>) -> Result<()> {
        match roles.keys().find(|p| !self.project_exists(p)) {
            Some(p) => Err(AuthError::Invalid(format!("project {p} does not exist"))),
            None => Ok(()),
        }
    }

    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord> {
        self.require_secured()?;
        let username = new.username.trim();
        if username.is_empty()
            || username.len() > 200
            || username
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(AuthError::Invalid(
                "a username is 1 to 200 characters without spaces".into(),
            ));
        }
        check_password(&new.password)?;
        self.check_roles(&new.roles)?;
        let hash = hash_password(new.password).await?;
        let _g = self.changes.lock().await;
        if self.read().user_by_name(username).is_some() {
            return Err(AuthError::Conflict(format!("user {username} exists")));
        }
        let user = UserRecord {
            id: secret::random_base62(12),
            username: username.into(),
            password_hash: hash,
            admin: new.admin,
            roles: new.roles,
            created_ns: spyglass_model::now_ns(),
        };
        self.put(AuthRecord::User(user.clone())).await?;
        Ok(user)
    }

    /// Changes a user. A new password signs out the user's other sessions.
    pub async fn update_user(
        &self,
        id: &str,
        change: UserChange,
        keep_session: Option<&str>,
    ) -> Result<UserRecord> {
        if let Some(roles) = &change.roles {
            self.check_roles(roles)?;
        }
        let hash = match change.password {
            Some(p) => {
                check_password(&p)?;
                Some(hash_password(p).await?)
            }
            None => None,
        };
        let _g = self.changes.lock().await;
        let mut user = self
            .user(id)
            .ok_or_else(|| AuthError::NotFound(format!("user {id}")))?;
        if change.admin == Some(false) && user.admin && self.admins() == 1 {
            return Err(AuthError::Conflict(
                "the last server admin stays an admin".into(),
            ));
        }
        if let Some(a) = change.admin {
            user.admin = a;
        }
        if let Some(r) = change.roles {
            user.roles = r;
        }
        let new_password = hash.is_some();
        if let Some(h) = hash {
            user.password_hash = h;
        }
        self.put(AuthRecord::User(user.clone())).await?;
        if new_password {
            self.end_sessions(id, keep_session).await?;
        }
        Ok(user)
    }

    fn admins(&self) -> usize {
        self.read().users.values().filter(|u| u.admin).count()
    }

    pub async fn delete_user(&self, id: &str) -> Result<()> {
        let _g = self.changes.lock().await;
        let user = self
            .user(id)
            .ok_or_else(|| AuthError::NotFound(format!("user {id}")))?;
        if user.admin && self.admins() == 1 {
            return Err(AuthError::Conflict(
                "the last server admin cannot be deleted".into(),
            ));
        }
        self.end_sessions(id, None).await?;
        self.remove(AuthKind::User, id).await
    }

    async fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<()> {
        let ids: Vec<String> = self
            .read()
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && Some(s.id.as_str()) != keep)
            .map(|s| s.id.clone())
            .collect();
        for id in ids {
            self.remove(AuthKind::Session, &id).await?;
        }
        Ok(())
    }

    /// Checks a password and starts a session. Sign-ins are rate limited per username.
    pub async fn login(&self, username: &str, password: &str) -> Result<SignedIn> {
        self.require_secured()?;
        self.logins
            .take(&format!("login:{username}"))
            .map_err(|wait| AuthError::RateLimited {
                retry_after_s: retry_after_secs(wait),
            })?;
        let user = self.read().user_by_name(username).cloned();
        let ok = verify_password(password, user.as_ref()).await;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => return Err(AuthError::BadLogin),
        };
        let (token, id) = secret::new_session_token();
        let now = spyglass_model::now_ns();
        let hours = self.config.session_hours.max(1) as i64;
        let session = SessionRecord {
            id,
            user_id: user.id.clone(),
            csrf: secret::random_hex(16),
            created_ns: now,
            expires_ns: now.saturating_add(hours * 3_600_000_000_000),
        };
        let _g = self.changes.lock().await;
        self.drop_expired_sessions(now).await?;
        self.put(AuthRecord::Session(session.clone())).await?;
        Ok(SignedIn {
            token,
            session,
            user,
        })
    }

    async fn drop_expired_sessions(&self, now: i64) -> Result<()> {
        let expired: Vec<String> = self
            .read()
            .sessions
            .values()
            .filter(|s| s.expires_ns <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            self.remove(AuthKind::Session, &id).await?;
        }
        Ok(())
    }

    /// Ends the session whose cookie this is.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let _g = self.changes.lock().await;
        let id = secret::session_id(token);
        if self.read().sessions.contains_key(&id) {
            self.remove(AuthKind::Session, &id).await?;
        }
        Ok(())
    }

    /// Checks the password of user `id` (off the async threads: argon2 takes tens of ms).
    pub async fn check_password(&self, id: &str, password: &str) -> Result<()> {
        let user = self.user(id).ok_or(AuthError::InvalidSession)?;
        if verify_password(password, Some(&user)).await {
            Ok(())
        } else {
            Err(AuthError::BadLogin)
        }
    }

    fn require_secured(&self) -> Result<()> {
        if self.secured {
            Ok(())
        } else {
            Err(AuthError::Disabled)
        }
    }
}

fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSWORD_LEN || p.len() > 1024 {
        return Err(AuthError::Invalid(format!(
            "a password has {MIN_PASSWORD_LEN} to 1024 characters"
        )));
    }
    Ok(())
}

/// Verifies against the user's hash, or a decoy when there is no such user, so a wrong
/// username takes as long as a wrong password.
async fn verify_password(password: &str, user: Option<&UserRecord>) -> bool {
    let phc = user.map_or_else(
        || secret::decoy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let password = password.to_string();
    tokio::task::spawn_blocking(move || secret::verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

async fn hash_password(p: String) -> Result<String> {
    tokio::task::spawn_blocking(move || secret::hash_password(&p))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .map_err(AuthError::Hash)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_store::duckdb::DuckDbStore;

    async fn open(enabled: bool) -> (Arc<Directory>, Arc<dyn Store>, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(DuckDbStore::open(tmp.path(), &Default::default()).unwrap());
        let cfg = AuthConfig {
            enabled,
            admin_password: if enabled {
                "first-admin-pass".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        let dir = Directory::open(store.clone(), cfg, tmp.path())
            .await
            .unwrap();
        (dir, store, tmp)
    }

    fn bearer(key: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {key}").parse().unwrap());
        h
    }

    #[tokio::test]
    async fn local_mode_accepts_everything_for_the_default_project_and_manages_nothing() {
        let (dir, _s, _t) = open(false).await;
        assert!(!dir.secured());
        assert_eq!(
            dir.authenticate(&http::HeaderMap::new()).unwrap(),
            Some(Principal::Local)
        );
        assert_eq!(
            &*dir.authorize_ingest(&http::HeaderMap::new()).unwrap(),
            "default"
        );
        assert!(matches!(
            dir.create_key("default", "k", KeyScope::Ingest, "local")
                .await,
            Err(AuthError::Disabled)
        ));
    }

    #[tokio::test]
    async fn keys_map_to_their_project_and_stop_at_once_when_revoked() {
        let (dir, store, tmp) = open(true).await;
        dir.create_project("acme", "Acme").await.unwrap();
        let (rec, key) = dir
            .create_key("acme", "ci", KeyScope::Ingest, "admin")
            .await
            .unwrap();
        assert!(!rec.hash.contains(&key) && !rec.salt.is_empty());
        assert_eq!(&*dir.authorize_ingest(&bearer(&key)).unwrap(), "acme");
        // The stored record has no key in it.
        let stored = format!("{:?}", store.auth_records().await.unwrap());
        assert!(!stored.contains(&key));
        assert!(stored.contains(&rec.prefix));

        dir.revoke_key("acme", &rec.id).await.unwrap();
        assert!(matches!(
            dir.authorize_ingest(&bearer(&key)),
            Err(AuthError::InvalidKey)
        ));
        // A revoked key stays revoked after a restart.
        let again = Directory::open(store.clone(), dir.config().clone(), tmp.path())
            .await
            .unwrap();
        assert!(matches!(
            again.authorize_ingest(&bearer(&key)),
            Err(AuthError::InvalidKey)
        ));
        // A key of another project cannot be revoked through this one.
        let (other, _) = again
            .create_key("default", "x", KeyScope::Read, "admin")
            .await
            .unwrap();
        assert!(matches!(
            again.revoke_key("acme", &other.id).await,
            Err(AuthError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn wrong_keys_and_scopes() {
        let (dir, _s, _t) = open(true).await;
        let (_, read) = dir
            .create_key("default", "r", KeyScope::Read, "admin")
            .await
            .unwrap();
        assert!(matches!(
            dir.authorize_ingest(&bearer(&read)),
            Err(AuthError::Forbidden(_))
        ));
        assert!(matches!(
            dir.authorize_ingest(&http::HeaderMap::new()),
            Err(AuthError::Unauthenticated)
        ));
        let mut forged = read.clone();
        forged.replace_range(read.len() - 3.., "zzz");
        assert!(matches!(
            dir.authorize_ingest(&bearer(&forged)),
            Err(AuthError::InvalidKey)
        ));
        // The same id under another scope is not the key.
        let as_ingest = read.replacen("sg_read_", "sg_ingest_", 1);
        assert!(matches!(
            dir.authorize_ingest(&bearer(&as_ingest)),
            Err(AuthError::InvalidKey)
        ));
    }

    #[tokio::test]
    async fn first_admin_signs_in_and_sessions_end() {
        let (dir, _s, _t) = open(true).await;
        assert!(matches!(
            dir.login("admin", "wrong-password!").await,
            Err(AuthError::BadLogin)
        ));
        assert!(matches!(
            dir.login("nobody", "first-admin-pass").await,
            Err(AuthError::BadLogin)
        ));
        let s = dir.login("admin", "first-admin-pass").await.unwrap();
        let mut h = http::HeaderMap::new();
        h.insert(
            "cookie",
            format!("spyglass_session={}", s.token).parse().unwrap(),
        );
        let p = dir.authenticate(&h).unwrap().unwrap();
        assert!(p.is_server_admin());
        dir.logout(&s.token).await.unwrap();
        assert!(matches!(
            dir.authenticate(&h),
            Err(AuthError::InvalidSession)
        ));
    }

    #[tokio::test]
    async fn users_roles_and_the_last_admin() {
        let (dir, _s, _t) = open(true).await;
        dir.create_project("a", "").await.unwrap();
        let short = dir
            .create_user(NewUser {
                username: "v".into(),
                password: "short".into(),
                admin: false,
                roles: BTreeMap::new(),
            })
            .await;
        assert!(matches!(short, Err(AuthError::Invalid(_))));
        let v = dir
            .create_user(NewUser {
                username: "v".into(),
                password: "viewer-password".into(),
                admin: false,
                roles: [("a".to_string(), Role::Viewer)].into(),
            })
            .await
            .unwrap();
        let s = dir.login("v", "viewer-password").await.unwrap();
        let mut h = http::HeaderMap::new();
        h.insert(
            "cookie",
            format!("spyglass_session={}", s.token).parse().unwrap(),
        );
        let p = dir.authenticate(&h).unwrap().unwrap();
        assert_eq!(&*dir.authorize(&p, None, Access::Read).unwrap(), "a");
        assert!(matches!(
            dir.authorize(&p, None, Access::Manage),
            Err(AuthError::Forbidden(_))
        ));
        assert!(matches!(
            dir.authorize(&p, Some("default"), Access::Read),
            Err(AuthError::NotFound(_))
        ));
        // A new password signs the user out.
        dir.update_user(
            &v.id,
            UserChange {
                password: Some("another-password".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
        assert!(dir.authenticate(&h).is_err());

        let admin = dir.users().into_iter().find(|u| u.admin).unwrap();
        assert!(matches!(
            dir.delete_user(&admin.id).await,
            Err(AuthError::Conflict(_))
        ));
        // Deleting the project drops the role.
        dir.delete_project("a").await.unwrap();
        assert!(dir.user(&v.id).unwrap().roles.is_empty());
    }
}
