//! Per-minute rollups kept current on ingest: project × minute × service × agent × caller ×
//! model × tool × kind × error, with counts, a latency sketch, tokens by type and cost. Only
//! finished spans count, each once: the writer already knows, per trace, which version of each
//! span it holds (see `summary`). What a trace contributes depends on the whole trace (the
//! agent a span runs in is its nearest agent ancestor's, which may arrive later; a wrapper's
//! usage repeats its children's), so the writer derives a touched trace's contribution before
//! and after a commit and stores the difference. Pure; backends store the deltas and merge
//! them. The topology and the agent inventory are views of the same rows.

use crate::sketch::Sketch;
use crate::summary::{Contribution, TraceState};
use spyglass_model::{SpanId, SpanKind};
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
    /// The agent the span runs in: its own name for an agent span; for another span its
    /// `agent_name`, else its nearest agent ancestor's.
    pub agent_name: Option<String>,
    /// For an agent span: the agent that invoked it (its nearest ancestor agent of another
    /// name); `None` for a top-level agent and for every other span.
    pub caller: Option<String>,
    pub model: Option<String>,
    pub tool_name: Option<String>,
    pub kind: SpanKind,
    pub is_error: bool,
}

impl RollupKey {
    pub fn of(
        project: &Arc<str>,
        c: &Contribution,
        agent_name: Option<String>,
        caller: Option<String>,
    ) -> Self {
        RollupKey {
            project_id: project.clone(),
            minute_ns: c.start_ns.div_euclid(MINUTE_NS) * MINUTE_NS,
            service_name: c.service_name.clone(),
            agent_name,
            caller,
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
        for s in [&self.agent_name, &self.caller, &self.model, &self.tool_name] {
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
    /// Adds a finished span; `usage` false leaves its tokens and cost out (a wrapper's).
    pub fn add(&mut self, c: &Contribution, usage: bool) {
        let duration = c.end_ns.map_or(0, |e| (e - c.start_ns).max(0));
        self.count += 1;
        self.errors += c.is_error as i64;
        self.duration_ns += duration;
        self.latency.add(duration as f64, 1);
        if !usage {
            return;
        }
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
            *sum += v.unwrap_or(0);
        }
        if let Some(cost) = c.cost_usd {
            self.cost_nano_usd += (cost * NANO_USD).round() as i64;
            self.priced += 1;
        }
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

    /// Takes `o` out (the contribution a trace had before a commit).
    pub fn subtract(&mut self, o: &RollupAgg) {
        self.count -= o.count;
        self.errors -= o.errors;
        self.duration_ns -= o.duration_ns;
        for (a, b) in self.tokens.iter_mut().zip(o.tokens) {
            *a -= b;
        }
        self.cost_nano_usd -= o.cost_nano_usd;
        self.priced -= o.priced;
        self.latency.subtract(&o.latency);
    }

    pub fn is_zero(&self) -> bool {
        *self == RollupAgg::default()
    }

    pub fn cost_usd(&self) -> Option<f64> {
        (self.priced > 0).then(|| self.cost_nano_usd as f64 / NANO_USD)
    }
}

/// What a trace contributes to the rollups.
pub type Derived = HashMap<RollupKey, RollupAgg, crate::Seeded>;

/// Spans followed up a parent chain at most (a cycle of forged parent ids must end).
const MAX_DEPTH: usize = 256;

/// An agent span's name for the inventory: its agent name, else the span's name.
pub(crate) fn agent_label(c: &Contribution) -> &str {
    c.agent_name.as_deref().unwrap_or(&c.name)
}

/// The nearest agent above `parent` whose label is not `skip`.
pub(crate) fn nearest_agent<'a>(
    state: &'a TraceState,
    mut parent: Option<SpanId>,
    skip: Option<&str>,
) -> Option<&'a str> {
    for _ in 0..MAX_DEPTH {
        let c = state.spans.get(&parent?)?;
        if c.kind == SpanKind::Agent {
            let label = agent_label(c);
            if Some(label) != skip {
                return Some(label);
            }
        }
        parent = c.parent;
    }
    None
}

/// The agent a span runs in, and for an agent span the agent that invoked it.
pub fn attribution(state: &TraceState, c: &Contribution) -> (Option<String>, Option<String>) {
    if c.kind == SpanKind::Agent {
        let label = agent_label(c);
        let caller = nearest_agent(state, c.parent, Some(label)).map(str::to_string);
        (Some(label.to_string()), caller)
    } else {
        let agent = c
            .agent_name
            .clone()
            .or_else(|| nearest_agent(state, c.parent, None).map(str::to_string));
        (agent, None)
    }
}

/// Everything a trace's finished spans contribute, as it stands.
pub fn derive(project: &Arc<str>, state: &TraceState) -> Derived {
    let wrappers = state.usage_wrappers();
    let mut out = Derived::default();
    for (id, c) in state.spans.iter().filter(|(_, c)| c.finished) {
        let (agent, caller) = attribution(state, c);
        out.entry(RollupKey::of(project, c, agent, caller))
            .or_default()
            .add(c, !wrappers.contains(id));
    }
    out
}

/// The rollup deltas of one commit.
#[derive(Debug, Default)]
pub struct RollupDeltas {
    pub rows: HashMap<RollupKey, RollupAgg, crate::Seeded>,
}

impl RollupDeltas {
    /// Records a trace's change: what it contributes now less what it did before.
    pub fn change(&mut self, before: Derived, after: &Derived) {
        for (k, a) in after {
            self.rows.entry(k.clone()).or_default().merge(a);
        }
        for (k, b) in before {
            self.rows.entry(k).or_default().subtract(&b);
        }
    }

