//! `spyglass delete trace|session|user <id>`: deletion on request through a running server
//! (recorded in its audit log).

use crate::Server;
use crate::client::Client;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct DeleteCommand {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    what: DeleteWhat,
}

#[derive(Subcommand, Debug)]
enum DeleteWhat {
    /// One trace.
    Trace { trace_id: String },
    /// Every trace of a session.
    Session { session_id: String },
    /// Everything of a user: every trace with a span of theirs (GDPR erasure).
    User { user_id: String },
}

fn segment(id: &str) -> String {
    // Ids are free text (sessions, users): keep them one path segment.
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn delete(cmd: DeleteCommand) -> anyhow::Result<()> {
    let client = Client::connect(&cmd.server).await?;
    let (path, what) = match &cmd.what {
        DeleteWhat::Trace { trace_id } => (
            format!("/api/v1/traces/{}", segment(trace_id)),
            format!("trace {trace_id}"),
        ),
        DeleteWhat::Session { session_id } => (
            format!("/api/v1/sessions/{}", segment(session_id)),
            format!("session {session_id}"),
        ),
        DeleteWhat::User { user_id } => (
            format!("/api/v1/users/{}", segment(user_id)),
            format!("user {user_id}"),
        ),
    };
    let r = client.delete(&path).await?;
    println!(
        "deleted {what}: {} traces, {} spans",
        r["traces"].as_u64().unwrap_or(0),
        r["spans"].as_u64().unwrap_or(0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(super::segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(super::segment("user_42"), "user_42");
    }
}
