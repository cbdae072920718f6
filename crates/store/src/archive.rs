//! The archive format: what `spyglass export` and the scheduled archive write, and what
//! `spyglass import` reads back (docs/archive.md is the contract).
//!
//! One row per span, its latest version, in the canonical span's JSON shape (the one the API
//! serves) plus `project_id` and `findings` (the span's findings, each in the findings API's
//! shape). Files are partitioned by project and UTC day of the span's start:
//! `project=<id>/day=<YYYY-MM-DD>/spans-<uuid>.parquet` (or `.jsonl`). Parquet keeps the
//! same columns typed (ids as hex strings, enums as their names, attributes as JSON), so the
//! files read as they are in DuckDB, Spark or pandas.

use crate::{Batch, StoreError};
use serde::Deserialize;
use spyglass_model::{Span, SpanFinding};
use std::sync::Arc;

/// The file format of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveFormat {
    #[default]
    Parquet,
    Jsonl,
}

impl ArchiveFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "parquet" => Some(ArchiveFormat::Parquet),
            "jsonl" | "json" | "ndjson" => Some(ArchiveFormat::Jsonl),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Parquet => "parquet",
            ArchiveFormat::Jsonl => "jsonl",
        }
    }
}

/// Which spans an export takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Spans that started in `[from_ns, to_ns)`.
    Started { from_ns: i64, to_ns: i64 },
    /// The spans of the traces retention deletes at this cutoff: traces whose every span
    /// started before it (`Store::apply_retention`).
    Expiring { cutoff_ns: i64 },
}

/// One export of one project's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub project: String,
    pub selection: Selection,
    pub format: ArchiveFormat,
}

/// A file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportedFile {
    /// Relative to the export's directory, `/`-separated:
    /// `project=<id>/day=<YYYY-MM-DD>/spans-<uuid>.<ext>`.
    pub path: String,
    pub day: String,
    pub bytes: u64,
}

/// The part of an archive row that is not the span itself.
#[derive(Deserialize)]
struct RowExtras {
    #[serde(default)]
    findings: Vec<SpanFinding>,
}

/// Decodes archive rows (one JSON object each) into batches for `project`, at most `max_spans`
/// spans per batch. Findings get their id in `project` (`SpanFinding::moved_to`): the one they
/// had when the row comes from the same project, so a re-import is idempotent.
pub struct RowDecoder {
    project: Arc<str>,
    max_spans: usize,
    current: Batch,
    rows: u64,
}

impl RowDecoder {
    pub fn new(project: &str, max_spans: usize) -> Self {
        RowDecoder {
            project: Arc::from(project),
            max_spans: max_spans.max(1),
            current: Batch::default(),
            rows: 0,
        }
    }

    /// Adds one row; returns a full batch when one is ready.
    pub fn push(&mut self, json: &str) -> Result<Option<Batch>, StoreError> {
        self.rows += 1;
        let bad = |e: serde_json::Error| {
            StoreError::InvalidQuery(format!("archive row {}: {e}", self.rows))
        };
        let mut span: Span = serde_json::from_str(json).map_err(bad)?;
        let extras: RowExtras = serde_json::from_str(json).map_err(bad)?;
        span.project_id = self.project.clone();
        self.current
            .findings
            .extend(extras.findings.into_iter().map(|f| f.moved_to(&span)));
        self.current.spans.push(span);
        Ok((self.current.spans.len() >= self.max_spans).then(|| std::mem::take(&mut self.current)))
    }

