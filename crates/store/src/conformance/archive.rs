//! Conformance case of the archive: export a day, delete it, import the files, and every
//! query answers as before.

use super::{T0, llm, span};
use crate::archive::{ArchiveFormat, ExportSpec, RowDecoder, Selection, read_rows};
use crate::{Batch, Store};
use spyglass_model::analytics::{AnalyticsFilter, Metric, TimeseriesQuery};
use spyglass_model::audit::DeleteTarget;
use spyglass_model::query::FindingQuery;
use spyglass_model::{
    Category, Convention, Conventions, CostSource, Encoding, Event, Field, Finding, JsonText, Link,
    Severity, Span, SpanFinding, SpanId, SpanKind, Status, TraceId, TraceSummary, Vector,
};
use std::sync::Arc;

const DAY_NS: i64 = 86_400_000_000_000;
const MS: i64 = 1_000_000;

fn day_start() -> i64 {
    T0 - T0.rem_euclid(DAY_NS)
}

/// Spans of one day with every field set somewhere: payloads, attributes, events, links,
/// resources, a running span, two versions of a span, and findings with every option.
fn day_of_data(p: &str) -> Batch {
    let mut spans = Vec::new();
    let mut findings = Vec::new();
    for t in 1..=3u128 {
        let base = t as i64 * 1_000;
        let mut root = span(p, t, 1, None, base, 400);
        root.kind = SpanKind::Agent;
        root.agent_name = Some("planner".into());
        root.session_id = Some(format!("s{t}"));
        root.user_id = Some("ann".into());
        root.input = Some("plan the trip — ünïcode".into());
        root.output = Some("{\"ok\": true}".into());
        root.environment = Some("prod".into());
        root.resource_attributes = Arc::new(JsonText::from_value(
            &serde_json::json!({"service.name": "svc", "host": {"arch": "x86"}}),
        ));
        root.attributes = JsonText::from_value(&serde_json::json!({
            "gen_ai.agent.name": "planner", "n": 3, "f": 0.1, "list": [1, "two", null], "deep": {"a": {"b": true}}
        }));
        root.events = vec![Event {
            time_ns: root.start_ns + 5,
            name: "handoff".into(),
            attributes: JsonText::from_value(&serde_json::json!({"to": "coder"})),
        }];
        root.links = vec![Link {
            trace_id: TraceId::from_u128(99),
            span_id: SpanId::from_u64(7),
            attributes: JsonText::empty_object(),
        }];
        let mut conventions = Conventions::default();
        conventions.insert(Convention::GenAi);
        conventions.insert(Convention::OpenInference);
        root.conventions = conventions;
        root.unmapped_keys = vec!["x.custom".into()];
        let mut call = llm(
            span(p, t, 2, Some(1), base + 10, 200),
            "gpt-4o",
            1200,
            345,
            None,
        );
        call.cost_usd = Some(0.1 + 0.2 * t as f64);
        call.cost_source = Some(CostSource::Computed);
        call.tokens.cache_read = Some(100);
        call.tokens.reasoning = Some(7);
        call.status = Status::Error;
        call.status_message = Some("rate limited".into());
        let mut tool = span(p, t, 3, Some(1), base + 300, 50);
        tool.kind = SpanKind::Tool;
        tool.tool_name = Some("search".into());
        // First sent running, then finished: the export holds the finished version.
        let mut running = tool.clone();
        running.end_ns = None;
        running.duration_ns = None;
        running.received_ns -= 500;
        findings.push(SpanFinding::on(
            &call,
            Finding {
                category: Category::PromptInjection,
                detector: "injection.override".into(),
                severity: Severity::High,
                score: 0.87,
                field: Field::Attribute,
                key: Some("gen_ai.prompt".into()),
                start: 2,
                end: 40,
                evidence: "ignore previous…".into(),
                vector: Some(Vector::Indirect),
                encoding: Some(Encoding::Base64),
            },
        ));
        // Found on the running version only: the findings query still lists it.
        findings.push(SpanFinding::on(
            &running,
            Finding {
                category: Category::Secret,
                detector: "secret.openai_api_key".into(),
                severity: Severity::Critical,
                score: 0.99,
                field: Field::Output,
                key: None,
                start: 0,
                end: 51,
                evidence: "sk-…".into(),
                vector: None,
                encoding: None,
            },
        ));
        let mut still_running = span(p, t, 4, Some(1), base + 390, 1);
        still_running.end_ns = None;
        still_running.duration_ns = None;
        spans.extend([root, call, running, tool, still_running]);
    }
    Batch { spans, findings }
}

