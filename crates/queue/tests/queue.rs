//! The queue against real redis-server processes (see common/mod.rs; skipped with a printed
//! reason when redis-server is missing, unless SPYGLASS_REQUIRE_REDIS=1).

mod common;

use common::{Collect, config, redis, span, until};
use spyglass_model::Span;
use spyglass_queue::{
    Consumer, Handler, HandlerError, LivePublisher, LiveReader, Producer, QueueError, partition_of,
};
use spyglass_store::Batch;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn spawn_consumer(
    cfg: &spyglass_queue::QueueConfig,
    name: &str,
    handler: Arc<dyn Handler>,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<()>,
    spyglass_queue::QueueMetrics,
) {
    let stop = CancellationToken::new();
    let consumer = Consumer::new(cfg, name).unwrap();
    let metrics = consumer.metrics().clone();
    let task = tokio::spawn(consumer.run(handler, stop.clone()));
    (stop, task, metrics)
}

fn batch(project: &str, traces: std::ops::Range<u128>, per_trace: u64) -> Vec<Span> {
    traces
        .flat_map(|t| (0..per_trace).map(move |i| span(project, t, t as u64 * 100 + i)))
        .collect()
}

fn ids(spans: &[Span]) -> BTreeSet<(String, u128, u64)> {
    spans
        .iter()
        .map(|s| {
            (
                s.project_id.to_string(),
                s.trace_id.as_u128(),
                s.span_id.as_u64(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_to_consumer_round_trip() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 4);
    let producer = Producer::connect(&cfg).unwrap();
    producer.ping().await.unwrap();
    let mut sent = Vec::new();
    for (k, project) in ["acme", "globex", "acme"].iter().enumerate() {
        let b = batch(project, (k as u128 * 10 + 1)..(k as u128 * 10 + 8), 3);
        sent.extend(b.clone());
        producer.enqueue(b).await.unwrap();
    }
    producer.enqueue(Vec::new()).await.unwrap();
    assert_eq!(producer.metrics().spans_enqueued.get(), sent.len() as u64);

    let h = Arc::new(Collect::default());
    let (stop, task, metrics) = spawn_consumer(&cfg, "p1", h.clone());
    until(10, "every span", || h.spans() == sent.len()).await;
    let calls = h.calls.lock().unwrap().clone();
    let got: Vec<Span> = calls.iter().flat_map(|c| c.2.clone()).collect();
    assert_eq!(ids(&got), ids(&sent));
    // Every span arrives intact, project included, in the partition of its trace.
    for (p, key, spans) in &calls {
        assert!(key.starts_with(&format!("{p}:")), "{key}");
        for s in spans {
            assert_eq!(partition_of(&s.project_id, &s.trace_id, 4), *p);
            let orig = sent
                .iter()
                .find(|o| o.span_id == s.span_id && o.project_id == s.project_id)
                .unwrap();
            assert_eq!(s, orig);
        }
    }
    let keys: HashSet<String> = h.keys().into_iter().collect();
    assert_eq!(keys.len(), calls.len(), "a key was handled twice");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    // A read's entries are handled as one batch: at least one entry per call.
    assert!(metrics.entries_handled.get() >= calls.len() as u64);
    assert_eq!(
        metrics.spans_handled.get(),
        calls.iter().map(|(_, _, s)| s.len() as u64).sum::<u64>()
    );
    // Acknowledged entries are deleted, leases released, the heartbeat removed.
    for p in 0..4 {
        assert_eq!(r.int(&["XLEN", &cfg.stream(p)]), 0);
        assert_eq!(r.int(&["EXISTS", &cfg.lease_key(p)]), 0);
    }
    assert_eq!(r.int(&["EXISTS", &cfg.processors_key()]), 0);
    // Nothing pending, so the consumer was removed from each group.
    let consumers = r.cmd(&["XINFO", "CONSUMERS", &cfg.stream(0), &cfg.group]);
    assert_eq!(consumers, redis::Value::Array(vec![]));
    assert_eq!(h.acquired.lock().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_split_partitions_and_handle_each_entry_once() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 16);
    let (ha, hb) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let (stop_a, task_a, ma) = spawn_consumer(&cfg, "a", ha.clone());
    until(10, "a owns all", || ma.partitions_owned.get() == 16).await;
    let (stop_b, task_b, mb) = spawn_consumer(&cfg, "b", hb.clone());
    until(10, "an 8/8 split", || {
        ma.partitions_owned.get() == 8 && mb.partitions_owned.get() == 8
    })
    .await;

    let producer = Producer::connect(&cfg).unwrap();
    let mut sent = Vec::new();
    for k in 0..20u128 {
        let b = batch("default", (k * 10 + 1)..(k * 10 + 11), 2);
        sent.extend(b.clone());
        producer.enqueue(b).await.unwrap();
    }
    until(15, "every span", || ha.spans() + hb.spans() == sent.len()).await;
    let all: Vec<String> = ha.keys().into_iter().chain(hb.keys()).collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a key was handled twice");
    let got: Vec<Span> = [&ha, &hb]
        .iter()
        .flat_map(|h| {
            h.calls
                .lock()
                .unwrap()
                .iter()
                .flat_map(|c| c.2.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got.len(), sent.len());
    assert_eq!(ids(&got), ids(&sent));
    // Partitions are exclusive: none was handled by both.
    let pa: HashSet<u32> = ha.calls.lock().unwrap().iter().map(|c| c.0).collect();
    let pb: HashSet<u32> = hb.calls.lock().unwrap().iter().map(|c| c.0).collect();
    assert!(pa.is_disjoint(&pb), "{pa:?} {pb:?}");
    assert!(!pa.is_empty() && !pb.is_empty());

    // When one leaves cleanly, the other takes every partition back.
    stop_b.cancel();
    task_b.await.unwrap();
    until(10, "a owns all again", || ma.partitions_owned.get() == 16).await;
    stop_a.cancel();
    task_a.await.unwrap();
}

/// Takes the first entry and never finishes it: a processor that hangs, then dies.
struct Stuck(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Handler for Stuck {
    async fn handle(&self, _: u32, key: &str, _: Vec<Span>) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(key.to_string());
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entries_are_reclaimed_after_its_lease() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 1);
    let producer = Producer::connect(&cfg).unwrap();
    let mut sent = Vec::new();
    for k in 0..3u128 {
        let b = batch("default", (k * 10 + 1)..(k * 10 + 4), 2);
        sent.extend(b.clone());
        producer.enqueue(b).await.unwrap();
    }
    let stuck = Arc::new(Stuck(Default::default()));
    let (_stop_a, task_a, _) = spawn_consumer(&cfg, "doomed", stuck.clone());
    until(10, "the stuck handle", || {
        !stuck.0.lock().unwrap().is_empty()
    })
    .await;
    // Killed mid-handle: no release, no ack; the read entries stay pending under its name.
    task_a.abort();
    let _ = task_a.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        Arc::strong_count(&stuck),
        1,
        "the partition task died with its consumer"
    );
    let first = stuck.0.lock().unwrap()[0].clone();
    assert!(r.int(&["EXISTS", &cfg.lease_key(0)]) == 1);

    let started = Instant::now();
    let h = Arc::new(Collect::default());
    let (stop_b, task_b, mb) = spawn_consumer(&cfg, "heir", h.clone());
    until(10, "every span", || h.spans() == sent.len()).await;
    // Not before the dead one's lease expired.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let keys = h.keys();
    assert_eq!(keys[0], first, "the interrupted entry is handled first");
    let sorted = {
        let mut k = keys.clone();
        k.sort_by_key(|k| {
            let id = k.split(':').nth(1).unwrap();
            let (ms, seq) = id.split_once('-').unwrap();
            (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
        });
        k
    };
    assert_eq!(keys, sorted, "stream order kept across the takeover");
    assert!(mb.reclaimed.get() >= 1);
    stop_b.cancel();
    task_b.await.unwrap();
    assert_eq!(r.int(&["XLEN", &cfg.stream(0)]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_in_order_and_nothing_is_acked_meanwhile() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 1);
    let producer = Producer::connect(&cfg).unwrap();
    let (first, second) = (batch("default", 1..3, 1), batch("default", 3..5, 1));
    producer.enqueue(first.clone()).await.unwrap();
    producer.enqueue(second.clone()).await.unwrap();
    let h = Arc::new(Collect::failing(3));
    let (stop, task, m) = spawn_consumer(&cfg, "p", h.clone());
    until(10, "a failure", || m.handler_failures.get() >= 1).await;
    let pending = r.cmd(&["XPENDING", &cfg.stream(0), &cfg.group]);
    let redis::Value::Array(p) = pending else {
        panic!("{pending:?}")
    };
    assert!(matches!(p[0], redis::Value::Int(n) if n >= 1), "{p:?}");
    assert_eq!(
        r.int(&["XLEN", &cfg.stream(0)]),
        2,
        "nothing acked or deleted"
    );
    assert!(h.calls.lock().unwrap().is_empty());
    // Both entries were read together, so they are one batch, handled (after three failures)
    // in stream order under a key naming the first and the last.
    until(10, "both entries", || h.spans() == 4).await;
    assert_eq!(m.handler_failures.get(), 3);
    let calls = h.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{:?}", h.keys());
    assert!(calls[0].1.contains(".."), "{}", calls[0].1);
    let sent: Vec<Span> = first.into_iter().chain(second).collect();
    assert_eq!(calls[0].2, sent);
    assert_eq!(m.entries_handled.get(), 2);
    stop.cancel();
    task.await.unwrap();
    assert_eq!(r.int(&["XLEN", &cfg.stream(0)]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_entries_go_to_the_dead_letter_stream() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 1);
    r.cmd(&["XADD", &cfg.stream(0), "*", "d", "\u{1}garbage"]);
    r.cmd(&["XADD", &cfg.stream(0), "*", "x", "no d field"]);
    let producer = Producer::connect(&cfg).unwrap();
    let good = batch("default", 1..3, 2);
    producer.enqueue(good.clone()).await.unwrap();
    let h = Arc::new(Collect::default());
    let (stop, task, m) = spawn_consumer(&cfg, "p", h.clone());
    until(10, "the good entry", || h.spans() == good.len()).await;
    assert_eq!(m.dead_lettered.get(), 2);
    assert_eq!(r.int(&["XLEN", &cfg.dead_stream()]), 2);
    let dead = r.cmd(&["XRANGE", &cfg.dead_stream(), "-", "+"]);
    let text = format!("{dead:?}");
    assert!(
        text.contains("undecodable") || text.contains("error"),
        "{text}"
    );
    stop.cancel();
    task.await.unwrap();
    assert_eq!(r.int(&["XLEN", &cfg.stream(0)]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_unavailable_and_nothing_acknowledged_is_lost() {
    let Some(mut r) = redis(true) else { return };
    let cfg = config(&r, 2);
    let producer = Arc::new(Producer::connect(&cfg).unwrap());
    let before = batch("default", 1..6, 2);
    producer.enqueue(before.clone()).await.unwrap();

    r.kill();
    let started = Instant::now();
    let err = producer
        .enqueue(batch("default", 6..8, 1))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            QueueError::Unavailable {
                retry_after_secs: 1
            }
        ),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert!(producer.ping().await.is_err());

    r.start();
    let after = batch("default", 8..12, 2);
    producer.enqueue(after.clone()).await.unwrap();

    let h = Arc::new(Collect::default());
    let (stop, task, _) = spawn_consumer(&cfg, "p", h.clone());
    let want = before.len() + after.len();
    until(10, "spans from before and after the crash", || {
        h.spans() == want
    })
    .await;

    // The consumer rides out an outage too.
    r.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.start();
    let later = batch("default", 12..16, 2);
    producer.enqueue(later.clone()).await.unwrap();
    until(15, "spans after the consumer's outage", || {
        h.spans() == want + later.len()
    })
    .await;
    let got: Vec<Span> = h
        .calls
        .lock()
        .unwrap()
        .iter()
        .flat_map(|c| c.2.clone())
        .collect();
    let mut sent = before;
    sent.extend(after);
    sent.extend(later);
    assert_eq!(ids(&got), ids(&sent));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_starts_without_redis_and_bounds_what_waits() {
    let Some(mut r) = redis(false) else { return };
    let mut cfg = config(&r, 2);
    cfg.max_pending_bytes = 1024;
    r.kill();
    // Connecting is lazy: an ingest node starts while Redis is down.
    let producer = Arc::new(Producer::connect(&cfg).unwrap());
    let p2 = producer.clone();
    let waiting = tokio::spawn(async move { p2.enqueue(batch("default", 1..3, 1)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let err = producer
        .enqueue(batch("default", 3..5, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "refused at once"
    );
    assert!(matches!(
        waiting.await.unwrap(),
        Err(QueueError::Unavailable { .. })
    ));
    assert_eq!(producer.metrics().enqueue_unavailable.get(), 2);
    assert_eq!(producer.metrics().pending_bytes.get(), 0);
    r.start();
    producer.enqueue(batch("default", 5..7, 1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_publish_and_read() {
    let Some(r) = redis(false) else { return };
    let cfg = config(&r, 1);
    let publisher = LivePublisher::new(&cfg).unwrap();
    // Published before the reader starts: not replayed.
    publisher
        .publish(&Batch::from(batch("default", 90..91, 1)))
        .await;
    let (tx, mut rx) = tokio::sync::broadcast::channel(16);
    let stop = CancellationToken::new();
    let reader = {
        let (cfg, stop) = (cfg.clone(), stop.clone());
        tokio::spawn(async move { LiveReader::run(&cfg, tx, stop).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b1 = Batch::from(batch("acme", 1..3, 2));
    let b2 = Batch::from(batch("default", 3..4, 1));
    publisher.publish(&b1).await;
    publisher.publish(&b2).await;
    let got1 = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let got2 = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*got1, b1);
    assert_eq!(*got2, b2);
    stop.cancel();
    reader.await.unwrap().unwrap();
}

/// `cargo test --release -p spyglass-queue --test queue -- --ignored --nocapture throughput`
/// Without AOF, then with `appendfsync always` (what scale-out deployments should run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn enqueue_throughput() {
    for aof in [false, true] {
        let Some(r) = redis(aof) else { return };
        let cfg = config(&r, 16);
        let producer = Arc::new(Producer::connect(&cfg).unwrap());
        let template = batch("default", 1..101, 5);
        let bytes = spyglass_queue::encode_spans(&template).len();
        println!(
            "batch: {} spans, {} encoded bytes ({} B/span)",
            template.len(),
            bytes,
            bytes / template.len()
        );
        for concurrency in [1usize, 4] {
            let batches = 200;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (p, t) = (producer.clone(), template.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..batches / concurrency {
                        p.enqueue(t.clone()).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            let spans = (batches * template.len()) as f64;
            println!(
                "aof always: {aof}, concurrency {concurrency}: {:.0} spans/s ({:.1} MB/s encoded)",
                spans / secs,
                batches as f64 * bytes as f64 / secs / 1e6
            );
            r.cmd(&["FLUSHALL"]);
        }
    }
}
