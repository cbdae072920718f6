//! Loop and runaway detection: an agent that calls the same tool with the same arguments again
//! and again, re-sends the same prompt, recurses without end, fans out without bound, or keeps
//! spending past a cap. Unlike the per-batch detectors, this needs memory across batches: the
//! spans of one trace arrive over many requests, out of order, and often twice (running, then
//! finished). The detector keeps a small, bounded summary per trace and reports each crossing
//! once per trace (and tool), so a trace that keeps looping does not flood the findings table.
//!
//! Memory bounds, all approximate by design (a bound that is cheap to keep beats an exact one
//! on the ingest path):
//! - at most `max_traces` traces and `max_traces` sessions, each dropped when idle for
//!   `idle_secs` or when least recently updated once the bound is reached; a trace forgotten
//!   and seen again starts from zero (and may be reported again);
//! - at most [`MAX_SPANS_PER_TRACE`] span ids per trace (spans and the parents they name). A
//!   trace that big is a runaway already; past it, new spans only extend the trace's duration,
//!   and their cost is added from finished versions without de-duplication (a retried version
//!   may count twice), so cost caps keep working.
//! - no text is kept: tool arguments and prompts are reduced to 64-bit hashes, seeded per
//!   process so that no one can craft colliding texts to merge or split another's counts.

use crate::EngineError;
use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};
use spyglass_model::{Category, Field, Finding, Severity, Span, SpanId, SpanKind, TraceId};
use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Span ids remembered per trace (the spans themselves and the parents they point to). Bounds
/// a single runaway trace to a few megabytes.
pub const MAX_SPANS_PER_TRACE: usize = 100_000;

/// Locks are per shard so concurrent ingest batches rarely wait on each other.
const MAX_SHARDS: usize = 64;
/// Fewer, fuller shards for small `max_traces`, so the per-shard share of the bound stays
/// meaningful (the bound is enforced per shard).
const MIN_ENTRIES_PER_SHARD: usize = 1024;

const NS_PER_SEC: f64 = 1e9;

/// Loop detection settings (every field optional).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopConfig {
    pub enabled: bool,
    /// Calls of one tool with identical arguments in one trace that make a loop. Agents retry,
    /// so a couple of identical calls is normal; five rarely is.
    pub tool_repeats: u32,
    /// Identical prompts (LLM span input) in one trace that make a loop: re-sending the very
    /// same context means the agent learned nothing from the previous answer.
    pub prompt_repeats: u32,
    /// Span nesting depth (the root is 1) beyond which a trace is runaway recursion. A parent
    /// that never arrives (a remote caller) still counts as one level.
    pub max_depth: u32,
    /// Children of one span beyond which a trace is a runaway fan-out.
    pub max_fanout: u32,
    /// Spend cap per trace (USD), summed over LLM, embedding and reranker spans (wrappers
    /// repeat their children's cost). Off by default: no cap suits every application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_trace_cost_usd: Option<f64>,
    /// Wall-time cap per trace (first start to last end). Off by default, like the cost cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_trace_duration_secs: Option<f64>,
    /// Traces (and, separately, sessions) kept in memory; the least recently updated are
    /// forgotten beyond it. Bounds memory whatever the traffic.
    pub max_traces: usize,
    /// A trace (or session) not updated for this long is forgotten: agent runs are minutes,
    /// so half an hour of silence means it is over.
    pub idle_secs: u64,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            enabled: true,
            tool_repeats: 5,
            prompt_repeats: 3,
            max_depth: 32,
            max_fanout: 200,
            max_trace_cost_usd: None,
            max_trace_duration_secs: None,
            max_traces: 100_000,
            idle_secs: 1800,
        }
    }
}

/// What is known about a trace so far; the guard API compares it with its caps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TraceUsage {
    pub cost_usd: f64,
    /// Distinct spans seen (past [`MAX_SPANS_PER_TRACE`]: plus finished versions).
    pub spans: u64,
    /// Most calls of one tool with identical arguments.
    pub max_tool_repeats: u32,
    /// Most sends of one identical prompt.
    pub max_prompt_repeats: u32,
    /// Deepest known nesting (the root is 1; a parent not received counts as a level).
    pub max_depth: u32,
    pub duration_secs: f64,
}

/// Tracks traces across ingest batches and reports loops and runaways.
pub struct LoopDetector {
    cfg: LoopConfig,
    /// Shard selection and text hashes; randomly seeded per detector.
    hasher: foldhash::quality::RandomState,
    traces: Box<[Mutex<Shard<TraceKey, TraceState>>]>,
    sessions: Box<[Mutex<Shard<SessionKey, SessionState>>]>,
    /// Entries allowed per shard (traces and sessions alike).
    per_shard: usize,
    idle_ns: i64,
    /// How often a shard is swept for idle entries.
    sweep_ns: i64,
    /// Round-robin cursor: each batch also sweeps one shard it may not have touched, so idle
    /// entries do not linger in quiet shards.
    next_sweep: AtomicUsize,
}

impl LoopDetector {
    pub fn new(cfg: LoopConfig) -> Result<Self, EngineError> {
        validate(&cfg)?;
        let shards = (cfg.max_traces / MIN_ENTRIES_PER_SHARD)
            .clamp(1, MAX_SHARDS)
            .next_power_of_two()
            .min(MAX_SHARDS);
        let per_shard = (cfg.max_traces / shards).max(1);
        let idle_ns = i64::try_from(cfg.idle_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000);
        // A sweep is a scan of the shard; an eighth of the idle time (at most a minute) keeps
        // the overshoot small without scanning on every batch.
        let sweep_ns = (idle_ns / 8).clamp(1, 60_000_000_000);
        Ok(LoopDetector {
            cfg,
            hasher: foldhash::quality::RandomState::default(),
            traces: (0..shards).map(|_| Mutex::new(Shard::new())).collect(),
            sessions: (0..shards).map(|_| Mutex::new(Shard::new())).collect(),
            per_shard,
            idle_ns,
            sweep_ns,
            next_sweep: AtomicUsize::new(0),
        })
    }

    pub fn config(&self) -> &LoopConfig {
        &self.cfg
    }

