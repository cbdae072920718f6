//! Trace summaries kept exact under re-delivery: each trace remembers every span's latest
//! version (finished beats running, then the latest received), so a retried or updated span
//! replaces its earlier contribution instead of being counted twice. Pure; the backends keep
//! these in a bounded cache and persist the summaries they produce.

use spyglass_model::{Span, SpanId, SpanKind, Status, Tokens, TraceId, TraceSummary};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Characters of the root input/output kept for the trace list.
pub const PREVIEW_CHARS: usize = 300;

/// What one span version contributes to its trace's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub finished: bool,
    pub received_ns: i64,
    pub is_root: bool,
    pub parent: Option<SpanId>,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub name: String,
    pub service_name: Arc<str>,
    pub environment: Option<Arc<str>>,
    pub kind: SpanKind,
    pub is_error: bool,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub model: Option<String>,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    /// For an LLM span: its system prompt, hashed (`versions::system_prompt_hash`).
    pub system_prompt_hash: Option<u64>,
}

fn preview(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| match s.char_indices().nth(PREVIEW_CHARS) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s.clone(),
        })
}

impl Contribution {
    pub fn of(s: &Span) -> Self {
        let root = s.parent_span_id.is_none();
        Contribution {
            finished: s.end_ns.is_some(),
            received_ns: s.received_ns,
            is_root: root,
            parent: s.parent_span_id,
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            name: s.name.clone(),
            service_name: s.service_name.clone(),
            environment: s.environment.clone(),
            kind: s.kind,
            is_error: s.status == Status::Error,
            tokens: if s.kind.counts_usage() {
                s.tokens
            } else {
                Tokens::default()
            },
            cost_usd: if s.kind.counts_usage() {
                s.cost_usd
            } else {
                None
            },
            session_id: s.session_id.clone(),
            user_id: s.user_id.clone(),
            agent_name: s.agent_name.clone(),
            tool_name: s.tool_name.clone(),
            model: s.model().map(str::to_string),
            input_preview: if root { preview(&s.input) } else { None },
            output_preview: if root { preview(&s.output) } else { None },
            system_prompt_hash: match (s.kind, &s.input) {
                (SpanKind::Llm, Some(input)) => crate::versions::system_prompt_hash(input),
                _ => None,
            },
        }
    }

    fn has_usage(&self) -> bool {
        !self.tokens.is_empty() || self.cost_usd.is_some()
    }

    /// Whether this version replaces `old` (finished beats running, then later received).
    pub fn supersedes(&self, old: &Contribution) -> bool {
        (self.finished, self.received_ns) >= (old.finished, old.received_ns)
    }
}

/// What applying a span version did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The trace already holds a version that wins over this one.
    Ignored,
    /// The span is new to the trace.
    Added,
    /// This version replaced the one given.
    Replaced(Box<Contribution>),
}

/// One trace's span contributions.
#[derive(Debug, Clone, Default)]
pub struct TraceState {
    pub spans: HashMap<SpanId, Contribution, crate::Seeded>,
    pub last_received_ns: i64,
}

impl TraceState {
    /// Applies a span version; `true` if it changed what the trace holds.
    pub fn apply(&mut self, span_id: SpanId, c: Contribution) -> bool {
        !matches!(self.replace(span_id, c), Applied::Ignored)
    }

