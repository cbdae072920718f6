//! Sign-in, projects, API keys and users.

use crate::AppState;
use crate::access::{Manage, ServerAdmin, Signed};
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::routes::lifecycle::record;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spyglass_auth::{AuthError, DEFAULT_PROJECT, NewUser, Principal, SESSION_COOKIE, UserChange};
use spyglass_model::auth::{ApiKeyRecord, KeyScope, Project, Role, UserRecord};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    /// Manages projects and users; admin of every project.
    pub admin: bool,
    /// Role per project id.
    pub roles: BTreeMap<String, Role>,
    pub created_ns: i64,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            admin: u.admin,
            roles: u.roles,
            created_ns: u.created_ns,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    /// The key's first characters, `sg_<scope>_<id>`: enough to recognise it, not to use it.
    pub prefix: String,
    pub name: String,
    pub scope: KeyScope,
    pub project_id: String,
    pub created_ns: i64,
    pub created_by: String,
    pub revoked_ns: Option<i64>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> Self {
        KeyView {
            id: k.id,
            prefix: k.prefix,
            name: k.name,
            scope: k.scope,
            project_id: k.project_id,
            created_ns: k.created_ns,
            created_by: k.created_by,
            revoked_ns: k.revoked_ns,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key. Shown this once: only its salted hash is stored.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub created_ns: i64,
    /// The caller's role in it.
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    /// `local`: no keys or users, every request is the local admin of project `default`.
    /// `secured`: keys and sign-in are required.
    pub mode: &'static str,
    /// `local`, `key` or `user`.
    pub kind: &'static str,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub key_prefix: Option<String>,
    pub key_scope: Option<KeyScope>,
    /// A server admin (manages projects and users).
    pub admin: bool,
    pub projects: Vec<ProjectView>,
    /// Send it back in `X-CSRF-Token` on requests that change something (sessions only).
    pub csrf_token: Option<String>,
}

fn me_view(st: &AppState, p: &Principal) -> MeView {
    let projects = st
        .auth
        .projects(p)
        .into_iter()
        .map(|(proj, role)| view_project(proj, role))
        .collect();
    let mode = if st.auth.secured() {
        "secured"
    } else {
        "local"
    };
    let base = MeView {
        mode,
        kind: "local",
        username: None,
        user_id: None,
        key_prefix: None,
        key_scope: None,
        admin: p.is_server_admin(),
        projects,
        csrf_token: None,
    };
    match p {
        Principal::Local => base,
        Principal::Key { prefix, scope, .. } => MeView {
            kind: "key",
            key_prefix: Some(prefix.clone()),
            key_scope: Some(*scope),
            ..base
        },
        Principal::User {
            id, username, csrf, ..
        } => MeView {
            kind: "user",
            username: Some(username.clone()),
            user_id: Some(id.clone()),
            csrf_token: Some(csrf.clone()),
            ..base
        },
    }
}

fn view_project(p: Project, role: Role) -> ProjectView {
    ProjectView {
        id: p.id,
        name: p.name,
        created_ns: p.created_ns,
        role,
    }
}

fn cookie(st: &AppState, value: &str, max_age_s: u64) -> HeaderValue {
    let secure = if st.auth.config().secure_cookie.unwrap_or(false) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Signed in: the session cookie is set (HttpOnly, SameSite=Strict)", body = MeView),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Too many sign-ins for this username; Retry-After says when", body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let signed = match st.auth.login(&req.username, &req.password).await {
        Ok(s) => s,
        Err(e) => {
            if matches!(e, AuthError::BadLogin) {
                tracing::warn!(username = %req.username, "failed sign-in");
            }
            return Err(e.into());
        }
    };
    tracing::info!(username = %signed.user.username, "signed in");
    let p = Principal::user(&signed.user, &signed.session.csrf);
    let max_age = (signed.session.expires_ns - signed.session.created_ns) / 1_000_000_000;
    let mut resp = Json(me_view(&st, &p)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&st, &signed.token, max_age as u64),
    );
    Ok(resp)
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    match spyglass_auth::credentials::from_headers(headers) {
        spyglass_auth::Credentials::Session(t) => Some(t),
        _ => None,
    }
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out: the session ends and its cookie is cleared"),
        (status = 401, body = ErrorBody)))]
pub async fn logout(Signed(st, _): Signed, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_token(&headers) {
        st.auth.logout(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&st, "", 0));
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "Who the caller is, the server's mode, and the projects the caller can open", body = MeView),
        (status = 401, body = ErrorBody)))]
pub async fn me(Signed(st, p): Signed) -> Json<MeView> {
    Json(me_view(&st, &p))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "Changed; the user's other sessions are signed out"),
        (status = 401, description = "The current password is wrong", body = ErrorBody),
        (status = 403, description = "Not a signed-in user", body = ErrorBody)))]
pub async fn change_password(
    Signed(st, p): Signed,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let Principal::User { id, username, .. } = &*p else {
        return Err(AuthError::Forbidden("only a signed-in user has a password".into()).into());
    };
    st.auth.check_password(id, &req.current_password).await?;
    let keep = session_token(&headers).map(spyglass_auth::secret::session_id);
    st.auth
        .update_user(
            id,
            UserChange {
                password: Some(req.new_password),
                ..Default::default()
            },
            keep.as_deref(),
        )
        .await?;
    record(
        &st,
        DEFAULT_PROJECT,
        &p,
        "user.password",
        username.clone(),
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

// Projects.

#[utoipa::path(get, path = "/api/v1/projects", tag = "auth",
    responses((status = 200, description = "The projects the caller can open, with its role in each", body = [ProjectView])))]
