//! `spyglass import`: what a file is, and loading it. Reads Spyglass archives (Parquet or JSON
//! lines), OTLP/JSON files (one `ExportTraceServiceRequest` per line, as the OpenTelemetry
//! Collector's file exporter writes, or one pretty-printed document) and trace exports (the
//! gzip JSON of `GET /api/v1/traces/{id}/export`); any of them may be gzip-compressed.

use crate::error::{ArchiveError, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;
use spyglass_model::{Span, SpanFinding};
use spyglass_store::Batch;
use spyglass_store::archive::{ArchiveFormat, RowDecoder, read_rows};
use std::io::Read;
use std::path::Path;

/// Spans per batch written while importing archive rows.
const IMPORT_BATCH_SPANS: usize = 10_000;

/// Where imported data goes (the binary wires the store, the engine and the OTLP pipeline).
#[async_trait::async_trait]
pub trait ImportSink: Send + Sync {
    /// Archived spans and findings, stored as they were.
    async fn write(&self, project: &str, batch: Batch) -> std::result::Result<(), String>;
    /// Spans of a trace export (which has no findings): scanned again, then stored; returns
    /// the findings made.
    async fn scan_and_write(
        &self,
        project: &str,
        spans: Vec<Span>,
    ) -> std::result::Result<u64, String>;
    /// One OTLP/JSON export request, through the same pipeline as OTLP/HTTP; returns the
    /// spans accepted.
    async fn otlp_json(&self, project: &str, body: &[u8]) -> std::result::Result<u64, String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Parquet,
    ArchiveJsonl,
    OtlpJson,
    TraceExport,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub kind: FileKind,
    pub gzip: bool,
    pub spans: u64,
    pub findings: u64,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Parquet => "parquet",
            FileKind::ArchiveJsonl => "archive_jsonl",
            FileKind::OtlpJson => "otlp_json",
            FileKind::TraceExport => "trace_export",
        }
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const PARQUET_MAGIC: &[u8] = b"PAR1";
pub const TRACE_EXPORT_FORMAT: &str = "spyglass.trace-export.v1";

/// Decompresses gzip with a ceiling on the output.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ArchiveError::Format(format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err(ArchiveError::TooLarge { limit });
    }
    Ok(out)
}

/// The keys that tell the JSON kinds apart.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "resourceSpans", alias = "resource_spans")]
    resource_spans: Option<IgnoredAny>,
    format: Option<String>,
    trace_id: Option<IgnoredAny>,
    span_id: Option<IgnoredAny>,
}

/// What a (decompressed) body is.
pub fn detect(body: &[u8]) -> Result<FileKind> {
    if body.starts_with(PARQUET_MAGIC) {
        return Ok(FileKind::Parquet);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ArchiveError::Format("not Parquet, gzip or UTF-8 JSON".into()))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let probe: Probe = serde_json::from_str(first)
        .or_else(|_| serde_json::from_str(text))
        .map_err(|e| {
            ArchiveError::Format(format!(
                "not a JSON object per line nor one JSON document: {e}"
            ))
        })?;
    if probe.resource_spans.is_some() {
        Ok(FileKind::OtlpJson)
    } else if probe.format.as_deref() == Some(TRACE_EXPORT_FORMAT) {
        Ok(FileKind::TraceExport)
    } else if probe.format.is_some() {
        Err(ArchiveError::Format(format!(
            "unknown export format {:?} (this version reads {TRACE_EXPORT_FORMAT})",
            probe.format.unwrap_or_default()
        )))
    } else if probe.trace_id.is_some() && probe.span_id.is_some() {
        Ok(FileKind::ArchiveJsonl)
    } else {
        Err(ArchiveError::Format(
            "neither a Spyglass archive, OTLP/JSON (resourceSpans) nor a trace export".into(),
        ))
    }
}

#[derive(Deserialize)]
struct TraceExport {
    traces: Vec<ExportedTrace>,
}

#[derive(Deserialize)]
struct ExportedTrace {
    spans: Vec<Span>,
    /// Absent in exports made before findings were included: those spans are scanned again.
    findings: Option<Vec<SpanFinding>>,
}

/// Loads one file's bytes into `project`. `max_bytes` bounds the decompressed size;
/// `staging_root` holds a Parquet body while DuckDB reads it.
pub async fn import(
    body: &[u8],
    project: &str,
    max_bytes: usize,
    staging_root: &Path,
    sink: &dyn ImportSink,
) -> Result<ImportReport> {
    let gzip = body.starts_with(GZIP_MAGIC);
    let owned;
    let body = if gzip {
        owned = gunzip(body, max_bytes)?;
        &owned[..]
    } else {
        body
    };
    let kind = detect(body)?;
    let mut report = ImportReport {
        kind,
        gzip,
        spans: 0,
        findings: 0,
    };
    let sink_err = |e: String| ArchiveError::Format(format!("storing: {e}"));
    match kind {
        FileKind::Parquet | FileKind::ArchiveJsonl => {
            let (spans, findings) = import_rows(body, kind, project, staging_root, sink).await?;
            report.spans = spans;
            report.findings = findings;
        }
        FileKind::TraceExport => {
            let export: TraceExport = serde_json::from_slice(body)
                .map_err(|e| ArchiveError::Format(format!("trace export: {e}")))?;
            for t in export.traces {
                report.spans += t.spans.len() as u64;
                match t.findings {
                    Some(findings) => {
                        let batch = with_findings(project, t.spans, findings);
                        report.findings += batch.findings.len() as u64;
                        sink.write(project, batch).await.map_err(sink_err)?;
                    }
                    None => {
                        report.findings += sink
                            .scan_and_write(project, t.spans)
                            .await
                            .map_err(sink_err)?;
                    }
                }
            }
        }
        FileKind::OtlpJson => {
            let text = std::str::from_utf8(body).expect("checked by detect");
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let one_per_line = serde_json::from_str::<IgnoredAny>(first).is_ok();
            if one_per_line {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    report.spans += sink
                        .otlp_json(project, line.as_bytes())
                        .await
                        .map_err(sink_err)?;
                }
            } else {
                report.spans += sink.otlp_json(project, body).await.map_err(sink_err)?;
            }
        }
    }
    Ok(report)
}

