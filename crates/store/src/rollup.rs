//! Per-minute rollups kept current on ingest: project × minute × service × agent × model ×
//! tool × kind × error, with counts, a latency sketch, tokens by type and cost. Only finished
//! spans count, each once: the writer already knows, per trace, which version of a span it
//! holds (see `summary`), so when a newer version replaces an older one the rollup delta takes
//! the old version's contribution out and puts the new one in. Pure; backends store the
//! deltas and merge them.

use crate::sketch::Sketch;
use crate::summary::Contribution;
use spyglass_model::SpanKind;
use std::collections::HashMap;
use std::sync::Arc;

pub const MINUTE_NS: i64 = 60_000_000_000;

/// Costs are summed in nano-dollars: integers, so taking a contribution back out restores
/// the sum exactly (floating-point sums would drift).
pub const NANO_USD: f64 = 1e9;

/// The dimensions of a rollup row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollupKey {
    pub project_id: Arc<str>,
    pub minute_ns: i64,
    pub service_name: Arc<str>,
    pub agent_name: Option<String>,
    pub model: Option<String>,
    pub tool_name: Option<String>,
    pub kind: SpanKind,
    pub is_error: bool,
}

impl RollupKey {
    pub fn of(project: &Arc<str>, c: &Contribution) -> Self {
        RollupKey {
            project_id: project.clone(),
            minute_ns: c.start_ns.div_euclid(MINUTE_NS) * MINUTE_NS,
            service_name: c.service_name.clone(),
            agent_name: c.agent_name.clone(),
            model: c.model.clone(),
            tool_name: c.tool_name.clone(),
            kind: c.kind,
            is_error: c.is_error,
        }
    }

    /// A stable hash of the dimensions (FNV-1a), so a compaction can find the rows of one key
    /// without comparing nullable strings.
    pub fn dims_id(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= *b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            // A separator no UTF-8 string contains, so ("ab", "c") and ("a", "bc") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        eat(self.service_name.as_bytes());
        for s in [&self.agent_name, &self.model, &self.tool_name] {
            match s {
                Some(s) => eat(s.as_bytes()),
                None => eat(&[0xfe]),
            }
        }
        eat(&[self.kind.code(), self.is_error as u8]);
        h
    }
}

/// Tokens in a fixed order: input, output, cache read, cache write, reasoning, total.
pub type TokenSums = [i64; 6];

/// The measures of a rollup row (or of a delta to one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupAgg {
    pub count: i64,
    pub errors: i64,
    pub duration_ns: i64,
    pub tokens: TokenSums,
    pub cost_nano_usd: i64,
    /// Spans that had a cost (a sum over none of them is "unpriced", not $0).
    pub priced: i64,
    pub latency: Sketch,
}

impl RollupAgg {
    /// Adds (`sign` 1) or takes out (`sign` -1) a finished span's contribution.
    pub fn add(&mut self, c: &Contribution, sign: i64) {
        let duration = c.end_ns.map_or(0, |e| (e - c.start_ns).max(0));
        self.count += sign;
        self.errors += sign * c.is_error as i64;
        self.duration_ns += sign * duration;
        let t = &c.tokens;
        let total = t.total.or_else(|| {
            (t.input.is_some() || t.output.is_some())
                .then(|| t.input.unwrap_or(0) + t.output.unwrap_or(0))
        });
        for (sum, v) in self.tokens.iter_mut().zip([
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
            total,
        ]) {
            *sum += sign * v.unwrap_or(0);
        }
        if let Some(cost) = c.cost_usd {
            self.cost_nano_usd += sign * (cost * NANO_USD).round() as i64;
            self.priced += sign;
        }
        self.latency.add(duration as f64, sign);
    }

    pub fn merge(&mut self, o: &RollupAgg) {
        self.count += o.count;
        self.errors += o.errors;
        self.duration_ns += o.duration_ns;
        for (a, b) in self.tokens.iter_mut().zip(o.tokens) {
            *a += b;
        }
        self.cost_nano_usd += o.cost_nano_usd;
        self.priced += o.priced;
        self.latency.merge(&o.latency);
    }

    pub fn is_zero(&self) -> bool {
        *self == RollupAgg::default()
    }

    pub fn cost_usd(&self) -> Option<f64> {
        (self.priced > 0).then(|| self.cost_nano_usd as f64 / NANO_USD)
    }
}

/// The rollup deltas of one commit.
#[derive(Debug, Default)]
pub struct RollupDeltas {
    pub rows: HashMap<RollupKey, RollupAgg, crate::Seeded>,
}

impl RollupDeltas {
    /// Records that `new` replaced `old` (or arrived first) for one span. Running versions
    /// contribute nothing: a span is counted once it has finished.
    pub fn replace(&mut self, project: &Arc<str>, old: Option<&Contribution>, new: &Contribution) {
        if let Some(old) = old.filter(|o| o.finished) {
            self.rows
                .entry(RollupKey::of(project, old))
                .or_default()
                .add(old, -1);
        }
        if new.finished {
            self.rows
                .entry(RollupKey::of(project, new))
                .or_default()
                .add(new, 1);
        }
    }

    /// The non-zero deltas (a span re-sent unchanged nets out).
    pub fn into_rows(self) -> Vec<(RollupKey, RollupAgg)> {
        self.rows
            .into_iter()
            .filter(|(_, a)| !a.is_zero())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::Tokens;

    fn contribution(start: i64, end: Option<i64>, cost: Option<f64>) -> Contribution {
        Contribution {
            finished: end.is_some(),
            received_ns: 0,
            is_root: false,
            parent: None,
            start_ns: start,
            end_ns: end,
            name: "chat".into(),
            service_name: "svc".into(),
            environment: None,
            kind: SpanKind::Llm,
            is_error: false,
            tokens: Tokens {
                input: Some(10),
                output: Some(5),
                ..Tokens::default()
            },
            cost_usd: cost,
            session_id: None,
            user_id: None,
            agent_name: Some("a".into()),
            tool_name: None,
            model: Some("gpt-4o".into()),
            input_preview: None,
            output_preview: None,
        }
    }

    #[test]
    fn a_resent_span_nets_out_and_a_running_one_counts_nothing() {
        let p: Arc<str> = "p".into();
        let mut d = RollupDeltas::default();
        let running = contribution(MINUTE_NS + 5, None, None);
        d.replace(&p, None, &running);
        assert!(d.is_empty());
        let done = contribution(MINUTE_NS + 5, Some(MINUTE_NS + 1_000_005), Some(0.001));
        d.replace(&p, Some(&running), &done);
        d.replace(&p, Some(&done), &done.clone());
        let rows = d.into_rows();
        assert_eq!(rows.len(), 1);
        let (k, a) = &rows[0];
        assert_eq!(k.minute_ns, MINUTE_NS);
        assert_eq!((a.count, a.tokens[5], a.priced), (1, 15, 1));
        assert_eq!(a.cost_usd(), Some(0.001));
        assert_eq!(a.latency.count(), 1);
    }

    #[test]
    fn dims_id_separates_fields() {
        let p: Arc<str> = "p".into();
        let mut a = RollupKey::of(&p, &contribution(0, Some(1), None));
        let mut b = a.clone();
        a.agent_name = Some("ab".into());
        a.model = Some("c".into());
        b.agent_name = Some("a".into());
        b.model = Some("bc".into());
        assert_ne!(a.dims_id(), b.dims_id());
        b.model = None;
        b.tool_name = Some("bc".into());
        assert_ne!(a.dims_id(), b.dims_id());
    }
}
