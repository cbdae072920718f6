//! Archives: `GET /api/v1/export` streams a project's spans of a time range as a tar of
//! Parquet or JSON-lines files (a day per partition); `POST /api/v1/import` loads one archive
//! file, OTLP/JSON file or trace export back.

use crate::access::{Read, Write};
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::parse_time;
use crate::routes::lifecycle::audit;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use spyglass_archive::{ArchiveConfig, ImportReport, ImportSink};
use spyglass_store::archive::ArchiveFormat;
use std::path::PathBuf;
use std::sync::Arc;

/// What the archive routes need besides the store.
pub struct ArchiveState {
    pub config: ArchiveConfig,
    /// Where exports are staged and Parquet bodies wait while they are read.
    pub staging_root: PathBuf,
    pub sink: Arc<dyn ImportSink>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Spans that started at or after this (Unix ns, RFC 3339, or a duration back like `7d`).
    from: String,
    /// ... and before this; default now.
    to: Option<String>,
    /// `parquet` (default) or `jsonl`.
    format: Option<String>,
}

/// Most days one export request covers.
const MAX_EXPORT_DAYS: usize = 3_660;

#[utoipa::path(get, path = "/api/v1/export", tag = "lifecycle", params(ExportParams),
    responses((status = 200, description = "a tar of `project=<id>/day=<YYYY-MM-DD>/spans-<uuid>.<ext>` files; \
        `X-Spyglass-Export-Days` says how many days it covers", content_type = "application/x-tar"),
        (status = 400, body = ErrorBody)))]
pub async fn export(Read(st): Read, ApiQuery(p): ApiQuery<ExportParams>) -> ApiResult<Response> {
    let from = parse_time("from", &p.from)?;
    let to = match p.to.as_deref() {
        Some(v) => parse_time("to", v)?,
        None => spyglass_model::now_ns(),
    };
    if to <= from {
        return Err(ApiError::BadRequest("to must be after from".into()));
    }
    let format = match p.format.as_deref() {
        None => ArchiveFormat::Parquet,
        Some(f) => ArchiveFormat::parse(f)
            .ok_or_else(|| ApiError::BadRequest(format!("format {f:?}: use parquet or jsonl")))?,
    };
    let days = spyglass_archive::day_slices(from, to).len();
    if days > MAX_EXPORT_DAYS {
        return Err(ApiError::BadRequest(format!(
            "{days} days in one export; at most {MAX_EXPORT_DAYS}"
        )));
    }
    audit(
        &st,
        "export",
        format!(
            "{} to {}",
            crate::params::rfc3339(from),
            crate::params::rfc3339(to)
        ),
        serde_json::json!({"from_ns": from, "to_ns": to, "format": format, "days": days}),
    )
    .await;
    let rx = spyglass_archive::export_stream(
        st.store.clone(),
        st.project.to_string(),
        (from, to),
        format,
        st.archive.staging_root.clone(),
    );
    let body = Body::from_stream(tokio_stream_of(rx));
    let name = format!(
        "attachment; filename=\"spyglass-export-{}.tar\"",
        st.project
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (
                header::HeaderName::from_static("x-spyglass-export-days"),
                HeaderValue::from(days),
            ),
        ],
        body,
    )
        .into_response())
}

fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[utoipa::path(post, path = "/api/v1/import", tag = "lifecycle",
    request_body(content = Vec<u8>, description = "a Spyglass archive file (Parquet or JSON lines), an OTLP/JSON file, \
        or a trace export; gzip or not", content_type = "application/octet-stream"),
    responses((status = 200, body = ImportView), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn import(Write(st): Write, body: Body) -> ApiResult<axum::Json<ImportView>> {
    let limit = st.archive.config.max_import_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            ApiError::Archive(spyglass_archive::ArchiveError::TooLarge { limit })
        } else {
            ApiError::BadRequest(format!("reading the body: {e}"))
        }
    })?;
    let report = spyglass_archive::import(
        &bytes,
        &st.project,
        limit,
        &st.archive.staging_root,
        st.archive.sink.as_ref(),
    )
    .await?;
    tracing::info!(
        kind = report.kind.as_str(),
        spans = report.spans,
        findings = report.findings,
        "imported a file"
    );
    audit(
        &st,
        "import",
        format!("{} file of {} bytes", report.kind.as_str(), bytes.len()),
        serde_json::to_value(&report).unwrap_or_default(),
    )
    .await;
    Ok(axum::Json(report.into()))
}

/// What an import loaded.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ImportView {
    /// `parquet`, `archive_jsonl`, `otlp_json` or `trace_export`.
    pub kind: String,
    pub gzip: bool,
    pub spans: u64,
    pub findings: u64,
}

impl From<ImportReport> for ImportView {
    fn from(r: ImportReport) -> Self {
        ImportView {
            kind: r.kind.as_str().into(),
            gzip: r.gzip,
            spans: r.spans,
            findings: r.findings,
        }
    }
}