pub async fn list_projects(Signed(st, p): Signed) -> Json<Vec<ProjectView>> {
    Json(
        st.auth
            .projects(&p)
            .into_iter()
            .map(|(proj, role)| view_project(proj, role))
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// 1 to 64 lowercase letters, digits and `-`.
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "auth", request_body = NewProject,
    responses((status = 201, body = ProjectView), (status = 400, body = ErrorBody),
        (status = 403, description = "Not a server admin", body = ErrorBody),
        (status = 409, description = "Exists, or authentication is off", body = ErrorBody)))]
pub async fn create_project(
    ServerAdmin(st, p): ServerAdmin,
    ApiJson(req): ApiJson<NewProject>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    let proj = st.auth.create_project(&req.id, &req.name).await?;
    record(
        &st,
        &proj.id,
        &p,
        "project.create",
        proj.id.clone(),
        serde_json::json!({"name": proj.name}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view_project(proj, Role::Admin))))
}

#[derive(Serialize, ToSchema)]
pub struct ProjectDeleted {
    pub traces: u64,
    pub spans: u64,
}

#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "auth",
    params(("id" = String, Path)),
    responses((status = 200, description = "Deleted with every span, finding, rollup and key of it", body = ProjectDeleted),
        (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_project(
    ServerAdmin(st, p): ServerAdmin,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectDeleted>> {
    let report = st.auth.delete_project(&id).await?;
    let out = ProjectDeleted {
        traces: report.traces,
        spans: report.spans,
    };
    tracing::info!(project = %id, traces = out.traces, spans = out.spans, "project deleted");
    record(
        &st,
        DEFAULT_PROJECT,
        &p,
        "project.delete",
        id,
        serde_json::json!({"traces": out.traces, "spans": out.spans}),
    )
    .await;
    Ok(Json(out))
}

// Keys.

#[utoipa::path(get, path = "/api/v1/keys", tag = "auth",
    responses((status = 200, description = "The project's keys by prefix, newest first, revoked ones included", body = [KeyView]),
        (status = 403, description = "Not an admin of the project", body = ErrorBody)))]
pub async fn list_keys(Manage(st): Manage) -> Json<Vec<KeyView>> {
    Json(
        st.auth
            .keys(&st.project)
            .into_iter()
            .map(KeyView::from)
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// ingest (send spans), read (read the API) or admin (manage the project).
    pub scope: KeyScope,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "auth", request_body = NewKey,
    responses((status = 201, description = "The new key, shown once", body = CreatedKey),
        (status = 403, body = ErrorBody), (status = 409, description = "Authentication is off", body = ErrorBody)))]
pub async fn create_key(
    Manage(st): Manage,
    ApiJson(req): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let (rec, key) = st
        .auth
        .create_key(&st.project, &req.name, req.scope, &st.principal.actor())
        .await?;
    tracing::info!(project = %st.project, prefix = %rec.prefix, scope = rec.scope.as_str(), "API key created");
    crate::routes::lifecycle::audit(
        &st,
        "key.create",
        rec.prefix.clone(),
        serde_json::json!({"name": rec.name, "scope": rec.scope}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            info: rec.into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "auth",
    params(("id" = String, Path, description = "The key's id (the part of its prefix after the scope)")),
    responses((status = 200, description = "Revoked; it stops working at once", body = KeyView),
        (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn revoke_key(Manage(st): Manage, Path(id): Path<String>) -> ApiResult<Json<KeyView>> {
    let rec = st.auth.revoke_key(&st.project, &id).await?;
    tracing::info!(project = %st.project, prefix = %rec.prefix, "API key revoked");
    crate::routes::lifecycle::audit(&st, "key.revoke", rec.prefix.clone(), serde_json::json!({}))
        .await;
    Ok(Json(rec.into()))
}

// Users.

#[utoipa::path(get, path = "/api/v1/accounts", tag = "auth",
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list_users(ServerAdmin(st, _): ServerAdmin) -> Json<Vec<UserView>> {
    Json(st.auth.users().into_iter().map(UserView::from).collect())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "auth", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    ServerAdmin(st, p): ServerAdmin,
    ApiJson(req): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let user = st
        .auth
        .create_user(NewUser {
            username: req.username,
            password: req.password,
            admin: req.admin,
            roles: req.roles,
        })
        .await?;
    record(
        &st,
        DEFAULT_PROJECT,
        &p,
        "user.create",
        user.username.clone(),
        serde_json::json!({"admin": user.admin, "roles": user.roles}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub password: Option<String>,
    pub admin: Option<bool>,
    /// Replaces every role.
    pub roles: Option<BTreeMap<String, Role>>,
}

#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "auth", request_body = UserUpdate,
    params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "Would leave no server admin", body = ErrorBody)))]
pub async fn update_user(
    ServerAdmin(st, p): ServerAdmin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> ApiResult<Json<UserView>> {
    let password_changed = req.password.is_some();
    let user = st
        .auth
        .update_user(
            &id,
            UserChange {
                password: req.password,
                admin: req.admin,
                roles: req.roles,
            },
            None,
        )
        .await?;
    record(&st, DEFAULT_PROJECT, &p, "user.update", user.username.clone(), serde_json::json!({"admin": user.admin, "roles": user.roles, "password_changed": password_changed})).await;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/v1/accounts/{id}", tag = "auth",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted and signed out"), (status = 404, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "The last server admin", body = ErrorBody)))]
pub async fn delete_user(
    ServerAdmin(st, p): ServerAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = st.auth.user(&id).map(|u| u.username).unwrap_or_default();
    st.auth.delete_user(&id).await?;
    record(
        &st,
        DEFAULT_PROJECT,
        &p,
        "user.delete",
        name,
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
