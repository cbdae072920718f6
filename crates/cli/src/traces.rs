//! `spyglass traces list` and `spyglass traces show`.

use crate::client::Client;
use crate::waterfall::{self, TraceTree, fmt_cost, fmt_count, fmt_duration};
use crate::{Server, use_color};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum TracesCommand {
    /// List traces, newest first, with the API's filters.
    List(Box<ListArgs>),
    /// Show one trace as a terminal waterfall.
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    server: Server,
    /// Start of the window: a duration back from now (15m, 2h, 7d), RFC 3339, or Unix ns.
    #[arg(long, default_value = "24h")]
    since: String,
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    agent: Option<String>,
    #[arg(long)]
    session: Option<String>,
    #[arg(long)]
    user: Option<String>,
    /// ok, error, unset or running.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    model: Option<String>,
    /// A span kind present in the trace: agent, llm, tool, ...
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    min_duration_ms: Option<f64>,
    #[arg(long)]
    max_duration_ms: Option<f64>,
    #[arg(long)]
    min_cost: Option<f64>,
    /// Text in span names, inputs or outputs.
    #[arg(long, short)]
    query: Option<String>,
    /// Attribute equality, KEY=VALUE; repeatable.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
    /// start_time, duration or cost.
    #[arg(long, default_value = "start_time")]
    sort: String,
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    server: Server,
    /// The trace id (32 hex characters).
    trace_id: String,
    /// Print the API's JSON instead of the waterfall.
    #[arg(long)]
    json: bool,
}

pub async fn traces(cmd: TracesCommand) -> anyhow::Result<()> {
    match cmd {
        TracesCommand::List(a) => list(*a).await,
        TracesCommand::Show(a) => show(a).await,
    }
}

fn push(q: &mut Vec<(String, String)>, k: &str, v: Option<impl ToString>) {
    if let Some(v) = v {
        q.push((k.to_string(), v.to_string()));
    }
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let client = Client::connect(&a.server).await?;
    let mut q: Vec<(String, String)> = vec![
        ("from".into(), a.since.clone()),
        ("sort".into(), a.sort.clone()),
        ("limit".into(), a.limit.to_string()),
    ];
    push(&mut q, "to", a.until);
    push(&mut q, "service", a.service);
    push(&mut q, "agent", a.agent);
    push(&mut q, "session", a.session);
    push(&mut q, "user", a.user);
    push(&mut q, "status", a.status);
    push(&mut q, "model", a.model);
    push(&mut q, "kind", a.kind);
    push(&mut q, "min_duration_ms", a.min_duration_ms);
    push(&mut q, "max_duration_ms", a.max_duration_ms);
    push(&mut q, "min_cost", a.min_cost);
    push(&mut q, "q", a.query);
    for kv in &a.attrs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--attr {kv:?}: expected KEY=VALUE"))?;
        q.push((format!("attr.{k}"), v.to_string()));
    }
    let page = client.get("/api/v1/traces", &q).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    let items = page["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no traces match (window: since {})", a.since);
        return Ok(());
    }
    let color = use_color();
    println!(
        "{:<32}  {:<25}  {:<20}  {:>9}  {:>5}  {:>14}  {:>9}",
        "TRACE", "STARTED", "NAME", "DURATION", "SPANS", "TOKENS", "COST"
    );
    for t in items {
        let name: String = t["name"].as_str().unwrap_or("").chars().take(20).collect();
        let dur = match t["duration_ns"].as_i64() {
            Some(d) if t["running_count"].as_i64().unwrap_or(0) == 0 => fmt_duration(d),
            _ => "running".into(),
        };
        let tokens = match (
            t["tokens"]["input"].as_i64(),
            t["tokens"]["output"].as_i64(),
        ) {
            (Some(i), Some(o)) => format!("{}→{}", fmt_count(i), fmt_count(o)),
            _ => "-".into(),
        };
        let cost = t["cost_usd"]
            .as_f64()
            .map(fmt_cost)
            .unwrap_or_else(|| "-".into());
        let started: String = t["start_time"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(23)
            .collect();
        let mut line = format!(
            "{:<32}  {:<25}  {:<20}  {:>9}  {:>5}  {:>14}  {:>9}",
            t["trace_id"].as_str().unwrap_or(""),
            started,
            name,
            dur,
            t["span_count"].as_i64().unwrap_or(0),
            tokens,
            cost
        );
        if t["error_count"].as_i64().unwrap_or(0) > 0 {
            line.push_str("  ✗ error");
            if color {
                use owo_colors::OwoColorize;
                line = line.red().to_string();
            }
        }
        println!("{line}");
    }
    if let Some(c) = page["next_cursor"].as_str() {
        println!("… more: add --limit, or query the API with cursor={c}");
    }
    Ok(())
}

async fn show(a: ShowArgs) -> anyhow::Result<()> {
    let client = Client::connect(&a.server).await?;
    let body = client
        .get(&format!("/api/v1/traces/{}", a.trace_id.trim()), &[])
        .await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let tree: TraceTree = serde_json::from_value(body)?;
    let width = terminal_size::terminal_size()
        .map(|(w, _)| w.0 as usize)
        .unwrap_or(140)
        .max(80);
    print!("{}", waterfall::render(&tree, width, use_color()));
    Ok(())
}
