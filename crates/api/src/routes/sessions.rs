//! `/api/v1/sessions` and `/api/v1/facets`.

use crate::access::Read;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::parse_time;
use crate::views::{SessionDetailView, SessionPage, SessionView, TraceView};
use axum::Json;
use axum::extract::Path;
use serde::Deserialize;
use spyglass_model::Facets;
use spyglass_model::query::{SessionQuery, decode_session_cursor};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionListParams {
    /// Sessions that started at or after (Unix ns, RFC 3339, or `1h` back from now).
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionListParams),
    responses((status = 200, body = SessionPage), (status = 400, body = ErrorBody)))]
pub async fn list_sessions(
    Read(st): Read,
    ApiQuery(p): ApiQuery<SessionListParams>,
) -> ApiResult<Json<SessionPage>> {
    let q = SessionQuery {
        from_ns: p
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to_ns: p.to.as_deref().map(|v| parse_time("to", v)).transpose()?,
        user: p.user,
        limit: p.limit.unwrap_or(0),
        cursor: p
            .cursor
            .as_deref()
            .map(|c| {
                decode_session_cursor(c).ok_or_else(|| {
                    ApiError::BadRequest("cursor: not a cursor from this API".into())
                })
            })
            .transpose()?,
    };
    let page = st.store.sessions(&st.project, &q).await?;
    Ok(Json(SessionPage {
        items: page.items.into_iter().map(SessionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path)),
    responses((status = 200, body = SessionDetailView), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    Read(st): Read,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionDetailView>> {
    let d = st
        .store
        .session(&st.project, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id:?}")))?;
    Ok(Json(SessionDetailView {
        session: d.session.into(),
        traces: d.traces.into_iter().map(TraceView::from).collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FacetParams {
    /// Count traces starting at or after (Unix ns, RFC 3339, or `1h` back from now).
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/facets", tag = "traces", params(FacetParams),
    responses((status = 200, body = Facets), (status = 400, body = ErrorBody)))]
pub async fn facets(Read(st): Read, ApiQuery(p): ApiQuery<FacetParams>) -> ApiResult<Json<Facets>> {
    let from = p
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to = p.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    Ok(Json(st.store.facets(&st.project, from, to).await?))
}
