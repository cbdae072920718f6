//! `spyglass export` and `spyglass import`: archives through a running server. Export unpacks
//! the server's tar stream into a directory or an S3-compatible bucket as it arrives, a day at
//! a time with a progress bar; import sends files (or every archive file under a directory).

use crate::Server;
use crate::client::unreachable;
use anyhow::{Context, anyhow, bail};
use clap::Args;
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use spyglass_archive::Destination;
use spyglass_archive::tarstream::{Entry, read_entries};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    server: Server,
    /// Spans that started at or after this: a date (2026-11-20, UTC), RFC 3339, Unix ns, or
    /// a duration back from now (7d).
    #[arg(long)]
    from: String,
    /// ... and before this (same forms); default now.
    #[arg(long)]
    to: Option<String>,
    /// parquet or jsonl.
    #[arg(long, default_value = "parquet")]
    format: String,
    /// A directory, or s3://bucket/prefix (credentials from the AWS_* environment).
    #[arg(long)]
    out: String,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    server: Server,
    /// Archive files (Parquet, JSON lines), OTLP/JSON files or trace exports (.json.gz), or
    /// directories to search for them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// A bare date means its UTC midnight.
fn time_arg(v: &str) -> String {
    let is_date = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    }
}

fn http() -> anyhow::Result<reqwest::Client> {
    // No overall timeout: an export or import of months takes as long as it takes.
    Ok(reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()?)
}

async fn error_of(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or("request failed");
    anyhow!("{status}: {msg}")
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(template)
            .expect("static template")
            .progress_chars("=> "),
    );
    pb
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let dest = Destination::parse(&args.out)?;
    let base = args.server.url.trim_end_matches('/');
    let mut query = vec![
        ("from", time_arg(&args.from)),
        ("format", args.format.clone()),
    ];
    if let Some(to) = &args.to {
        query.push(("to", time_arg(to)));
    }
    let resp = http()?
        .get(format!("{base}/api/v1/export"))
        .query(&query)
        .send()
        .await
        .with_context(|| unreachable(base))?;
    if !resp.status().is_success() {
        return Err(error_of(resp).await);
    }
    let days: u64 = resp
        .headers()
        .get("x-spyglass-export-days")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let started = Instant::now();
    let pb = bar(
        days,
        "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} days  {msg}",
    );
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    let mut reader = tokio_util::io::StreamReader::new(stream);
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut days_seen = std::collections::BTreeSet::new();
    read_entries(&mut reader, async |e: Entry, body: &mut _| {
        if let Some(day) = e.path.split('/').find_map(|p| p.strip_prefix("day=")) {
            days_seen.insert(day.to_string());
            pb.set_position((days_seen.len() as u64).min(days));
            pb.set_message(format!(
                "{day}  {files} files  {:.1} MB",
                bytes as f64 / 1e6
            ));
        }
        let n = dest.put_reader(&e.path, body, |_| {}).await?;
        files += 1;
        bytes += n;
        Ok(())
    })
    .await
    .context("the export stream ended early (see the server's log)")?;
    pb.set_position(days);
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "exported {files} files, {:.1} MB, {} days with data, to {dest} in {secs:.1} s",
        bytes as f64 / 1e6,
        days_seen.len()
    );
    Ok(())
}

/// The files to import: the paths given, and under directories the files that look like
/// archives, OTLP/JSON or trace exports, in name order.
fn files_of(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn wanted(p: &Path) -> bool {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        [".parquet", ".jsonl", ".ndjson", ".json", ".gz"]
            .iter()
            .any(|ext| name.ends_with(ext))
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(&p, out)?;
            } else if wanted(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let files = files_of(&args.paths)?;
    if files.is_empty() {
        bail!("no archive, OTLP/JSON or trace export files under the paths given");
    }
    let base = args.server.url.trim_end_matches('/');
    let client = http()?;
    let total: u64 = files
        .iter()
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum();
    let pb = bar(
        total,
        "{spinner} [{elapsed_precise}] [{bar:30}] {bytes}/{total_bytes}  {msg}",
    );
    let (mut spans, mut findings) = (0u64, 0u64);
    let started = Instant::now();
    for f in &files {
        pb.set_message(f.display().to_string());
        let body = tokio::fs::read(f)
            .await
            .with_context(|| format!("reading {}", f.display()))?;
        let len = body.len() as u64;
        let resp = client
            .post(format!("{base}/api/v1/import"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .with_context(|| unreachable(base))?;
        if !resp.status().is_success() {
            pb.abandon();
            return Err(error_of(resp)
                .await
                .context(format!("importing {}", f.display())));
        }
        let r: serde_json::Value = resp.json().await?;
        spans += r["spans"].as_u64().unwrap_or(0);
        findings += r["findings"].as_u64().unwrap_or(0);
        pb.suspend(|| {
            println!(
                "{}: {} ({} spans, {} findings)",
                f.display(),
                r["kind"].as_str().unwrap_or("?"),
                r["spans"],
                r["findings"]
            )
        });
        pb.inc(len);
    }
    pb.finish_and_clear();
    println!(
        "imported {} files: {spans} spans, {findings} findings in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_date_is_utc_midnight() {
        assert_eq!(time_arg("2026-11-20"), "2026-11-20T00:00:00Z");
        assert_eq!(time_arg("7d"), "7d");
        assert_eq!(time_arg("2026-11-20T05:00:00Z"), "2026-11-20T05:00:00Z");
    }

    #[test]
    fn directories_yield_their_archive_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("project=p/day=2026-01-02");
        std::fs::create_dir_all(&d).unwrap();
        for n in ["b.parquet", "a.jsonl", "notes.txt"] {
            std::fs::write(d.join(n), "x").unwrap();
        }
        let got = files_of(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.jsonl", "b.parquet"]);
        assert!(files_of(&[dir.path().join("missing")]).is_err());
    }
}
