//! The embedded store's write path: realistic normalized agent spans (the load generator's
//! random traces, through the real normalizer) written in group-commit-sized batches. Reports
//! spans/s and the writer thread's CPU time per span (steadier than wall time on a shared
//! machine).
//!
//!   cargo bench -p spyglass-store --bench write_path [-- SPANS BATCH]

use spyglass_ingest::{Normalizer, decode::ExportTraceServiceRequest};
use spyglass_store::Store;
use spyglass_store::duckdb::{DuckDbConfig, DuckDbStore};
use spyglass_synth::{Rng, build::request, random};
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::cpu_ticks;

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: a small smoke run then.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with('-')).collect();
    let total: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if smoke { 5_000 } else { 300_000 });
    let batch: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2_500);
    let mut rng = Rng::new(42);
    let now = spyglass_model::now_ns();
    let normalizer = Normalizer::default();
    let mut batches: Vec<Arc<spyglass_store::Batch>> = Vec::new();
    let mut made = 0;
    while made < total {
        let mut spans = Vec::new();
        while spans.len() < batch {
            let n = rng.range(5, 201) as usize;
            spans.extend(random::trace(&mut rng, now, n));
        }
        let req: ExportTraceServiceRequest = request("bench", "bench", "spyglass.bench", spans);
        let out = normalizer.normalize(req, "default", now);
        made += out.spans.len();
        batches.push(Arc::new(out.spans.into()));
    }
    let dir = tempfile::tempdir().unwrap();
    let writers = std::env::var("BENCH_WRITERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let store = DuckDbStore::open(
        dir.path(),
        &DuckDbConfig {
            writers,
            ..Default::default()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let c0 = cpu_ticks("spyglass-writer");
    let p0 = cpu_ticks("");
    rt.block_on(async {
        // Several writes in flight, as concurrent requests would be.
        let mut pending = futures::stream::FuturesOrdered::new();
        for b in &batches {
            pending.push_back(store.write(b.clone()));
            if pending.len() >= 4 {
                futures::StreamExt::next(&mut pending)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        while let Some(r) = futures::StreamExt::next(&mut pending).await {
            r.unwrap();
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu_s = (cpu_ticks("spyglass-writer") - c0) as f64 / 100.0;
    let all_s = (cpu_ticks("") - p0) as f64 / 100.0;
    store.close();
    let disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    println!(
        "write_path: {made} spans in batches of ~{batch}, {writers} writer(s): {:.0} spans/s, writer CPU {:.2} us/span, \
         process CPU {:.2} us/span, {:.0} bytes/span on disk",
        made as f64 / secs,
        cpu_s * 1e6 / made as f64,
        all_s * 1e6 / made as f64,
        disk as f64 / made as f64
    );
}
