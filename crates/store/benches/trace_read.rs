//! Reading one large trace back from the embedded store: the whole spans (`Store::trace`) and
//! the outline the trace view draws (`Store::trace_outline`). The trace is an agent run of
//! steps, each a chain of LLM and tool calls with inputs and outputs, like the dashboard's
//! large-trace test. Reports the first read after writing and the median of later reads.
//!
//!   cargo bench -p spyglass-store --bench trace_read [-- SPANS]

use spyglass_model::{JsonText, Span, SpanId, SpanKind, TraceId};
use spyglass_store::Store;
use spyglass_store::duckdb::{DuckDbConfig, DuckDbStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::cpu_ticks;

const MS: i64 = 1_000_000;

fn trace(n: usize) -> Vec<Span> {
    let trace = TraceId::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001);
    let t0 = spyglass_model::now_ns() - 3_600_000 * MS;
    let steps = (n / 100).max(1);
    let mut next_id = 1u64;
    let mut span = |parent: Option<SpanId>, name: &str, start: i64, dur: i64| {
        let mut s = Span::new(trace, SpanId::from_u64(next_id), name, start);
        next_id += 1;
        s.project_id = "default".into();
        s.parent_span_id = parent;
        s.service_name = "big-agent".into();
        s.finish(start + dur);
        s.received_ns = start + dur + MS;
        s
    };
    let mut root = span(None, "invoke_agent big-agent", t0, steps as i64 * 100 * MS);
    root.kind = SpanKind::Agent;
    root.agent_name = Some("big-agent".into());
    let root_id = root.span_id;
    let mut out = vec![root];
    let leaves_per_step = (n.saturating_sub(1 + steps)).div_ceil(steps);
    for step in 0..steps {
        let start = t0 + step as i64 * 100 * MS;
        let s = span(Some(root_id), &format!("step {step}"), start, 99 * MS);
        let step_id = s.span_id;
        out.push(s);
        for i in 0..leaves_per_step {
            if out.len() == n {
                break;
            }
            let at = start + i as i64 * MS;
            let mut leaf = if i % 2 == 0 {
                let mut l = span(Some(step_id), "chat gpt-4o", at, MS - 1);
                l.kind = SpanKind::Llm;
                l.request_model = Some("gpt-4o".into());
                l.input = Some(format!(
                    r#"[{{"role":"user","content":"step {step} call {i}"}}]"#
                ));
                l.output = Some(format!(
                    r#"[{{"role":"assistant","content":"answer {i}"}}]"#
                ));
                l.tokens.input = Some(120);
                l.tokens.output = Some(30);
                l.tokens.total = Some(150);
                l
            } else {
                let mut l = span(
                    Some(step_id),
                    &format!("execute_tool search_{}", i % 7),
                    at,
                    MS - 1,
                );
                l.kind = SpanKind::Tool;
                l.tool_name = Some(format!("search_{}", i % 7));
                l.input = Some(format!(r#"{{"query":"q{i}"}}"#));
                l.output = Some(format!(r#"{{"hits":{i}}}"#));
                l
            };
            leaf.attributes = JsonText::parse(format!(r#"{{"app.step":{step},"app.call":{i}}}"#))
                .expect("valid json");
            out.push(leaf);
        }
    }
    out
}

/// CPU time of the whole process (every thread: DuckDB's workers too), in seconds.
fn process_cpu_s() -> f64 {
    cpu_ticks("") as f64 / 100.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: a small smoke run then.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with('-')).collect();
    let n: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 100_000 });
    let spans = trace(n);
    let id = spans[0].trace_id;
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(dir.path(), &DuckDbConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for chunk in spans.chunks(5_000) {
            store.write(Arc::new(chunk.to_vec().into())).await.unwrap();
        }
        let timed = |outline: bool| {
            let store = &store;
            async move {
                let t = Instant::now();
                let count = if outline {
                    store
                        .trace_outline("default", id)
                        .await
                        .unwrap()
                        .unwrap()
                        .1
                        .len()
                } else {
                    store.trace("default", id).await.unwrap().unwrap().1.len()
                };
                assert_eq!(count, n);
                t.elapsed()
            }
        };
        let first_outline = timed(true).await;
        let first_full = timed(false).await;
        let runs = if smoke { 2 } else { 9 };
        let mut outline = Vec::new();
        let mut full = Vec::new();
        let (mut outline_cpu, mut full_cpu) = (0.0, 0.0);
        for _ in 0..runs {
            let c = process_cpu_s();
            outline.push(timed(true).await);
            outline_cpu += process_cpu_s() - c;
            let c = process_cpu_s();
            full.push(timed(false).await);
            full_cpu += process_cpu_s() - c;
        }
        // CPU time matters as much as wall time: on a small machine the browser competes for
        // the same cores while the trace view loads.
        println!(
            "trace_read: {n} spans: outline first {:.0} ms, median {:.0} ms, CPU {:.0} ms/read; \
             whole spans first {:.0} ms, median {:.0} ms, CPU {:.0} ms/read",
            first_outline.as_secs_f64() * 1e3,
            median(outline).as_secs_f64() * 1e3,
            outline_cpu * 1e3 / runs as f64,
            first_full.as_secs_f64() * 1e3,
            median(full).as_secs_f64() * 1e3,
            full_cpu * 1e3 / runs as f64,
        );
    });
    store.close();
}
