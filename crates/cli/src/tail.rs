//! `spyglass tail`: spans as they are committed, one line each.

use crate::client::Client;
use crate::waterfall::{fmt_count, fmt_duration};
use crate::{Server, use_color};
use clap::Args;
use futures::StreamExt;
use owo_colors::OwoColorize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    server: Server,
    /// Only this trace.
    #[arg(long)]
    trace_id: Option<String>,
    /// Only this session.
    #[arg(long)]
    session: Option<String>,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// Print each message as JSON.
    #[arg(long)]
    json: bool,
}

pub fn line(s: &Value, color: bool) -> String {
    let time: String = s["start_time"]
        .as_str()
        .unwrap_or("")
        .chars()
        .skip(11)
        .take(12)
        .collect();
    let dur = s["duration_ns"]
        .as_i64()
        .map(fmt_duration)
        .unwrap_or_else(|| "running".into());
    let mut detail = String::new();
    if let Some(m) = s["model"].as_str() {
        detail.push_str(m);
    } else if let Some(t) = s["tool_name"].as_str() {
        detail.push_str(t);
    }
    if let (Some(i), Some(o)) = (
        s["tokens"]["input"].as_i64(),
        s["tokens"]["output"].as_i64(),
    ) {
        detail.push_str(&format!(" {}→{}", fmt_count(i), fmt_count(o)));
    }
    let trace: String = s["trace_id"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect();
    let kind = s["kind"].as_str().unwrap_or("");
    let mut out = format!(
        "{time}  {trace}  {:<16} {:<9} {:<36} {:>9}  {detail}",
        s["service_name"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(16)
            .collect::<String>(),
        kind,
        s["name"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(36)
            .collect::<String>(),
        dur
    );
    if s["status"] == "error" {
        out.push_str(&format!(
            "  ✗ {}",
            s["status_message"].as_str().unwrap_or("error")
        ));
        if color {
            out = out.red().to_string();
        }
    }
    out
}

pub async fn tail(a: TailArgs) -> anyhow::Result<()> {
    let client = Client::connect(&a.server).await?;
    let mut q = Vec::new();
    for (k, v) in [
        ("trace_id", &a.trace_id),
        ("session", &a.session),
        ("service", &a.service),
    ] {
        if let Some(v) = v {
            q.push((k.to_string(), v.clone()));
        }
    }
    let url = client.ws_url("/api/v1/live", &q);
    let req = client.ws_request("/api/v1/live", &q)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| {
        anyhow::anyhow!("cannot open {url}: {e} (is `spyglass serve` running? set --url)")
    })?;
    eprintln!("following {} (Ctrl-C to stop)", client.base());
    let color = use_color();
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        if a.json {
            println!("{text}");
            continue;
        }
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some("spans") => {
                for s in v["spans"].as_array().into_iter().flatten() {
                    println!("{}", line(s, color));
                }
            }
            Some("dropped") => {
                eprintln!("! {}", v["message"].as_str().unwrap_or("messages dropped"))
            }
            _ => {}
        }
    }
    Ok(())
}
