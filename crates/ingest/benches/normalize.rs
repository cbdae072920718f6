//! Decode and normalization cost per span, on the load generator's realistic agent traces
//! (OpenTelemetry GenAI attributes, ~450-byte spans) and on each golden fixture's convention.
//!
//!   cargo bench -p spyglass-ingest --bench normalize

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use spyglass_ingest::Normalizer;
use spyglass_ingest::decode::{decode_json, decode_protobuf};
use spyglass_synth::{Rng, build::request, random};

fn loadgen_request() -> (Vec<u8>, usize) {
    let mut rng = Rng::new(7);
    let mut spans = Vec::new();
    while spans.len() < 500 {
        let n = rng.range(5, 201) as usize;
        spans.extend(random::trace(&mut rng, 1_800_000_000_000_000_000, n));
    }
    let n = spans.len();
    (
        request("bench", "bench", "spyglass.bench", spans).encode_to_vec(),
        n,
    )
}

fn bench(c: &mut Criterion) {
    let (body, n) = loadgen_request();
    let normalizer = Normalizer::default();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("decode_protobuf", |b| {
        b.iter(|| decode_protobuf(&body, 16).unwrap())
    });
    g.bench_function("normalize", |b| {
        b.iter_batched(
            || decode_protobuf(&body, 16).unwrap().request,
            |req| normalizer.normalize(req, "default", 1),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("decode_and_normalize", |b| {
        b.iter(|| normalizer.normalize(decode_protobuf(&body, 16).unwrap().request, "default", 1))
    });
    g.finish();

    // Every convention's golden fixture, decoded from OTLP/JSON and normalized.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut g = c.benchmark_group("conventions");
    let mut fixtures: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    fixtures.sort();
    for f in fixtures {
        let body = std::fs::read(f.join("request.json")).unwrap();
        let spans = normalizer
            .normalize(decode_json(&body).unwrap(), "default", 1)
            .spans
            .len();
        g.throughput(Throughput::Elements(spans as u64));
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        g.bench_function(name, |b| {
            b.iter(|| normalizer.normalize(decode_json(&body).unwrap(), "default", 1))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