    /// The non-zero deltas (a trace re-sent unchanged nets out).
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
            system_prompt_hash: None,
        }
    }

    fn span_id(n: u64) -> SpanId {
        SpanId::from_u64(n)
    }

    fn state(spans: Vec<(u64, Contribution)>) -> TraceState {
        let mut st = TraceState::default();
        for (id, c) in spans {
            st.apply(span_id(id), c);
        }
        st
    }

    fn agent(name: &str, parent: Option<u64>) -> Contribution {
        Contribution {
            kind: SpanKind::Agent,
            name: format!("invoke_agent {name}"),
            agent_name: Some(name.into()),
            parent: parent.map(span_id),
            model: None,
            tokens: Tokens::default(),
            ..contribution(0, Some(10), None)
        }
    }

    fn child(kind: SpanKind, parent: u64) -> Contribution {
        Contribution {
            kind,
            agent_name: None,
            parent: Some(span_id(parent)),
            ..contribution(0, Some(10), Some(0.5))
        }
    }

    #[test]
    fn a_resent_trace_nets_out_and_a_running_span_counts_nothing() {
        let p: Arc<str> = "p".into();
        let running = contribution(MINUTE_NS + 5, None, None);
        let done = contribution(MINUTE_NS + 5, Some(MINUTE_NS + 1_000_005), Some(0.001));
        let mut d = RollupDeltas::default();
        let st = state(vec![(1, running)]);
        assert!(derive(&p, &st).is_empty());
        let before = derive(&p, &st);
        let st = state(vec![(1, done.clone())]);
        d.change(before, &derive(&p, &st));
        d.change(derive(&p, &st), &derive(&p, &st));
        let rows = d.into_rows();
        assert_eq!(rows.len(), 1);
        let (k, a) = &rows[0];
        assert_eq!(k.minute_ns, MINUTE_NS);
        assert_eq!((a.count, a.tokens[5], a.priced), (1, 15, 1));
        assert_eq!(a.cost_usd(), Some(0.001));
        assert_eq!(a.latency.count(), 1);
    }

    #[test]
    fn spans_run_in_their_nearest_agent_and_sub_agents_know_their_caller() {
        let p: Arc<str> = "p".into();
        // planner → researcher (sub-agent) → search tool and an LLM call; a chain in between.
        let chain = Contribution {
            kind: SpanKind::Chain,
            agent_name: None,
            parent: Some(span_id(2)),
            model: None,
            ..contribution(0, Some(10), None)
        };
        let mut tool = child(SpanKind::Tool, 3);
        tool.tool_name = Some("search".into());
        tool.model = None;
        let st = state(vec![
            (1, agent("planner", None)),
            (2, agent("researcher", Some(1))),
            (3, chain),
            (4, tool),
            (5, child(SpanKind::Llm, 2)),
        ]);
        let d = derive(&p, &st);
        let mut got: Vec<(SpanKind, Option<&str>, Option<&str>)> = d
            .keys()
            .map(|k| (k.kind, k.agent_name.as_deref(), k.caller.as_deref()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (SpanKind::Agent, Some("planner"), None),
                (SpanKind::Agent, Some("researcher"), Some("planner")),
                (SpanKind::Chain, Some("researcher"), None),
                (SpanKind::Llm, Some("researcher"), None),
                (SpanKind::Tool, Some("researcher"), None),
            ]
        );
    }

    #[test]
    fn a_late_parent_moves_its_children_to_its_agent() {
        let p: Arc<str> = "p".into();
        let mut st = state(vec![(5, child(SpanKind::Llm, 2))]);
        let before = derive(&p, &st);
        assert_eq!(before.keys().next().unwrap().agent_name, None);
        st.apply(span_id(2), agent("coder", None));
        let mut d = RollupDeltas::default();
        d.change(before, &derive(&p, &st));
        let mut rows: Vec<(Option<String>, SpanKind, i64)> = d
            .into_rows()
            .into_iter()
            .map(|(k, a)| (k.agent_name, k.kind, a.count))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                (None, SpanKind::Llm, -1),
                (Some("coder".into()), SpanKind::Agent, 1),
                (Some("coder".into()), SpanKind::Llm, 1),
            ]
        );
    }

    #[test]
    fn a_wrapper_counts_as_a_span_but_not_its_usage_again() {
        let p: Arc<str> = "p".into();
        let st = state(vec![
            (1, contribution(0, Some(10), Some(0.5))),
            (
                2,
                Contribution {
                    parent: Some(span_id(1)),
                    ..contribution(0, Some(5), Some(0.5))
                },
            ),
        ]);
        let d = derive(&p, &st);
        let total = d.values().fold(RollupAgg::default(), |mut a, b| {
            a.merge(b);
            a
        });
        assert_eq!((total.count, total.tokens[5], total.priced), (2, 15, 1));
    }

    #[test]
    fn dims_id_separates_fields() {
        let p: Arc<str> = "p".into();
        let mut a = RollupKey::of(&p, &contribution(0, Some(1), None), None, None);
        let mut b = a.clone();
        a.agent_name = Some("ab".into());
        a.model = Some("c".into());
        b.agent_name = Some("a".into());
        b.model = Some("bc".into());
        assert_ne!(a.dims_id(), b.dims_id());
        b.model = None;
        b.tool_name = Some("bc".into());
        assert_ne!(a.dims_id(), b.dims_id());
        let (mut c, mut e) = (a.clone(), a.clone());
        c.caller = Some("x".into());
        e.agent_name = None;
        e.caller = Some("ab".into());
        assert_ne!(c.dims_id(), a.dims_id());
        assert_ne!(e.dims_id(), a.dims_id());
    }
}
