//! An exporter's buffer between the live stream and its sender, bounded in spans. Adding never
//! waits: what does not fit is dropped and counted, so a slow or dead backend costs ingest
//! nothing. The queue holds shared batches and span ranges, never copies of spans.

use prometheus_client::metrics::gauge::Gauge;
use spyglass_store::Batch;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Spans `range` of a committed batch.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub batch: Arc<Batch>,
    pub range: Range<usize>,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.range.len()
    }
}

pub struct Queue {
    state: Mutex<State>,
    notify: Notify,
    max_spans: usize,
    gauge: Gauge,
}

#[derive(Default)]
struct State {
    /// Each chunk with when it was queued.
    chunks: VecDeque<(Chunk, Instant)>,
    spans: usize,
}

impl Queue {
    /// `gauge` follows the number of queued spans.
    pub fn new(max_spans: usize, gauge: Gauge) -> Self {
        Queue {
            state: Mutex::default(),
            notify: Notify::new(),
            max_spans,
            gauge,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement, so a panic elsewhere cannot leave it
        // half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the batch's spans that fit; returns how many did not.
    pub fn push(&self, batch: &Arc<Batch>) -> usize {
        let n = batch.spans.len();
        let taken = {
            let mut s = self.state();
            let taken = n.min(self.max_spans.saturating_sub(s.spans));
            if taken > 0 {
                s.chunks.push_back((
                    Chunk {
                        batch: batch.clone(),
                        range: 0..taken,
                    },
                    Instant::now(),
                ));
                s.spans += taken;
                self.gauge.set(s.spans as i64);
            }
            taken
        };
        if taken > 0 {
            self.notify.notify_one();
        }
        n - taken
    }

    /// Spans queued.
    pub fn len(&self) -> usize {
        self.state().spans
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns once `max` spans are queued or the oldest queued span has waited `linger`.
    pub async fn ready(&self, max: usize, linger: Duration) {
        loop {
            let notified = self.notify.notified();
            let deadline = {
                let s = self.state();
                if s.spans >= max {
                    return;
                }
                s.chunks.front().map(|(_, at)| *at + linger)
            };
            match deadline {
                Some(d) if d <= Instant::now() => return,
                Some(d) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(d) => return,
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Takes up to `max` spans from the front, splitting a chunk where needed.
    pub fn pop(&self, max: usize) -> Vec<Chunk> {
        let mut s = self.state();
        let mut out = Vec::new();
        let mut left = max;
        while left > 0 {
            let Some((front, _)) = s.chunks.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                let (chunk, _) = s.chunks.pop_front().expect("front exists");
                out.push(chunk);
            } else {
                let split = front.range.start + left;
                out.push(Chunk {
                    batch: front.batch.clone(),
                    range: front.range.start..split,
                });
                front.range.start = split;
                left = 0;
            }
        }
        s.spans -= max - left;
        self.gauge.set(s.spans as i64);
        out
    }

    /// Empties the queue; returns how many spans it held.
    pub fn clear(&self) -> usize {
        let mut s = self.state();
        let n = s.spans;
        s.chunks.clear();
        s.spans = 0;
        self.gauge.set(0);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::{Span, SpanId, TraceId};

    fn batch(n: usize) -> Arc<Batch> {
        Arc::new(Batch::from(
            (0..n)
                .map(|i| {
                    Span::new(
                        TraceId::from_u128(1),
                        SpanId::from_u64(i as u64 + 1),
                        "s",
                        1,
                    )
                })
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn a_full_queue_takes_what_fits_and_reports_the_rest() {
        let gauge = Gauge::default();
        let q = Queue::new(10, gauge.clone());
        assert_eq!(q.push(&batch(4)), 0);
        assert_eq!(q.push(&batch(8)), 2);
        assert_eq!(q.push(&batch(3)), 3);
        assert_eq!((q.len(), gauge.get()), (10, 10));
        let first = q.pop(6);
        let ranges: Vec<_> = first.iter().map(|c| c.range.clone()).collect();
        assert_eq!(ranges, [0..4, 0..2]);
        assert_eq!((q.len(), gauge.get()), (4, 4));
        assert_eq!(q.push(&batch(5)), 0, "room again after a pop");
        let rest = q.pop(100);
        let ranges: Vec<_> = rest.iter().map(|c| c.range.clone()).collect();
        assert_eq!(ranges, [2..6, 0..5]);
        assert!(q.is_empty());
        assert!(q.pop(5).is_empty());
    }

    #[tokio::test]
    async fn ready_waits_for_a_full_batch_or_the_linger() {
        let q = Arc::new(Queue::new(100, Gauge::default()));
        let linger = Duration::from_millis(200);
        q.push(&batch(3));
        let started = Instant::now();
        q.ready(10, linger).await;
        let waited = started.elapsed();
        assert!(
            waited >= linger && waited < 10 * linger,
            "{waited:?}: a partial batch waits out the linger"
        );
        q.pop(10);

        let linger = Duration::from_secs(30);
        let waiter = tokio::spawn({
            let q = q.clone();
            async move {
                let started = Instant::now();
                q.ready(10, linger).await;
                started.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.push(&batch(4));
        q.push(&batch(6));
        let waited = waiter.await.unwrap();
        assert!(
            waited < Duration::from_secs(5),
            "{waited:?}: a full batch goes at once"
        );
    }

    #[test]
    fn clear_counts_what_it_drops() {
        let q = Queue::new(10, Gauge::default());
        q.push(&batch(7));
        assert_eq!(q.clear(), 7);
        assert!(q.is_empty());
    }
}
