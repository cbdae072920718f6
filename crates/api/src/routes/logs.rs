//! WebSocket `/api/v1/logs`: the server's own log, live. A new subscriber gets the last entries
//! kept, then each new entry as it is logged. Secrets are masked before an entry is kept
//! (`spyglass_serverlog`). A slow client never slows logging: it skips what it could not keep
//! up with and is told how many entries that was.

use crate::access::ServerAdmin;
use crate::error::{ApiError, ApiQuery};
use crate::routes::live::send;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use spyglass_serverlog::LogEntry;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tracing::Level;
use utoipa::ToSchema;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsParams {
    /// Only entries at this level or more severe: error, warn, info, debug or trace
    /// (`warn` sends warnings and errors). Default: every entry the server keeps (info and
    /// above unless configured otherwise).
    level: Option<String>,
}

/// Messages sent to the client.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogsMessage {
    /// Sent once after connecting: the most recent entries kept (up to 100) that pass the
    /// level filter, oldest first.
    Hello { entries: Vec<LogEntry> },
    /// A new entry.
    Entry { entry: LogEntry },
    /// The client fell behind and this many entries (of any level) were skipped.
    Lagged { skipped: u64 },
}

#[utoipa::path(get, path = "/api/v1/logs", tag = "ops", params(LogsParams),
    responses((status = 403, description = "Not a server admin", body = crate::error::ErrorBody),
        (status = 101, description = "WebSocket; messages are LogsMessage JSON: a hello with the recent entries, then one message per new entry", body = LogsMessage),
        (status = 400, description = "Unknown level", body = crate::error::ErrorBody),
        (status = 503, description = "max_live_subscribers reached (log subscribers share the live stream's limit); Retry-After says when to try again", body = crate::error::ErrorBody)))]
pub async fn logs(
    ServerAdmin(st, _): ServerAdmin,
    ApiQuery(p): ApiQuery<LogsParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let min = match p.level.as_deref() {
        None => Level::TRACE,
        Some(l) => spyglass_serverlog::parse_level(l).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "level {l:?}: expected error, warn, info, debug or trace"
            ))
        })?,
    };
    let slot = crate::routes::live::subscriber_slot(&st)?;
    let log = st.server_log.clone();
    Ok(ws.on_upgrade(move |socket| async move {
        // Subscribed only once the socket is open, so a failed upgrade holds no receiver.
        let (backlog, rx) = log.subscribe();
        stream(socket, backlog, rx, min).await;
        drop(slot);
    }))
}

async fn stream(
    mut socket: WebSocket,
    backlog: Vec<Arc<LogEntry>>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<LogEntry>>,
    min: Level,
) {
    let hello = LogsMessage::Hello {
        entries: backlog
            .iter()
            .filter(|e| e.at_least(min))
            .map(|e| LogEntry::clone(e))
            .collect(),
    };
    drop(backlog);
    if !send(&mut socket, &hello).await {
        return;
    }
    loop {
        tokio::select! {
            entry = rx.recv() => {
                let msg = match entry {
                    Ok(entry) if entry.at_least(min) => LogsMessage::Entry { entry: LogEntry::clone(&entry) },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(skipped)) => LogsMessage::Lagged { skipped },
                    Err(RecvError::Closed) => return,
                };
                if !send(&mut socket, &msg).await {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Pings are answered by the WebSocket layer; anything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}