    /// Observes a batch; returns (index into `spans`, Finding) for every threshold crossed by
    /// this batch, in index order. The finding belongs to the span whose arrival crossed it.
    pub fn observe(&self, spans: &[Span]) -> Vec<(usize, Finding)> {
        if !self.cfg.enabled || spans.is_empty() {
            return Vec::new();
        }
        // Ingest stamps `received_ns` with its clock; fall back to ours for spans that were not
        // stamped (tests, replays).
        let now = spans
            .iter()
            .map(|s| s.received_ns)
            .max()
            .filter(|&t| t > 0)
            .unwrap_or_else(spyglass_model::now_ns);
        let mask = self.traces.len() - 1;
        let mut order: Vec<(usize, usize)> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = self.hasher.hash_one((&*s.project_id, s.trace_id));
                (h as usize & mask, i)
            })
            .collect();
        // By shard, then by index: one lock per shard, batch order kept within a trace.
        order.sort_unstable();
        let mut out = Vec::new();
        let mut deltas = Vec::new();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let mut guard = lock(&self.traces[group[0].0]);
            let shard = &mut *guard;
            shard.advance(now);
            for &(_, i) in group {
                let span = &spans[i];
                let tick = shard.next_tick();
                let clock = shard.clock;
                let state = shard
                    .map
                    .entry((span.project_id.clone(), span.trace_id))
                    .or_insert_with(TraceState::new);
                state.touched = tick;
                state.seen_ns = clock;
                self.observe_span(state, span, i, &mut out, &mut deltas);
            }
            shard.maintain(self.per_shard, self.idle_ns, self.sweep_ns);
        }
        self.apply_session_deltas(deltas, now);
        self.sweep_one(now);
        out.sort_by_key(|(i, _)| *i);
        out
    }

    /// What is known about a trace so far, None if not tracked.
    pub fn trace_usage(&self, project: &str, trace_id: TraceId) -> Option<TraceUsage> {
        let mask = self.traces.len() - 1;
        let shard = self.hasher.hash_one((project, trace_id)) as usize & mask;
        let guard = lock(&self.traces[shard]);
        guard
            .map
            .get(&(Arc::<str>::from(project), trace_id))
            .map(TraceState::usage)
    }

    /// Sum of cost of all traces seen of a session (the session id is taken from the first
    /// span of a trace that carries one), None if unknown. Kept apart from the traces, so it
    /// survives their eviction while the session stays active.
    pub fn session_cost(&self, project: &str, session_id: &str) -> Option<f64> {
        let mask = self.sessions.len() - 1;
        let shard = self.hasher.hash_one((project, session_id)) as usize & mask;
        let guard = lock(&self.sessions[shard]);
        guard
            .map
            .get(&(Arc::<str>::from(project), Arc::<str>::from(session_id)))
            .map(|s| s.cost)
    }

    fn observe_span(
        &self,
        st: &mut TraceState,
        span: &Span,
        idx: usize,
        out: &mut Vec<(usize, Finding)>,
        deltas: &mut Vec<SessionDelta>,
    ) {
        let cfg = &self.cfg;
        if st.session.is_none()
            && let Some(s) = span.session_id.as_deref().filter(|s| !s.is_empty())
        {
            let s: Arc<str> = Arc::from(s);
            // The cost the trace ran up before its session was known belongs to it too.
            deltas.push(SessionDelta {
                project: span.project_id.clone(),
                session: s.clone(),
                cost: st.cost,
            });
            st.session = Some(s);
        }

        // Duration: min/max are idempotent, every version may extend them.
        let end = span.end_ns.unwrap_or(span.start_ns).max(span.start_ns);
        st.min_start = st.min_start.min(span.start_ns);
        st.max_end = st.max_end.max(end);
        if let Some(cap) = cfg.max_trace_duration_secs
            && !st.reported(DURATION)
        {
            let secs = st.duration_secs();
            if secs > cap {
                st.report(DURATION);
                let msg = format!("trace ran {} s (cap {} s)", num_up(secs), num(cap));
                out.push((
                    idx,
                    finding("loop.trace_duration", Severity::High, None, msg),
                ));
            }
        }

        let finished = span.end_ns.is_some();
        let cost = span
            .cost_usd
            .filter(|c| span.kind.counts_usage() && c.is_finite() && *c >= 0.0);
        let room = st.nodes.len() < MAX_SPANS_PER_TRACE;
        let (first, delta) = match st.nodes.get_mut(&span.span_id) {
            Some(node) => {
                let first = !node.present;
                node.present = true;
                (first, node.take_cost(cost, finished))
            }
            None if room => {
                let mut node = Node::new(span.span_id);
                node.present = true;
                let delta = node.take_cost(cost, finished);
                st.nodes.insert(span.span_id, node);
                (true, delta)
            }
            // Untracked: no de-duplication possible; finished versions are the ones that carry
            // the final cost.
            None if finished => {
                st.spans += 1;
                (false, cost.unwrap_or(0.0))
            }
            None => (false, 0.0),
        };

        if delta != 0.0 {
            st.cost += delta;
            if let Some(s) = &st.session {
                deltas.push(SessionDelta {
                    project: span.project_id.clone(),
                    session: s.clone(),
                    cost: delta,
                });
            }
        }
        if let Some(cap) = cfg.max_trace_cost_usd
            && !st.reported(COST)
            && st.cost > cap
        {
            st.report(COST);
            let msg = format!(
                "trace cost ${} exceeds cap ${}",
                usd_up(st.cost, cap),
                usd(cap, cap)
            );
            out.push((idx, finding("loop.trace_cost", Severity::High, None, msg)));
        }

        if first {
            st.spans += 1;
            self.first_sight(st, span, idx, out);
        }
    }

    /// Counts that must see each span once: repeats, fan-out, depth.
    fn first_sight(
        &self,
        st: &mut TraceState,
        span: &Span,
        idx: usize,
        out: &mut Vec<(usize, Finding)>,
    ) {
        let cfg = &self.cfg;
        match span.kind {
            SpanKind::Tool => {
                let tool = span.tool_name.as_deref().unwrap_or(&span.name);
                let args = span.input.as_deref().unwrap_or("");
                let n = bump(&mut st.tool_counts, self.hasher.hash_one((tool, args)));
                st.max_tool = st.max_tool.max(n);
                if n >= cfg.tool_repeats {
                    let th = self.hasher.hash_one(tool);
                    if !st.reported_tools.contains(&th) {
                        st.reported_tools.push(th);
                        let msg = format!(
                            "tool `{}` called {n} times with the same arguments",
                            short(tool)
                        );
                        let f = finding("loop.tool_repeat", Severity::Medium, Some(tool), msg);
                        out.push((idx, f));
                    }
                }
            }
            // An LLM span without captured input says nothing about its prompt: counting it
            // as "empty prompt" would call every uninstrumented agent a loop.
            SpanKind::Llm => {
                if let Some(prompt) = span.input.as_deref().filter(|p| !p.is_empty()) {
                    let n = bump(&mut st.prompt_counts, self.hasher.hash_one(prompt));
                    st.max_prompt = st.max_prompt.max(n);
                    if n >= cfg.prompt_repeats && !st.reported(PROMPT) {
                        st.report(PROMPT);
                        let msg = format!("same prompt sent {n} times");
                        out.push((
                            idx,
                            finding("loop.prompt_repeat", Severity::Medium, None, msg),
                        ));
                    }
                }
            }
            _ => {}
        }

        st.max_depth = st
            .max_depth
            .max(st.nodes.get(&span.span_id).map_or(1, |n| n.maxd));
        let Some(parent) = span.parent_span_id.filter(|p| *p != span.span_id) else {
            return;
        };
        if !st.nodes.contains_key(&parent) {
            if st.nodes.len() >= MAX_SPANS_PER_TRACE {
                return;
            }
            st.nodes.insert(parent, Node::new(parent));
        }
        let children = {
            let p = st.nodes.get_mut(&parent).expect("inserted above");
            p.children = p.children.saturating_add(1);
            p.children
        };
        if children > cfg.max_fanout && !st.reported(FANOUT) {
            st.report(FANOUT);
            let msg = format!("span has {children} children (limit {})", cfg.max_fanout);
            out.push((idx, finding("loop.fanout", Severity::Medium, None, msg)));
        }
        if st.nodes.contains_key(&span.span_id)
            && let Some(depth) = link(&mut st.nodes, span.span_id, parent)
        {
            st.max_depth = st.max_depth.max(depth);
            if depth > cfg.max_depth && !st.reported(DEPTH) {
                st.report(DEPTH);
                let msg = format!("span depth {depth} exceeds {}", cfg.max_depth);
                out.push((idx, finding("loop.depth", Severity::Medium, None, msg)));
            }
        }
    }

    fn apply_session_deltas(&self, deltas: Vec<SessionDelta>, now: i64) {
        if deltas.is_empty() {
            return;
        }
        let mask = self.sessions.len() - 1;
        let mut order: Vec<(usize, SessionDelta)> = deltas
            .into_iter()
            .map(|d| {
                let h = self.hasher.hash_one((&*d.project, &*d.session));
                (h as usize & mask, d)
            })
            .collect();
        order.sort_by_key(|(s, _)| *s);
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let mut guard = lock(&self.sessions[group[0].0]);
            let shard = &mut *guard;
            shard.advance(now);
            for (_, d) in group {
                let tick = shard.next_tick();
                let clock = shard.clock;
                let s = shard
                    .map
                    .entry((d.project.clone(), d.session.clone()))
                    .or_insert(SessionState {
                        cost: 0.0,
                        touched: 0,
                        seen_ns: 0,
                    });
                s.cost += d.cost;
                s.touched = tick;
                s.seen_ns = clock;
            }
            shard.maintain(self.per_shard, self.idle_ns, self.sweep_ns);
        }
    }

    fn sweep_one(&self, now: i64) {
        let i = self.next_sweep.fetch_add(1, Ordering::Relaxed);
        // Skip rather than wait: another batch holding the lock sweeps it anyway.
        if let Ok(mut s) = self.traces[i % self.traces.len()].try_lock() {
            s.advance(now);
            s.maintain(self.per_shard, self.idle_ns, self.sweep_ns);
        }
        if let Ok(mut s) = self.sessions[i % self.sessions.len()].try_lock() {
            s.advance(now);
            s.maintain(self.per_shard, self.idle_ns, self.sweep_ns);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let t = self.traces.iter().map(|s| lock(s).map.len()).sum();
        let s = self.sessions.iter().map(|s| lock(s).map.len()).sum();
        (t, s)
    }
}