    /// Applies a span version and says what it did, with the version it replaced.
    pub fn replace(&mut self, span_id: SpanId, c: Contribution) -> Applied {
        self.last_received_ns = self.last_received_ns.max(c.received_ns);
        match self.spans.get(&span_id) {
            Some(old) if !c.supersedes(old) => Applied::Ignored,
            _ => match self.spans.insert(span_id, c) {
                Some(old) => Applied::Replaced(Box::new(old)),
                None => Applied::Added,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The latest span start and the earliest receipt among the spans' latest versions: with
    /// the trace's start and `last_received_ns`, they bound where those versions sit in
    /// storage (a superseded version outside the bounds would lose to them anyway).
    pub fn storage_bounds(&self) -> (i64, i64) {
        let mut max_start = i64::MIN;
        let mut min_received = i64::MAX;
        for c in self.spans.values() {
            max_start = max_start.max(c.start_ns);
            min_received = min_received.min(c.received_ns);
        }
        (max_start, min_received)
    }

    /// Spans whose usage only repeats their children's. Two instrumentations can record one
    /// model call twice, nested: AutoGen's or LangChain's LLM span around the OpenAI client's,
    /// both with the same usage. A span whose token counts are exactly those of its children
    /// with usage is such a wrapper; only the children count.
    pub fn usage_wrappers(&self) -> HashSet<SpanId, crate::Seeded> {
        let mut child_usage: HashMap<SpanId, (i64, i64), crate::Seeded> = HashMap::default();
        for c in self.spans.values().filter(|c| c.has_usage()) {
            if let Some(p) = c.parent {
                let e = child_usage.entry(p).or_default();
                e.0 += c.tokens.input.unwrap_or(0);
                e.1 += c.tokens.output.unwrap_or(0);
            }
        }
        child_usage
            .into_iter()
            .filter(|(p, sum)| {
                self.spans.get(p).is_some_and(|c| {
                    !c.tokens.is_empty()
                        && (c.tokens.input.unwrap_or(0), c.tokens.output.unwrap_or(0)) == *sum
                })
            })
            .map(|(p, _)| p)
            .collect()
    }

    /// Computes the summary from the current contributions.
    pub fn summary(&self, trace_id: TraceId) -> TraceSummary {
        // The root, or while it has not arrived, the earliest span: name, service and previews
        // come from it. Ties break on span id so every backend picks the same one.
        let head = self
            .spans
            .iter()
            .min_by_key(|(id, c)| (!c.is_root, c.start_ns, **id))
            .map(|(id, c)| (*id, c));
        let mut start = i64::MAX;
        let mut end: Option<i64> = None;
        let mut errors = 0;
        let mut running = 0;
        let mut tokens = Tokens::default();
        let mut cost: Option<f64> = None;
        let mut agents = Vec::new();
        let mut services = Vec::new();
        let mut models = Vec::new();
        let mut tools = Vec::new();
        let mut kinds = Vec::new();
        // Session and user: the root's, else from the earliest span that has one.
        let mut session: Option<(bool, i64, &str)> = None;
        let mut user: Option<(bool, i64, &str)> = None;
        let mut environment: Option<(bool, i64, &str)> = None;
        let better = |cur: &Option<(bool, i64, &str)>, c: &Contribution| {
            cur.is_none_or(|(r, s, _)| (!c.is_root, c.start_ns) < (!r, s))
        };
        let wrappers = self.usage_wrappers();
        for (id, c) in &self.spans {
            start = start.min(c.start_ns);
            if let Some(e) = c.end_ns {
                end = Some(end.map_or(e, |x| x.max(e)));
            }
            if c.is_error {
                errors += 1;
            }
            if !c.finished {
                running += 1;
            }
            if !wrappers.contains(id) {
                tokens.add(&c.tokens);
                if let Some(x) = c.cost_usd {
                    cost = Some(cost.unwrap_or(0.0) + x);
                }
            }
            push_unique(&mut agents, c.agent_name.as_deref());
            push_unique(&mut services, Some(&*c.service_name));
            push_unique(&mut models, c.model.as_deref());
            push_unique(&mut tools, c.tool_name.as_deref());
            push_unique(&mut kinds, Some(c.kind.as_str()));
            for (slot, v) in [
                (&mut session, c.session_id.as_deref()),
                (&mut user, c.user_id.as_deref()),
                (&mut environment, c.environment.as_deref()),
            ] {
                if let Some(v) = v
                    && better(slot, c)
                {
                    *slot = Some((c.is_root, c.start_ns, v));
                }
            }
        }
        for v in [
            &mut agents,
            &mut services,
            &mut models,
            &mut tools,
            &mut kinds,
        ] {
            v.sort_unstable();
        }
        let (root_span_id, name, service_name, input_preview, output_preview) = match head {
            Some((id, c)) => (
                c.is_root.then_some(id),
                c.name.clone(),
                c.service_name.to_string(),
                c.input_preview.clone(),
                c.output_preview.clone(),
            ),
            None => (None, String::new(), String::new(), None, None),
        };
        let start_ns = if start == i64::MAX { 0 } else { start };
        TraceSummary {
            trace_id,
            root_span_id,
            name,
            service_name,
            start_ns,
            end_ns: end,
            duration_ns: end.map(|e| e - start_ns),
            span_count: self.spans.len() as i64,
            error_count: errors,
            running_count: running,
            status: if errors > 0 {
                Status::Error
            } else {
                Status::Ok
            },
            tokens,
            cost_usd: cost,
            session_id: session.map(|x| x.2.to_string()),
            user_id: user.map(|x| x.2.to_string()),
            environment: environment.map(|x| x.2.to_string()),
            agents,
            services,
            models,
            tools,
            kinds,
            input_preview,
            output_preview,
            last_received_ns: self.last_received_ns,
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: Option<&str>) {
    if let Some(s) = s
        && !v.iter().any(|x| x == s)
    {
        v.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::SpanId;

    fn span(id: u64, parent: Option<u64>, start: i64, end: Option<i64>, received: i64) -> Span {
        let mut s = Span::new(
            TraceId::from_u128(9),
            SpanId::from_u64(id),
            &format!("s{id}"),
            start,
        );
        s.parent_span_id = parent.map(SpanId::from_u64);
        if let Some(e) = end {
            s.finish(e);
        }
        s.received_ns = received;
        s
    }

    fn apply(st: &mut TraceState, s: &Span) -> bool {
        st.apply(s.span_id, Contribution::of(s))
    }

    #[test]
    fn a_model_call_recorded_twice_nested_counts_once() {
        // agent → llm (framework's wrapper) → llm (the client instrumentor's), same usage;
        // a sibling llm call with its own usage still counts.
        let mut st = TraceState::default();
        let usage = |s: &mut Span, input, cost| {
            s.kind = SpanKind::Llm;
            s.tokens = Tokens {
                input: Some(input),
                output: Some(10),
                ..Default::default()
            };
            s.cost_usd = Some(cost);
        };
        let mut wrapper = span(2, Some(1), 1, Some(9), 1);
        usage(&mut wrapper, 130, 0.5);
        let mut inner = span(3, Some(2), 2, Some(8), 1);
        usage(&mut inner, 130, 0.5);
        let mut sibling = span(4, Some(1), 10, Some(12), 1);
        usage(&mut sibling, 7, 0.25);
        for s in [&span(1, None, 0, Some(20), 1), &wrapper, &inner, &sibling] {
            apply(&mut st, s);
        }
        let s = st.summary(TraceId::from_u128(9));
        assert_eq!(s.tokens.input, Some(137));
        assert_eq!(s.cost_usd, Some(0.75));

        // A parent LLM span with usage of its own (not its children's) still counts.
        let mut own = wrapper.clone();
        own.tokens.input = Some(5);
        apply(&mut st, &own);
        let s = st.summary(TraceId::from_u128(9));
        assert_eq!(s.tokens.input, Some(142));
        assert_eq!(s.cost_usd, Some(1.25));
    }

    #[test]
    fn running_then_finished_and_retries_count_once() {
        let mut st = TraceState::default();
        let mut llm = span(2, Some(1), 10, None, 1);
        llm.kind = SpanKind::Llm;
        assert!(apply(&mut st, &span(1, None, 0, None, 1)));
        assert!(apply(&mut st, &llm));
        let s = st.summary(TraceId::from_u128(9));
        assert_eq!((s.span_count, s.running_count, s.end_ns), (2, 2, None));

        let mut done = span(2, Some(1), 10, Some(50), 2);
        done.kind = SpanKind::Llm;
        done.tokens = Tokens {
            input: Some(100),
            output: Some(20),
            total: Some(120),
            ..Default::default()
        };
        done.cost_usd = Some(0.5);
        assert!(apply(&mut st, &done));
        // A retry of the same finished version, and a stale running version, change nothing.
        let mut retry = done.clone();
        retry.received_ns = 3;
        apply(&mut st, &retry);
        assert!(!apply(&mut st, &llm));
        assert!(apply(&mut st, &span(1, None, 0, Some(60), 4)));
        let s = st.summary(TraceId::from_u128(9));
        assert_eq!(s.span_count, 2);
        assert_eq!(s.running_count, 0);
        assert_eq!(s.tokens.input, Some(100));
        assert_eq!(s.cost_usd, Some(0.5));
        assert_eq!(s.duration_ns, Some(60));
        assert_eq!(s.root_span_id, Some(SpanId::from_u64(1)));
        assert_eq!(s.name, "s1");
    }

    #[test]
    fn wrappers_do_not_double_count_usage_and_root_session_wins() {
        let mut st = TraceState::default();
        let mut agent = span(1, None, 0, Some(100), 1);
        agent.kind = SpanKind::Agent;
        agent.tokens.input = Some(999);
        agent.session_id = Some("root-session".into());
        let mut child = span(2, Some(1), 5, Some(10), 1);
        child.kind = SpanKind::Llm;
        child.tokens.input = Some(10);
        child.session_id = Some("child-session".into());
        child.status = Status::Error;
        apply(&mut st, &child);
        apply(&mut st, &agent);
        let s = st.summary(TraceId::from_u128(9));
        assert_eq!(s.tokens.input, Some(10));
        assert_eq!(s.session_id.as_deref(), Some("root-session"));
        assert_eq!(s.status, Status::Error);
        assert_eq!(s.kinds, vec!["agent", "llm"]);
    }

    #[test]
    fn previews_are_capped_by_chars() {
        let mut root = span(1, None, 0, Some(1), 1);
        root.input = Some("é".repeat(PREVIEW_CHARS + 10));
        let c = Contribution::of(&root);
        let p = c.input_preview.unwrap();
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }
}
