//! The writer's view of recent traces: each trace's span contributions (so summaries stay
//! exact when spans are re-delivered), bounded by a span budget with least-recently-written
//! eviction, plus a bloom filter of every trace ever written so that a brand-new trace (the
//! common case) never costs a database lookup.

use crate::Seeded;
use crate::summary::TraceState;
use spyglass_model::TraceId;
use std::collections::{HashMap, VecDeque};

pub struct Entry {
    pub state: TraceState,
    generation: u64,
}

pub struct TraceCache {
    projects: HashMap<String, HashMap<TraceId, Entry, Seeded>, Seeded>,
    order: VecDeque<(String, TraceId, u64)>,
    spans: usize,
    max_spans: usize,
    generation: u64,
    pub bloom: Bloom,
}

impl TraceCache {
    pub fn new(max_spans: usize) -> Self {
        TraceCache {
            projects: HashMap::default(),
            order: VecDeque::new(),
            spans: 0,
            max_spans,
            generation: 0,
            bloom: Bloom::with_bits(1 << 24),
        }
    }

    pub fn get_mut(&mut self, project: &str, trace: TraceId) -> Option<&mut Entry> {
        self.projects.get_mut(project)?.get_mut(&trace)
    }

    pub fn contains(&self, project: &str, trace: TraceId) -> bool {
        self.projects
            .get(project)
            .is_some_and(|m| m.contains_key(&trace))
    }

    pub fn insert(&mut self, project: &str, trace: TraceId, state: TraceState) {
        self.spans += state.len();
        let m = self.projects.entry(project.to_string()).or_default();
        if let Some(old) = m.insert(
            trace,
            Entry {
                state,
                generation: 0,
            },
        ) {
            self.spans -= old.state.len();
        }
    }

    pub fn remove(&mut self, project: &str, trace: TraceId) {
        if let Some(m) = self.projects.get_mut(project)
            && let Some(e) = m.remove(&trace)
        {
            self.spans -= e.state.len();
        }
    }

    /// Forgets the project's traces whose every span started before `cutoff_ns` (retention
    /// deleted them); returns how many.
    pub fn forget_older(&mut self, project: &str, cutoff_ns: i64) -> usize {
        let old: Vec<TraceId> = self.projects.get(project).map_or_else(Vec::new, |m| {
            m.iter()
                .filter(|(_, e)| e.state.spans.values().all(|c| c.start_ns < cutoff_ns))
                .map(|(t, _)| *t)
                .collect()
        });
        for t in &old {
            self.remove(project, *t);
        }
        old.len()
    }

    /// Records that a trace was written (its span count may have changed) and evicts the
    /// least recently written traces beyond the budget. `before` is its span count before.
    pub fn touched(&mut self, project: &str, trace: TraceId, before: usize) {
        self.generation += 1;
        let g = self.generation;
        if let Some(e) = self.get_mut(project, trace) {
            e.generation = g;
            let after = e.state.len();
            self.spans = self.spans + after - before;
            self.order.push_back((project.to_string(), trace, g));
        }
        while self.spans > self.max_spans {
            let Some((p, t, g)) = self.order.pop_front() else {
                break;
            };
            let current = self
                .projects
                .get(&p)
                .and_then(|m| m.get(&t))
                .map(|e| e.generation);
            if current == Some(g) {
                self.remove(&p, t);
            }
        }
        // Stale queue entries (re-touched traces) are skipped above; keep the queue bounded.
        if self.order.len() > 4 * self.max_spans.max(1024) {
            let projects = &self.projects;
            self.order.retain(|(p, t, g)| {
                projects
                    .get(p)
                    .and_then(|m| m.get(t))
                    .is_some_and(|e| e.generation == *g)
            });
        }
    }

    pub fn span_count(&self) -> usize {
        self.spans
    }
}

/// Key of a (project, trace) pair for the bloom filter.
pub fn bloom_key(project: &str, trace: TraceId) -> (u64, u64) {
    // FNV-1a over the project, mixed into the (already random) trace id halves.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in project.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let v = trace.as_u128();
    let a = (v as u64) ^ h;
    let b = ((v >> 64) as u64).rotate_left(17) ^ h.rotate_left(31) | 1;
    (a, b)
}

/// A bloom filter that doubles when it fills (the caller re-inserts every key).
pub struct Bloom {
    bits: Vec<u64>,
    mask: u64,
    count: usize,
}

const HASHES: u64 = 5;

impl Bloom {
    pub fn with_bits(bits: usize) -> Self {
        let bits = bits.next_power_of_two().max(1024);
        Bloom {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
            count: 0,
        }
    }

    pub fn insert(&mut self, (a, b): (u64, u64)) {
        for i in 0..HASHES {
            let bit = a.wrapping_add(i.wrapping_mul(b)) & self.mask;
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.count += 1;
    }

    pub fn may_contain(&self, (a, b): (u64, u64)) -> bool {
        (0..HASHES).all(|i| {
            let bit = a.wrapping_add(i.wrapping_mul(b)) & self.mask;
            self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
    }

    /// More than one key per 10 bits pushes the false-positive rate past ~1%.
    pub fn is_full(&self) -> bool {
        self.count * 10 > self.bits.len() * 64
    }

    pub fn bit_len(&self) -> usize {
        self.bits.len() * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_bits(1 << 16);
        for i in 1..=5000u128 {
            b.insert(bloom_key("p", TraceId::from_u128(i * 0x9e3779b97f4a7c15)));
        }
        for i in 1..=5000u128 {
            assert!(b.may_contain(bloom_key("p", TraceId::from_u128(i * 0x9e3779b97f4a7c15))));
        }
        let fp = (5001..=15000u128)
            .filter(|i| b.may_contain(bloom_key("p", TraceId::from_u128(i * 0x9e3779b97f4a7c15))))
            .count();
        assert!(fp < 300, "false positives {fp}");
        assert!(
            !b.may_contain(bloom_key("other", TraceId::from_u128(0x9e3779b97f4a7c15))) || fp > 0
        );
    }

    #[test]
    fn cache_evicts_least_recently_written() {
        use crate::summary::Contribution;
        use spyglass_model::{Span, SpanId};
        let mut c = TraceCache::new(3);
        for t in 1..=3u128 {
            let mut st = TraceState::default();
            let s = Span::new(TraceId::from_u128(t), SpanId::from_u64(1), "s", 1);
            st.apply(s.span_id, Contribution::of(&s));
            c.insert("p", TraceId::from_u128(t), st);
            c.touched("p", TraceId::from_u128(t), 1);
        }
        assert_eq!(c.span_count(), 3);
        // Touch trace 1 again, then add a fourth: trace 2 is the least recent and goes.
        c.touched("p", TraceId::from_u128(1), 1);
        let mut st = TraceState::default();
        let s = Span::new(TraceId::from_u128(4), SpanId::from_u64(1), "s", 1);
        st.apply(s.span_id, Contribution::of(&s));
        c.insert("p", TraceId::from_u128(4), st);
        c.touched("p", TraceId::from_u128(4), 1);
        assert!(c.contains("p", TraceId::from_u128(1)));
        assert!(!c.contains("p", TraceId::from_u128(2)));
        assert_eq!(c.span_count(), 3);
    }
}