fn validate(cfg: &LoopConfig) -> Result<(), EngineError> {
    let bad = |message: String| Err(EngineError::SecurityConfig { message });
    if cfg.tool_repeats < 2 {
        return bad("loops.tool_repeats must be at least 2".into());
    }
    if cfg.prompt_repeats < 2 {
        return bad("loops.prompt_repeats must be at least 2".into());
    }
    if cfg.max_depth < 1 {
        return bad("loops.max_depth must be at least 1".into());
    }
    if cfg.max_fanout < 1 {
        return bad("loops.max_fanout must be at least 1".into());
    }
    for (name, cap) in [
        ("max_trace_cost_usd", cfg.max_trace_cost_usd),
        ("max_trace_duration_secs", cfg.max_trace_duration_secs),
    ] {
        if let Some(c) = cap
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("loops.{name} must be a positive number"));
        }
    }
    if cfg.max_traces == 0 {
        return bad("loops.max_traces must be positive".into());
    }
    if cfg.idle_secs == 0 {
        return bad("loops.idle_secs must be positive".into());
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state is a cache of counts: after a panic elsewhere it is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn finding(
    detector: &'static str,
    severity: Severity,
    key: Option<&str>,
    evidence: String,
) -> Finding {
    Finding {
        category: Category::Loop,
        detector: Cow::Borrowed(detector),
        severity,
        score: 1.0,
        field: Field::Span,
        key: key.map(str::to_string),
        start: 0,
        end: 0,
        evidence,
        vector: None,
        encoding: None,
    }
}

fn bump(counts: &mut HashMap<u64, u32>, key: u64) -> u32 {
    let n = counts.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    *n
}

/// A tool name fit for a one-line message.
fn short(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() || c == '`' { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Up to two decimals, trailing zeros dropped: `600`, `0.5`.
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Like [`num`], rounded up, so a value just over its cap never prints as equal to it.
fn num_up(x: f64) -> String {
    num(ceil_to(x, 100.0))
}

/// Rounds up to a multiple of `1 / scale`, ignoring float noise (`1.2000000000000002`).
fn ceil_to(x: f64, scale: f64) -> f64 {
    (x * scale - 1e-6).ceil() / scale
}

/// Decimals that show a cap of this size.
fn usd_decimals(cap: f64) -> i32 {
    if cap >= 0.1 {
        2
    } else if cap >= 0.001 {
        4
    } else {
        6
    }
}

fn usd(x: f64, cap: f64) -> String {
    format!("{x:.*}", usd_decimals(cap) as usize)
}

fn usd_up(x: f64, cap: f64) -> String {
    let d = usd_decimals(cap);
    usd(ceil_to(x, 10f64.powi(d)), cap)
}

type TraceKey = (Arc<str>, TraceId);
type SessionKey = (Arc<str>, Arc<str>);

struct SessionDelta {
    project: Arc<str>,
    session: Arc<str>,
    cost: f64,
}

/// Entries that can be evicted: by last update (a per-shard counter) and by idle time.
trait Aged {
    fn touched(&self) -> u64;
    fn seen_ns(&self) -> i64;
}

struct Shard<K, V> {
    map: HashMap<K, V>,
    tick: u64,
    /// Latest time seen (ns); never goes back, so one late batch cannot revive idle entries.
    clock: i64,
    last_sweep: i64,
}

impl<K: Hash + Eq, V: Aged> Shard<K, V> {
    fn new() -> Self {
        Shard {
            map: HashMap::new(),
            tick: 0,
            clock: i64::MIN,
            last_sweep: i64::MIN,
        }
    }

    fn advance(&mut self, now: i64) {
        self.clock = self.clock.max(now);
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Drops idle entries (when a sweep is due) and, over `cap`, the least recently updated,
    /// down to 1% under it, so the scan runs once per ~1% of new entries, not on every one.
    fn maintain(&mut self, cap: usize, idle_ns: i64, sweep_ns: i64) {
        let clock = self.clock;
        if clock.saturating_sub(self.last_sweep) >= sweep_ns {
            self.map
                .retain(|_, v| clock.saturating_sub(v.seen_ns()) <= idle_ns);
            self.last_sweep = clock;
        }
        if self.map.len() > cap {
            let target = cap - cap / 100;
            let excess = self.map.len() - target;
            let mut ages: Vec<u64> = self.map.values().map(V::touched).collect();
            // Ticks are unique per shard, so exactly `excess` entries are at or below it.
            let cutoff = *ages.select_nth_unstable(excess - 1).1;
            self.map.retain(|_, v| v.touched() > cutoff);
        }
    }
}

struct SessionState {
    cost: f64,
    touched: u64,
    seen_ns: i64,
}

impl Aged for SessionState {
    fn touched(&self) -> u64 {
        self.touched
    }
    fn seen_ns(&self) -> i64 {
        self.seen_ns
    }
}

const PROMPT: u8 = 1;
const DEPTH: u8 = 2;
const FANOUT: u8 = 4;
const COST: u8 = 8;
const DURATION: u8 = 16;

struct TraceState {
    touched: u64,
    seen_ns: i64,
    /// Spans seen, and parents named by them that have not arrived (yet).
    nodes: HashMap<SpanId, Node>,
    spans: u64,
    tool_counts: HashMap<u64, u32>,
    prompt_counts: HashMap<u64, u32>,
    /// Hashes of the tool names already reported.
    reported_tools: Vec<u64>,
    /// Detectors already reported (bits above).
    reported: u8,
    cost: f64,
    min_start: i64,
    max_end: i64,
    max_depth: u32,
    max_tool: u32,
    max_prompt: u32,
    session: Option<Arc<str>>,
}

impl Aged for TraceState {
    fn touched(&self) -> u64 {
        self.touched
    }
    fn seen_ns(&self) -> i64 {
        self.seen_ns
    }
}

impl TraceState {
    fn new() -> Self {
        TraceState {
            touched: 0,
            seen_ns: 0,
            nodes: HashMap::new(),
            spans: 0,
            tool_counts: HashMap::new(),
            prompt_counts: HashMap::new(),
            reported_tools: Vec::new(),
            reported: 0,
            cost: 0.0,
            min_start: i64::MAX,
            max_end: i64::MIN,
            max_depth: 0,
            max_tool: 0,
            max_prompt: 0,
            session: None,
        }
    }

    fn reported(&self, bit: u8) -> bool {
        self.reported & bit != 0
    }

    fn report(&mut self, bit: u8) {
        self.reported |= bit;
    }

    fn duration_secs(&self) -> f64 {
        if self.max_end < self.min_start {
            return 0.0;
        }
        (i128::from(self.max_end) - i128::from(self.min_start)) as f64 / NS_PER_SEC
    }

    fn usage(&self) -> TraceUsage {
        TraceUsage {
            cost_usd: self.cost,
            spans: self.spans,
            max_tool_repeats: self.max_tool,
            max_prompt_repeats: self.max_prompt,
            max_depth: self.max_depth,
            duration_secs: self.duration_secs(),
        }
    }
}

const COST_NONE: u8 = 0;
const COST_RUNNING: u8 = 1;
const COST_FINAL: u8 = 2;

/// One span id of a trace. The tree is a union-find forest with distances: each node points
/// towards the topmost known ancestor of its subtree (`up`, `off` levels above it), and that
/// top node keeps the depth of its deepest descendant. Linking a span under its parent is then
/// near O(1) whatever order the spans arrive in, and no child lists are needed.
struct Node {
    /// Towards the top of the subtree; the node itself when it is the top.
    up: SpanId,
    /// Levels between this node and `up`; 0 when it is the top.
    off: u32,
    /// For a top node: depth of the deepest node below it, itself being 1.
    maxd: u32,
    children: u32,
    /// The span itself arrived (otherwise it is only named as a parent).
    present: bool,
    cost_state: u8,
    cost: f64,
}

impl Node {
    fn new(id: SpanId) -> Self {
        Node {
            up: id,
            off: 0,
            maxd: 1,
            children: 0,
            present: false,
            cost_state: COST_NONE,
            cost: 0.0,
        }
    }

    /// The cost this version adds: the first cost seen counts; a finished version corrects a
    /// cost that came with a running one (finished wins, as at read); nothing counts twice.
    fn take_cost(&mut self, cost: Option<f64>, finished: bool) -> f64 {
        let Some(c) = cost else { return 0.0 };
        match self.cost_state {
            COST_NONE => {
                self.cost = c;
                self.cost_state = if finished { COST_FINAL } else { COST_RUNNING };
                c
            }
            COST_RUNNING if finished => {
                let d = c - self.cost;
                self.cost = c;
                self.cost_state = COST_FINAL;
                d
            }
            _ => 0.0,
        }
    }
}

/// The top of `x`'s subtree and `x`'s distance to it, compressing the path on the way.
fn find(nodes: &mut HashMap<SpanId, Node>, x: SpanId) -> (SpanId, u32) {
    let mut cur = x;
    let mut dist = 0u32;
    loop {
        let n = &nodes[&cur];
        if n.off == 0 {
            break;
        }
        dist = dist.saturating_add(n.off);
        cur = n.up;
    }
    let top = cur;
    let mut rest = dist;
    let mut cur = x;
    while cur != top {
        let n = nodes.get_mut(&cur).expect("on the path");
        let (next, off) = (n.up, n.off);
        n.up = top;
        n.off = rest;
        rest = rest.saturating_sub(off);
        cur = next;
    }
    (top, dist)
}

/// Hangs `child` (the top of its own subtree, having just arrived) under `parent`; returns the
/// depth of the deepest node of the joined subtree, None for a parent link that would make a
/// cycle (bad data).
fn link(nodes: &mut HashMap<SpanId, Node>, child: SpanId, parent: SpanId) -> Option<u32> {
    let (top, dist) = find(nodes, parent);
    let c = nodes.get_mut(&child)?;
    if top == child || c.off != 0 {
        return None;
    }
    c.up = top;
    c.off = dist.saturating_add(1);
    let below = c.maxd;
    let t = nodes.get_mut(&top).expect("top exists");
    t.maxd = t.maxd.max(dist.saturating_add(1).saturating_add(below));
    Some(t.maxd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn det(cfg: LoopConfig) -> LoopDetector {
        LoopDetector::new(cfg).unwrap()
    }

    fn span(trace: u128, id: u64, parent: Option<u64>) -> Span {
        let mut s = Span::new(TraceId::from_u128(trace), SpanId::from_u64(id), "step", SEC);
        s.parent_span_id = parent.map(SpanId::from_u64);
        s
    }

    fn tool(trace: u128, id: u64, name: &str, args: &str) -> Span {
        let mut s = span(trace, id, Some(1));
        s.kind = SpanKind::Tool;
        s.name = format!("execute_tool {name}");
        s.tool_name = Some(name.into());
        s.input = Some(args.into());
        s
    }

    fn llm(trace: u128, id: u64, prompt: Option<&str>, cost: Option<f64>) -> Span {
        let mut s = span(trace, id, Some(1));
        s.kind = SpanKind::Llm;
        s.input = prompt.map(str::to_string);
        s.cost_usd = cost;
        s
    }

    fn detectors(f: &[(usize, Finding)]) -> Vec<(usize, &str)> {
        f.iter().map(|(i, f)| (*i, &*f.detector)).collect()
    }

    fn usage(d: &LoopDetector, trace: u128) -> TraceUsage {
        d.trace_usage("default", TraceId::from_u128(trace)).unwrap()
    }

    #[test]
    fn tool_repeat_reported_once_at_threshold() {
        let d = det(LoopConfig::default());
        let secret_args = r#"{"q":"sk-live-1234 my password"}"#;
        let batch: Vec<Span> = (0..5)
            .map(|i| tool(1, 10 + i, "web_search", secret_args))
            .collect();
        let found = d.observe(&batch);
        assert_eq!(detectors(&found), [(4, "loop.tool_repeat")]);
        let f = &found[0].1;
        assert_eq!(f.category, Category::Loop);
        assert_eq!(f.severity, Severity::Medium);
        assert_eq!(f.field, Field::Span);
        assert_eq!(f.key.as_deref(), Some("web_search"));
        assert_eq!(f.score, 1.0);
        assert_eq!(
            f.evidence,
            "tool `web_search` called 5 times with the same arguments"
        );
        assert!(!f.evidence.contains("sk-live"));

        // More repeats later, even with other arguments reaching the threshold: same key.
        let later: Vec<Span> = (0..10)
            .map(|i| {
                tool(
                    1,
                    100 + i,
                    "web_search",
                    if i % 2 == 0 { "a" } else { secret_args },
                )
            })
            .collect();
        assert!(d.observe(&later).is_empty());
        assert_eq!(usage(&d, 1).max_tool_repeats, 10);

        // Another tool in the same trace is its own key.
        let other: Vec<Span> = (0..5).map(|i| tool(1, 200 + i, "fetch", "{}")).collect();
        let found = d.observe(&other);
        assert_eq!(detectors(&found), [(4, "loop.tool_repeat")]);
        assert_eq!(found[0].1.key.as_deref(), Some("fetch"));
    }

    #[test]
    fn same_tool_different_arguments_is_not_a_loop() {
        let d = det(LoopConfig::default());
        let batch: Vec<Span> = (0..10)
            .map(|i| tool(1, 10 + i, "web_search", &format!(r#"{{"q":"page {i}"}}"#)))
            .collect();
        assert!(d.observe(&batch).is_empty());
        assert_eq!(usage(&d, 1).max_tool_repeats, 1);
        // Same arguments spread over different traces are not a loop either.
        let spread: Vec<Span> = (0..10)
            .map(|t| tool(100 + t, 5, "web_search", "x"))
            .collect();
        assert!(d.observe(&spread).is_empty());
    }

    #[test]
    fn tool_without_arguments_counts_as_empty_arguments() {
        let d = det(LoopConfig::default());
        let batch: Vec<Span> = (0..5)
            .map(|i| {
                let mut s = tool(1, 10 + i, "x", "");
                s.input = None;
                s.tool_name = None;
                s.name = "get_time".into();
                s
            })
            .collect();
        let found = d.observe(&batch);
        assert_eq!(detectors(&found), [(4, "loop.tool_repeat")]);
        assert_eq!(found[0].1.key.as_deref(), Some("get_time"));
    }

    #[test]
    fn running_and_finished_versions_count_once() {
        let d = det(LoopConfig {
            max_trace_cost_usd: Some(1.0),
            ..LoopConfig::default()
        });
        // Four identical tool calls, each sent running, then finished, then retried.
        for i in 0..4 {
            let running = tool(1, 10 + i, "web_search", "same");
            let mut done = running.clone();
            done.finish(2 * SEC);
            assert!(d.observe(&[running]).is_empty());
            assert!(d.observe(&[done.clone(), done]).is_empty());
        }
        let u = usage(&d, 1);
        assert_eq!(u.max_tool_repeats, 4);
        assert_eq!(u.spans, 4);

        // Cost: none while running, 0.6 once finished, retried: counted once.
        let running = llm(1, 50, Some("hi"), None);
        let mut done = running.clone();
        done.finish(3 * SEC);
        done.cost_usd = Some(0.6);
        assert!(d.observe(&[running]).is_empty());
        assert!(d.observe(&[done.clone()]).is_empty());
        assert!(d.observe(&[done.clone(), done]).is_empty());
        assert!((usage(&d, 1).cost_usd - 0.6).abs() < 1e-12);

        // A running version with a provisional cost, corrected by the finished one.
        let mut running = llm(1, 51, Some("hi again"), Some(0.1));
        assert!(d.observe(&[running.clone()]).is_empty());
        running.finish(4 * SEC);
        running.cost_usd = Some(0.3);
        assert!(d.observe(&[running.clone(), running]).is_empty());
        assert!((usage(&d, 1).cost_usd - 0.9).abs() < 1e-12);
        assert_eq!(usage(&d, 1).spans, 6);
    }

    #[test]
    fn prompt_repeat_positive_and_negatives() {
        let d = det(LoopConfig::default());
        let prompt = "You are a helpful agent. The API key is sk-abc. Plan the next step.";
        let batch: Vec<Span> = (0..4).map(|i| llm(1, 10 + i, Some(prompt), None)).collect();
        let found = d.observe(&batch);
        assert_eq!(detectors(&found), [(2, "loop.prompt_repeat")]);
        assert_eq!(found[0].1.evidence, "same prompt sent 3 times");
        assert_eq!(found[0].1.key, None);
        assert!(!found[0].1.evidence.contains("sk-abc"));
        assert!(d.observe(&[llm(1, 20, Some(prompt), None)]).is_empty());
        assert_eq!(usage(&d, 1).max_prompt_repeats, 5);

        // Distinct prompts, and prompts that were not captured, are not repeats.
        let distinct: Vec<Span> = (0..10)
            .map(|i| llm(2, 10 + i, Some(&format!("step {i}")), None))
            .collect();
        assert!(d.observe(&distinct).is_empty());
        let uncaptured: Vec<Span> = (0..10).map(|i| llm(3, 10 + i, None, None)).collect();
        assert!(d.observe(&uncaptured).is_empty());
        // The same text as a tool argument is not a prompt.
        let as_tool: Vec<Span> = (0..3).map(|i| tool(4, 10 + i, "t", prompt)).collect();
        assert!(d.observe(&as_tool).is_empty());
    }

    fn chain(trace: u128, len: u64) -> Vec<Span> {
        (1..=len)
            .map(|i| span(trace, i, (i > 1).then(|| i - 1)))
            .collect()
    }

    #[test]
    fn depth_in_order() {
        let d = det(LoopConfig::default());
        // 33 nested spans: the 33rd is at depth 33.
        let found = d.observe(&chain(1, 40));
        assert_eq!(detectors(&found), [(32, "loop.depth")]);
        assert_eq!(found[0].1.evidence, "span depth 33 exceeds 32");
        assert_eq!(usage(&d, 1).max_depth, 40);
        // Deeper still in a later batch: not again.
        let more: Vec<Span> = (41..60).map(|i| span(1, i, Some(i - 1))).collect();
        assert!(d.observe(&more).is_empty());
        assert_eq!(usage(&d, 1).max_depth, 59);

        // Exactly at the limit is fine; a wide, shallow tree is fine.
        assert!(d.observe(&chain(2, 32)).is_empty());
        let mut wide = vec![span(3, 1, None)];
        wide.extend((2..150).map(|i| span(3, i, Some(1))));
        assert!(d.observe(&wide).is_empty());
        assert_eq!(usage(&d, 3).max_depth, 2);
    }

    #[test]
    fn depth_with_parents_arriving_after_children() {
        let cfg = LoopConfig {
            max_depth: 5,
            ..LoopConfig::default()
        };
        // Leaf first, one span per batch: the last span (the root) crosses nothing new; the
        // chain is known to be 6 deep as soon as the spans connecting it have arrived.
        let d = det(cfg.clone());
        let mut spans = chain(1, 6);
        spans.reverse();
        let mut hits = Vec::new();
        for (n, s) in spans.iter().enumerate() {
            for (_, f) in d.observe(std::slice::from_ref(s)) {
                hits.push((n, f.evidence));
            }
        }
        // Span 2 arrives fifth: it links spans 3..6 under the placeholder of span 1.
        assert_eq!(hits, [(4, "span depth 6 exceeds 5".to_string())]);
        assert_eq!(usage(&d, 1).max_depth, 6);

        // Middle-out orders reach the same depth, reported once.
        for order in [
            [3u64, 1, 5, 2, 6, 4],
            [6, 2, 4, 1, 3, 5],
            [2, 4, 6, 1, 3, 5],
        ] {
            let d = det(cfg.clone());
            let all = chain(7, 6);
            let mut found = 0;
            for id in order {
                found += d.observe(&[all[id as usize - 1].clone()]).len();
            }
            assert_eq!(found, 1, "order {order:?}");
            assert_eq!(usage(&d, 7).max_depth, 6, "order {order:?}");
        }

        // Two halves joined by the last span to arrive.
        let d = det(cfg.clone());
        let all = chain(8, 8);
        assert!(d.observe(&all[..3]).is_empty());
        assert!(d.observe(&all[4..]).is_empty());
        // Spans 5..8 under the placeholder of span 4.
        assert_eq!(usage(&d, 8).max_depth, 5);
        let found = d.observe(&all[3..4]);
        assert_eq!(found[0].1.evidence, "span depth 8 exceeds 5");

        // A parent that never arrives (a remote caller) counts as one level.
        let d = det(cfg);
        let mut remote = chain(9, 3);
        remote[0].parent_span_id = Some(SpanId::from_u64(999));
        d.observe(&remote);
        assert_eq!(usage(&d, 9).max_depth, 4);
    }

    proptest::proptest! {
        /// Any tree, any arrival order and batching: the depth is exact once all spans are in,
        /// and reported exactly once iff it exceeds the limit.
        #[test]
        fn depth_is_exact_in_any_order(
            parents in proptest::collection::vec(proptest::num::u64::ANY, 1..80),
            order in proptest::collection::vec(proptest::num::u64::ANY, 80),
            cuts in proptest::collection::vec(proptest::bool::ANY, 80),
            limit in 1u32..12,
        ) {
            // Span i + 2 hangs under a random earlier span; span 1 is the root.
            let n = parents.len() + 1;
            let mut depth = vec![1u32; n + 1];
            let mut all = vec![span(1, 1, None)];
            for (i, p) in parents.iter().enumerate() {
                let id = i as u64 + 2;
                let parent = 1 + p % (id - 1);
                depth[id as usize] = depth[parent as usize] + 1;
                all.push(span(1, id, Some(parent)));
            }
            let want = *depth.iter().max().unwrap();
            // A random permutation (sort by random keys), cut into random batches.
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by_key(|&i| order[i]);
            let d = det(LoopConfig { max_depth: limit, ..LoopConfig::default() });
            let mut batch = Vec::new();
            let mut found = 0;
            for (k, &i) in idx.iter().enumerate() {
                batch.push(all[i].clone());
                if cuts[k] || k + 1 == n {
                    found += d.observe(&batch).len();
                    batch.clear();
                }
            }
            proptest::prop_assert_eq!(usage(&d, 1).max_depth, want);
            proptest::prop_assert_eq!(found, usize::from(want > limit));
        }
    }

    #[test]
    fn parent_cycles_do_not_hang() {
        let d = det(LoopConfig::default());
        let batch = [
            span(1, 1, Some(2)),
            span(1, 2, Some(3)),
            span(1, 3, Some(1)),
            span(1, 4, Some(4)),
        ];
        assert!(d.observe(&batch).is_empty());
        assert_eq!(usage(&d, 1).max_depth, 3);
        assert_eq!(usage(&d, 1).spans, 4);
    }

    #[test]
    fn fanout() {
        let d = det(LoopConfig {
            max_fanout: 3,
            ..LoopConfig::default()
        });
        let mut batch = vec![span(1, 1, None)];
        batch.extend((2..=4).map(|i| span(1, i, Some(1))));
        assert!(d.observe(&batch).is_empty());
        // Versions of the same children again: no new children.
        assert!(d.observe(&batch).is_empty());
        let found = d.observe(&[span(1, 5, Some(1)), span(1, 6, Some(1))]);
        assert_eq!(detectors(&found), [(0, "loop.fanout")]);
        assert_eq!(found[0].1.evidence, "span has 4 children (limit 3)");
        assert_eq!(found[0].1.severity, Severity::Medium);
        assert!(d.observe(&[span(1, 7, Some(1))]).is_empty());

        // Children counted before their parent arrives, and spread over parents.
        let d = det(LoopConfig {
            max_fanout: 3,
            ..LoopConfig::default()
        });
        let spread: Vec<Span> = (10..22).map(|i| span(2, i, Some(1 + i % 4))).collect();
        assert!(d.observe(&spread).is_empty());
        let early: Vec<Span> = (10..14).map(|i| span(3, i, Some(1))).collect();
        assert_eq!(detectors(&d.observe(&early)), [(3, "loop.fanout")]);
    }

    #[test]
    fn trace_cost_cap_counts_only_calls() {
        let d = det(LoopConfig {
            max_trace_cost_usd: Some(1.0),
            ..LoopConfig::default()
        });
        let mut agent = span(1, 1, None);
        agent.kind = SpanKind::Agent;
        agent.cost_usd = Some(5.0); // a wrapper repeating its children's cost
        assert!(d.observe(&[agent]).is_empty());
        let batch: Vec<Span> = (0..4)
            .map(|i| llm(1, 10 + i, Some(&format!("p{i}")), Some(0.4)))
            .collect();
        let found = d.observe(&batch);
        assert_eq!(detectors(&found), [(2, "loop.trace_cost")]);
        assert_eq!(found[0].1.severity, Severity::High);
        assert_eq!(found[0].1.evidence, "trace cost $1.20 exceeds cap $1.00");
        assert!(d.observe(&[llm(1, 20, None, Some(3.0))]).is_empty());
        assert!((usage(&d, 1).cost_usd - 4.6).abs() < 1e-9);

        // Just over a cap never prints as equal to it.
        let d = det(LoopConfig {
            max_trace_cost_usd: Some(5.0),
            ..LoopConfig::default()
        });
        let found = d.observe(&[llm(2, 10, None, Some(5.001))]);
        assert_eq!(found[0].1.evidence, "trace cost $5.01 exceeds cap $5.00");
    }

    #[test]
    fn trace_duration_cap() {
        let d = det(LoopConfig {
            max_trace_duration_secs: Some(600.0),
            ..LoopConfig::default()
        });
        let mut root = span(1, 1, None);
        root.start_ns = 100 * SEC; // still running
        let mut step = span(1, 2, Some(1));
        step.start_ns = 200 * SEC;
        step.finish(700 * SEC);
        assert!(d.observe(&[root.clone(), step]).is_empty());
        let mut last = span(1, 3, Some(1));
        last.start_ns = 710 * SEC;
        last.finish(720 * SEC);
        let mut done = root;
        done.finish(720 * SEC);
        let found = d.observe(&[last.clone(), done.clone()]);
        assert_eq!(detectors(&found), [(0, "loop.trace_duration")]);
        assert_eq!(found[0].1.evidence, "trace ran 620 s (cap 600 s)");
        assert_eq!(found[0].1.severity, Severity::High);
        assert!(d.observe(&[last, done]).is_empty());
        assert_eq!(usage(&d, 1).duration_secs, 620.0);
    }

    #[test]
    fn eviction_keeps_memory_bound() {
        for max_traces in [50, 5000] {
            let d = det(LoopConfig {
                max_traces,
                ..LoopConfig::default()
            });
            for chunk in 0..40u128 {
                let batch: Vec<Span> = (0..500u128)
                    .map(|t| {
                        let mut s = span(1 + chunk * 500 + t, 1, None);
                        s.session_id = Some(format!("s{}", chunk * 500 + t));
                        s
                    })
                    .collect();
                d.observe(&batch);
                let (traces, sessions) = d.tracked();
                assert!(traces <= max_traces, "{traces} > {max_traces}");
                assert!(sessions <= max_traces, "{sessions} > {max_traces}");
            }
            // The latest traces are kept, the oldest are gone.
            assert!(
                d.trace_usage("default", TraceId::from_u128(20_000))
                    .is_some()
            );
            assert!(d.trace_usage("default", TraceId::from_u128(1)).is_none());
            assert!(d.tracked().0 >= max_traces * 9 / 10);
        }
    }

    #[test]
    fn idle_traces_are_forgotten() {
        let d = det(LoopConfig {
            idle_secs: 10,
            ..LoopConfig::default()
        });
        let mut old = span(1, 1, None);
        old.received_ns = 1_000 * SEC;
        old.session_id = Some("s".into());
        d.observe(&[old]);
        let mut recent = span(2, 1, None);
        recent.received_ns = 1_005 * SEC;
        d.observe(&[recent]);
        assert!(d.trace_usage("default", TraceId::from_u128(1)).is_some());
        let mut late = span(3, 1, None);
        late.received_ns = 1_012 * SEC;
        // Sweeps are spread over batches; a few batches reach every shard.
        for _ in 0..2 * MAX_SHARDS {
            d.observe(std::slice::from_ref(&late));
        }
        assert!(d.trace_usage("default", TraceId::from_u128(1)).is_none());
        assert!(d.trace_usage("default", TraceId::from_u128(2)).is_some());
        assert_eq!(d.session_cost("default", "s"), None);
    }

    #[test]
    fn session_cost_across_traces() {
        let d = det(LoopConfig::default());
        // Trace 1: cost arrives before the span that names the session.
        d.observe(&[llm(1, 10, None, Some(0.5))]);
        let mut root = span(1, 1, None);
        root.session_id = Some("chat-1".into());
        d.observe(&[root]);
        // Trace 2: session on the costed span itself, sent running then finished.
        let mut call = llm(2, 10, None, Some(0.25));
        call.session_id = Some("chat-1".into());
        d.observe(&[call.clone()]);
        call.finish(2 * SEC);
        d.observe(&[call]);
        let cost = d.session_cost("default", "chat-1").unwrap();
        assert!((cost - 0.75).abs() < 1e-12, "{cost}");

        // A session seen without cost is known; other sessions and projects are not.
        let mut quiet = span(3, 1, None);
        quiet.session_id = Some("chat-2".into());
        d.observe(&[quiet]);
        assert_eq!(d.session_cost("default", "chat-2"), Some(0.0));
        assert_eq!(d.session_cost("default", "chat-3"), None);
        assert_eq!(d.session_cost("other", "chat-1"), None);
    }

    #[test]
    fn projects_are_separate() {
        let d = det(LoopConfig::default());
        let batch: Vec<Span> = (0..8)
            .map(|i| {
                let mut s = tool(1, 10 + i, "web_search", "same");
                s.project_id = Arc::from(if i % 2 == 0 { "a" } else { "b" });
                s
            })
            .collect();
        assert!(d.observe(&batch).is_empty());
        assert_eq!(d.trace_usage("a", TraceId::from_u128(1)).unwrap().spans, 4);
        assert!(d.trace_usage("default", TraceId::from_u128(1)).is_none());
    }

    #[test]
    fn huge_trace_stops_tracking_spans_but_keeps_cost() {
        let d = det(LoopConfig {
            max_fanout: u32::MAX,
            max_trace_cost_usd: Some(1.0),
            ..LoopConfig::default()
        });
        let n = MAX_SPANS_PER_TRACE as u64 + 10;
        let batch: Vec<Span> = (2..n).map(|i| span(1, i, Some(1))).collect();
        assert!(d.observe(&batch).is_empty());
        assert_eq!(usage(&d, 1).spans, MAX_SPANS_PER_TRACE as u64 - 1);
        let mut call = llm(1, n + 1, None, Some(2.0));
        call.finish(2 * SEC);
        assert_eq!(detectors(&d.observe(&[call])), [(0, "loop.trace_cost")]);
        assert_eq!(usage(&d, 1).spans, MAX_SPANS_PER_TRACE as u64);
    }

    #[test]
    fn disabled_does_nothing() {
        let d = det(LoopConfig {
            enabled: false,
            ..LoopConfig::default()
        });
        let batch: Vec<Span> = (0..10).map(|i| tool(1, 10 + i, "t", "x")).collect();
        assert!(d.observe(&batch).is_empty());
        assert!(d.trace_usage("default", TraceId::from_u128(1)).is_none());
    }

    #[test]
    fn config_from_toml() {
        let c: LoopConfig = toml::from_str("").unwrap();
        assert_eq!(c, LoopConfig::default());
        let c: LoopConfig = toml::from_str(
            r#"
            tool_repeats = 8
            max_trace_cost_usd = 5.0
            idle_secs = 60
            "#,
        )
        .unwrap();
        assert_eq!(c.tool_repeats, 8);
        assert_eq!(c.max_trace_cost_usd, Some(5.0));
        assert_eq!(c.max_trace_duration_secs, None);
        assert_eq!(c.prompt_repeats, 3);
        assert!(toml::from_str::<LoopConfig>("tool_repeat = 8").is_err());
        let back: LoopConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn config_is_validated() {
        let bad = [
            LoopConfig {
                tool_repeats: 1,
                ..LoopConfig::default()
            },
            LoopConfig {
                prompt_repeats: 0,
                ..LoopConfig::default()
            },
            LoopConfig {
                max_depth: 0,
                ..LoopConfig::default()
            },
            LoopConfig {
                max_fanout: 0,
                ..LoopConfig::default()
            },
            LoopConfig {
                max_trace_cost_usd: Some(0.0),
                ..LoopConfig::default()
            },
            LoopConfig {
                max_trace_duration_secs: Some(f64::NAN),
                ..LoopConfig::default()
            },
            LoopConfig {
                max_traces: 0,
                ..LoopConfig::default()
            },
            LoopConfig {
                idle_secs: 0,
                ..LoopConfig::default()
            },
        ];
        for cfg in bad {
            assert!(LoopDetector::new(cfg.clone()).is_err(), "{cfg:?}");
        }
        let d = det(LoopConfig::default());
        assert_eq!(d.config(), &LoopConfig::default());
    }

    #[test]
    fn detector_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LoopDetector>();
    }
}