/// A trace export's spans and findings, moved into `project`.
fn with_findings(project: &str, mut spans: Vec<Span>, findings: Vec<SpanFinding>) -> Batch {
    let project: std::sync::Arc<str> = project.into();
    for s in &mut spans {
        s.project_id = project.clone();
    }
    let findings = findings
        .into_iter()
        .filter_map(|f| {
            let span = spans.iter().find(|s| s.span_id == f.span_id)?;
            Some(f.moved_to(span))
        })
        .collect();
    Batch { spans, findings }
}

/// Archive rows, stored a batch at a time as they are decoded (a day of spans never sits in
/// memory whole). A bad row ends the import; the batches before it are stored, and running
/// the import again after a fix stores nothing twice.
async fn import_rows(
    body: &[u8],
    kind: FileKind,
    project: &str,
    staging_root: &Path,
    sink: &dyn ImportSink,
) -> Result<(u64, u64)> {
    let (mut spans, mut findings) = (0u64, 0u64);
    let mut store = async |b: Batch| -> Result<()> {
        spans += b.spans.len() as u64;
        findings += b.findings.len() as u64;
        sink.write(project, b)
            .await
            .map_err(|e| ArchiveError::Format(format!("storing: {e}")))
    };
    if kind == FileKind::Parquet {
        std::fs::create_dir_all(staging_root)?;
        let mut tmp = tempfile::Builder::new()
            .prefix("import-")
            .suffix(".parquet")
            .tempfile_in(staging_root)?;
        std::io::Write::write_all(&mut tmp, body)?;
        // DuckDB reads on a blocking thread and hands batches over a short queue.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
        let project = project.to_string();
        let reader = tokio::task::spawn_blocking(move || {
            let mut decoder = RowDecoder::new(&project, IMPORT_BATCH_SPANS);
            read_rows(tmp.path(), ArchiveFormat::Parquet, |row| {
                if let Some(b) = decoder.push(row)? {
                    tx.blocking_send(b).map_err(|_| {
                        spyglass_store::StoreError::InvalidQuery("import stopped".into())
                    })?;
                }
                Ok(())
            })?;
            if let Some(b) = decoder.finish() {
                let _ = tx.blocking_send(b);
            }
            Ok::<(), spyglass_store::StoreError>(())
        });
        while let Some(b) = rx.recv().await {
            store(b).await?;
        }
        reader
            .await
            .map_err(|e| ArchiveError::Format(format!("reading the Parquet file: {e}")))??;
    } else {
        let mut decoder = RowDecoder::new(project, IMPORT_BATCH_SPANS);
        let text = std::str::from_utf8(body).expect("checked by detect");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(b) = decoder.push(line)? {
                store(b).await?;
            }
        }
        if let Some(b) = decoder.finish() {
            store(b).await?;
        }
    }
    Ok((spans, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(detect(b"PAR1\x00\x00").unwrap(), FileKind::Parquet);
        assert_eq!(
            detect(b"{\"resourceSpans\":[]}\n{\"resourceSpans\":[]}\n").unwrap(),
            FileKind::OtlpJson
        );
        assert_eq!(
            detect(b"{\n  \"resourceSpans\": []\n}\n").unwrap(),
            FileKind::OtlpJson,
            "a pretty-printed document"
        );
        assert_eq!(
            detect(br#"{"format":"spyglass.trace-export.v1","traces":[]}"#).unwrap(),
            FileKind::TraceExport
        );
        assert_eq!(
            detect(b"{\"trace_id\":\"ab\",\"span_id\":\"cd\"}\n").unwrap(),
            FileKind::ArchiveJsonl
        );
        for bad in [
            &b"hello"[..],
            b"{\"a\":1}",
            b"\xff\xfe",
            b"{\"format\":\"other.v9\"}",
        ] {
            assert!(detect(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gzip_is_bounded() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'{'; 10_000]).unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(gunzip(&body, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&body, 9_999),
            Err(ArchiveError::TooLarge { limit: 9_999 })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the bytes, detection answers a kind or a clear error.
        #[test]
        fn detection_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = detect(&bytes);
            let _ = gunzip(&bytes, 1 << 16);
        }

        /// JSON-looking text with the keys detection looks at, in any combination.
        #[test]
        fn json_objects_are_classified_by_their_keys(
            keys in proptest::collection::btree_set(
                proptest::sample::select(vec!["resourceSpans", "format", "trace_id", "span_id", "x"]), 0..5)
        ) {
            let obj: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .map(|k| (k.to_string(), if *k == "format" { TRACE_EXPORT_FORMAT.into() } else { serde_json::json!([]) }))
                .collect();
            let text = serde_json::Value::Object(obj).to_string();
            let got = detect(text.as_bytes());
            let want = if keys.contains("resourceSpans") {
                Some(FileKind::OtlpJson)
            } else if keys.contains("format") {
                Some(FileKind::TraceExport)
            } else if keys.contains("trace_id") && keys.contains("span_id") {
                Some(FileKind::ArchiveJsonl)
            } else {
                None
            };
            match want {
                Some(k) => proptest::prop_assert_eq!(got.unwrap(), k),
                None => proptest::prop_assert!(got.is_err()),
            }
        }
    }
}