    /// What is left after the last row.
    pub fn finish(self) -> Option<Batch> {
        (!self.current.spans.is_empty()).then_some(self.current)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// Calls `row` with each row of an archive file (Parquet, or JSON lines), as a JSON object.
pub fn read_rows(
    path: &std::path::Path,
    format: ArchiveFormat,
    mut row: impl FnMut(&str) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    match format {
        ArchiveFormat::Parquet => crate::duckdb::archive::read_parquet(path, row),
        ArchiveFormat::Jsonl => {
            use std::io::BufRead;
            let file = std::io::BufReader::new(std::fs::File::open(path)?);
            for line in file.lines() {
                let line = line?;
                if !line.trim().is_empty() {
                    row(&line)?;
                }
            }
            Ok(())
        }
    }
}

/// UTC day of a time in nanoseconds, `YYYY-MM-DD` (the partition key).
pub fn day_of(ns: i64) -> String {
    let days = ns.div_euclid(86_400_000_000_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day number.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::{Category, Field, Finding, Severity, SpanId, TraceId};

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(-1), "1969-12-31");
        assert_eq!(day_of(1_760_000_000_000_000_000), "2025-10-09");
        assert_eq!(day_of(951_782_400_000_000_000), "2000-02-29");
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!(
            ArchiveFormat::parse("parquet"),
            Some(ArchiveFormat::Parquet)
        );
        assert_eq!(ArchiveFormat::parse("jsonl"), Some(ArchiveFormat::Jsonl));
        assert_eq!(ArchiveFormat::parse("csv"), None);
    }

    fn row(project: &str) -> (Span, SpanFinding, String) {
        let mut s = Span::new(TraceId::from_u128(7), SpanId::from_u64(9), "llm", 1_000);
        s.project_id = project.into();
        s.finish(2_000);
        s.received_ns = 5_000;
        let f = SpanFinding::on(
            &s,
            Finding {
                category: Category::Secret,
                detector: "secret.openai_api_key".into(),
                severity: Severity::High,
                score: 0.9,
                field: Field::Input,
                key: None,
                start: 1,
                end: 5,
                evidence: "sk-…".into(),
                vector: None,
                encoding: None,
            },
        );
        let mut v = serde_json::to_value(&s).unwrap();
        v["project_id"] = project.into();
        v["findings"] = serde_json::to_value([&f]).unwrap();
        (s, f, v.to_string())
    }

    #[test]
    fn rows_decode_into_batches_keeping_ids_within_a_project() {
        let (s, f, json) = row("acme");
        let mut d = RowDecoder::new("acme", 2);
        assert!(d.push(&json).unwrap().is_none());
        let full = d.push(&json).unwrap().expect("two rows fill a batch");
        assert_eq!(full.spans.len(), 2);
        assert_eq!(full.spans[0], s);
        assert_eq!(full.findings[0], f);
        assert!(d.finish().is_none());

        let mut moved = RowDecoder::new("other", 10);
        moved.push(&json).unwrap();
        let b = moved.finish().unwrap();
        assert_eq!(&*b.spans[0].project_id, "other");
        assert_ne!(b.findings[0].id, f.id);
        assert_eq!(b.findings[0].id, SpanFinding::on(&b.spans[0], f.finding).id);
        assert_eq!(&*b.findings[0].project_id, "other");
    }

    #[test]
    fn a_bad_row_names_its_number() {
        let mut d = RowDecoder::new("p", 10);
        let (_, _, json) = row("p");
        d.push(&json).unwrap();
        let e = d.push("{\"trace_id\": 3}").unwrap_err().to_string();
        assert!(e.contains("archive row 2"), "{e}");
    }

    proptest::proptest! {
        /// Whatever a row holds, decoding answers a span or an error naming the row.
        #[test]
        fn arbitrary_rows_never_panic(text in ".{0,200}", n in 0usize..4) {
            let (_, _, json) = row("p");
            let mut d = RowDecoder::new("p", 10);
            for _ in 0..n {
                d.push(&json).unwrap();
            }
            if let Err(e) = d.push(&text) {
                let want = format!("archive row {}", n + 1);
                proptest::prop_assert!(e.to_string().contains(&want));
            }
        }

        /// A row survives a cut anywhere as an error, never as a different span.
        #[test]
        fn truncated_rows_are_errors(cut in 0usize..400) {
            let (s, _, json) = row("p");
            let mut cut = cut.min(json.len());
            while !json.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut d = RowDecoder::new("p", 10);
            match d.push(&json[..cut]) {
                Ok(_) => {
                    proptest::prop_assert_eq!(cut, json.len());
                    proptest::prop_assert_eq!(&d.finish().unwrap().spans[0], &s);
                }
                Err(_) => proptest::prop_assert!(cut < json.len()),
            }
        }
    }
}