async fn snapshot(
    store: &dyn Store,
    p: &str,
) -> (Vec<(TraceSummary, Vec<Span>)>, Vec<SpanFinding>, Vec<f64>) {
    let mut traces = Vec::new();
    for t in 1..=3u128 {
        traces.push(
            store
                .trace(p, TraceId::from_u128(t))
                .await
                .unwrap()
                .expect("trace"),
        );
    }
    let findings = store
        .findings(
            p,
            &FindingQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items;
    let mut totals = Vec::new();
    for metric in [
        Metric::Count,
        Metric::Errors,
        Metric::Cost,
        Metric::InputTokens,
    ] {
        let q = TimeseriesQuery {
            metric,
            group_by: None,
            interval_s: 3600,
            from_ns: day_start(),
            to_ns: day_start() + DAY_NS,
            filter: AnalyticsFilter::default(),
            limit: 1,
        };
        let ts = store.timeseries(p, &q).await.unwrap();
        totals.push(ts.series.first().and_then(|s| s.total).unwrap_or(0.0));
    }
    (traces, findings, totals)
}

/// Imports the files an export listed into `p`; returns the rows read.
async fn import(
    store: &dyn Store,
    p: &str,
    dir: &std::path::Path,
    files: &[crate::archive::ExportedFile],
    format: ArchiveFormat,
) -> u64 {
    let mut decoder = RowDecoder::new(p, 4);
    let mut batches = Vec::new();
    for f in files {
        read_rows(&dir.join(&f.path), format, |row| {
            if let Some(b) = decoder.push(row)? {
                batches.push(b);
            }
            Ok(())
        })
        .unwrap();
    }
    let rows = decoder.rows();
    batches.extend(decoder.finish());
    for b in batches {
        store.write(Arc::new(b)).await.unwrap();
    }
    rows
}

/// Exports one day in each format, deletes the day, imports the files into the same project:
/// traces, spans, findings and rollups are as they were. The next day's spans and a trace
/// that runs past the day's end are left out of an export of traces retention would delete.
pub async fn export_then_import_round_trips_a_day(store: &dyn Store) {
    let p = "archive";
    let day = day_of_data(p);
    store.write(Arc::new(day.clone())).await.unwrap();
    let tomorrow = span(p, 4, 1, None, DAY_NS / MS, 10);
    let mut crossing = span(p, 5, 1, None, (day_start() + DAY_NS - T0) / MS - 1, 10);
    crossing.name = "crossing".into();
    let crossing_child = span(p, 5, 2, Some(1), (day_start() + DAY_NS - T0) / MS + 1, 1);
    store
        .write(Arc::new(Batch::from(vec![
            tomorrow,
            crossing,
            crossing_child,
        ])))
        .await
        .unwrap();
    let before = snapshot(store, p).await;
    assert_eq!(before.1.len(), 6, "two findings on each of three traces");
    assert_eq!(
        before.2[0], 10.0,
        "finished spans of the day: 3 per trace and the crossing root"
    );

    for format in [ArchiveFormat::Parquet, ArchiveFormat::Jsonl] {
        let dir = tempfile::tempdir().unwrap();
        let spec = ExportSpec {
            project: p.into(),
            selection: Selection::Started {
                from_ns: day_start(),
                to_ns: day_start() + DAY_NS,
            },
            format,
        };
        let files = store.export(&spec, dir.path()).await.unwrap();
        let day_name = crate::archive::day_of(T0);
        assert!(!files.is_empty());
        for f in &files {
            assert!(
                f.path
                    .starts_with(&format!("project=archive/day={day_name}/spans-"))
                    && f.path.ends_with(format.extension()),
                "{f:?}"
            );
            assert!(f.bytes > 0);
        }
        for t in 1..=3 {
            store
                .delete(p, &DeleteTarget::Trace(TraceId::from_u128(t)))
                .await
                .unwrap();
        }
        assert!(
            store
                .trace(p, TraceId::from_u128(1))
                .await
                .unwrap()
                .is_none()
        );
        // 3 traces × 4 spans (the running and finished tool versions are one span) + the
        // crossing trace's root.
        assert_eq!(
            import(store, p, dir.path(), &files, format).await,
            13,
            "{format:?}"
        );
        let after = snapshot(store, p).await;
        assert_eq!(after.0, before.0, "{format:?}: traces and spans");
        assert_eq!(after.1, before.1, "{format:?}: findings");
        assert_eq!(after.2, before.2, "{format:?}: rollups");
    }

    let dir = tempfile::tempdir().unwrap();
    let spec = ExportSpec {
        project: p.into(),
        selection: Selection::Expiring {
            cutoff_ns: day_start() + DAY_NS,
        },
        format: ArchiveFormat::Jsonl,
    };
    let files = store.export(&spec, dir.path()).await.unwrap();
    let mut names = Vec::new();
    for f in files {
        read_rows(&dir.path().join(&f.path), ArchiveFormat::Jsonl, |row| {
            let s: Span = serde_json::from_str(row).unwrap();
            names.push((s.trace_id, s.name));
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(
        names.len(),
        12,
        "the three whole traces of the day: {names:?}"
    );
    assert!(names.iter().all(|(t, _)| *t != TraceId::from_u128(5)));

    // Another project's export sees none of these.
    let spec = ExportSpec {
        project: "archive-other".into(),
        ..spec
    };
    let other = tempfile::tempdir().unwrap();
    assert!(store.export(&spec, other.path()).await.unwrap().is_empty());
}
