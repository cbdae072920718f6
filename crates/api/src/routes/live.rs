//! WebSocket `/api/v1/live`: spans, and the security findings made on them, pushed as soon as
//! they are committed. A slow client never
//! slows ingest: the broadcast drops what it cannot hold and the client is told how much.

use crate::access::Read;
use crate::params::{parse_trace_id, rfc3339};
use crate::routes::findings::FindingView;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use spyglass_model::query::LiveFilter;
use spyglass_model::{Span, SpanOutline};
use spyglass_store::Batch;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

/// Characters of input and output carried by live messages.
const PREVIEW: usize = 300;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LiveParams {
    /// Only spans of this trace.
    trace_id: Option<String>,
    /// Only spans of this session.
    session: Option<String>,
    /// Only spans of this service.
    service: Option<String>,
}

/// A span as the live stream carries it: the outline plus identity and short previews.
#[derive(Serialize, ToSchema)]
pub struct LiveSpan {
    #[serde(flatten)]
    pub span: SpanOutline,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    pub start_time: String,
    pub received_ns: i64,
}

fn preview(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| s.chars().take(PREVIEW).collect())
}

impl From<&Span> for LiveSpan {
    fn from(s: &Span) -> Self {
        LiveSpan {
            span: SpanOutline::from(s),
            session_id: s.session_id.clone(),
            user_id: s.user_id.clone(),
            input_preview: preview(&s.input),
            output_preview: preview(&s.output),
            start_time: rfc3339(s.start_ns),
            received_ns: s.received_ns,
        }
    }
}

/// Messages sent to the client.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// Sent once after connecting.
    Subscribed {
        trace_id: Option<String>,
        session: Option<String>,
        service: Option<String>,
    },
    /// Newly committed spans that match the filter.
    Spans { spans: Vec<LiveSpan> },
    /// Findings on those spans (sent right after them).
    Findings { findings: Vec<FindingView> },
    /// The client fell behind and this many span batches were skipped.
    Dropped { batches: u64, message: String },
}

#[utoipa::path(get, path = "/api/v1/live", tag = "live", params(LiveParams),
    responses((status = 101, description = "WebSocket; messages are LiveMessage JSON", body = LiveMessage),
        (status = 400, body = crate::error::ErrorBody),
        (status = 503, description = "max_live_subscribers reached; Retry-After says when to try again", body = crate::error::ErrorBody)))]
pub async fn live(
    Read(st): Read,
    crate::error::ApiQuery(p): crate::error::ApiQuery<LiveParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, crate::error::ApiError> {
    let filter = LiveFilter {
        trace_id: p.trace_id.as_deref().map(parse_trace_id).transpose()?,
        session: p.session.clone(),
        service: p.service.clone(),
    };
    let slot = subscriber_slot(&st)?;
    let rx = st.live.subscribe();
    let project = st.project.clone();
    let connected = st.metrics.live_subscribers.clone();
    let hello = LiveMessage::Subscribed {
        trace_id: p.trace_id,
        session: p.session,
        service: p.service,
    };
    Ok(ws.on_upgrade(move |socket| async move {
        connected.inc();
        stream(socket, rx, filter, project, hello).await;
        connected.dec();
        drop(slot);
    }))
}

/// One of the `max_live_subscribers` slots that live and log subscribers share; 503 with
/// Retry-After when none is left.
pub(crate) fn subscriber_slot(
    st: &crate::AppState,
) -> Result<tokio::sync::OwnedSemaphorePermit, crate::error::ApiError> {
    st.live_slots.clone().try_acquire_owned().map_err(|_| {
        st.metrics.live_refused.inc();
        crate::error::ApiError::Busy {
            message: "too many live subscribers (max_live_subscribers); try again shortly".into(),
            retry_after_s: 5,
        }
    })
}

/// Sends a message as JSON text; false when the client is gone.
pub(crate) async fn send<T: Serialize>(socket: &mut WebSocket, msg: &T) -> bool {
    let text = serde_json::to_string(msg).expect("messages serialize");
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn stream(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Batch>>,
    filter: LiveFilter,
    project: Arc<str>,
    hello: LiveMessage,
) {
    if !send(&mut socket, &hello).await {
        return;
    }
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let msg = match batch {
                    Ok(batch) => {
                        let matching: Vec<LiveSpan> = batch
                            .spans
                            .iter()
                            .filter(|s| *s.project_id == *project && filter.matches(s))
                            .map(LiveSpan::from)
                            .collect();
                        if matching.is_empty() {
                            continue;
                        }
                        if !send(&mut socket, &LiveMessage::Spans { spans: matching }).await {
                            return;
                        }
                        let findings: Vec<FindingView> = batch
                            .findings
                            .iter()
                            .filter(|f| *f.project_id == *project && filter.matches_finding(f))
                            .cloned()
                            .map(FindingView::from)
                            .collect();
                        if findings.is_empty() {
                            continue;
                        }
                        LiveMessage::Findings { findings }
                    }
                    Err(RecvError::Lagged(n)) => LiveMessage::Dropped {
                        batches: n,
                        message: format!("this client fell behind; {n} batches of spans and findings were skipped"),
                    },
                    Err(RecvError::Closed) => return,
                };
                if !send(&mut socket, &msg).await {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
