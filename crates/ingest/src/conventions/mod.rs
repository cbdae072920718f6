//! Semantic-convention mappings: each module reads one convention's attributes into
//! [`Extracted`]. They run in priority order and a field keeps the first value found, so the
//! order in [`extract`] is the precedence when a span speaks several conventions
//! (docs/conventions.md explains it).
//!
//! `docs/conventions/*.md` documents every key; the golden fixtures in
//! `tests/fixtures/` hold real instrumentor output and the canonical spans expected from it.

mod gen_ai;
mod gen_ai_events;
mod goclaw;
mod langfuse;
mod openinference;
mod openllmetry;
mod registry;
mod seed;
mod tracectrl;
mod vercel;

use crate::messages::Message;
use crate::view::SpanView;
pub use registry::{KeyClass, classify};
use spyglass_model::{Convention, Conventions, SpanKind, Tokens};

/// What the mappings found on a span.
#[derive(Debug, Default)]
pub struct Extracted {
    pub conventions: Conventions,
    pub kind: Option<SpanKind>,
    pub provider: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub tokens: Tokens,
    pub cost: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
    pub tool_name: Option<String>,
    pub input: Slot,
    pub output: Slot,
    /// The span reports a failure through attributes (`error.type`, `error.message`, a
    /// Langfuse `ERROR` level); the OTLP status still wins when it is set.
    pub failed: bool,
    /// The message for an error status that has none of its own.
    pub error_message: Option<String>,
    /// Attribute keys no mapping understood, sorted.
    pub unmapped_keys: Vec<String>,
}

/// A canonical input or output before serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Messages(Vec<Message>),
    Text(String),
}

/// How strongly a payload claims its slot; a stronger one replaces a weaker one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    #[default]
    Empty,
    /// A plain value (`input.value`, `traceloop.entity.input`, ...).
    Text,
    /// Chat messages beat plain values (canonical-span.md).
    Messages,
    /// Langfuse's observation input/output: the producer's explicit statement of what the
    /// observation's input was, which Langfuse itself shows before anything else.
    Explicit,
}

/// The input or the output of a span, and the attribute keys it was taken from.
#[derive(Debug, Default)]
pub struct Slot {
    pub value: Option<Payload>,
    keys: Vec<Consumed>,
    rank: Rank,
}

impl Slot {
    pub(crate) fn has_value(&self) -> bool {
        self.value.is_some()
    }

    pub(crate) fn has_messages(&self) -> bool {
        self.rank >= Rank::Messages
    }

    /// Takes `p` if it outranks what the slot holds; the keys of a replaced value stay in the
    /// attributes (the alternative that lost).
    fn offer(&mut self, p: Option<Payload>, rank: Rank, keys: &[Consumed]) {
        let Some(p) = p else { return };
        if rank > self.rank {
            self.value = Some(p);
            self.rank = rank;
            self.keys.clear();
            self.keys.extend_from_slice(keys);
        }
    }
}

/// Attribute keys whose content went into input/output, so they are not repeated in attributes.
#[derive(Debug, Clone, Copy)]
pub enum Consumed {
    Key(&'static str),
    Prefix(&'static str),
    /// `prefix<N>.<field>` where `field` passes the check: only the indexed keys a mapping
    /// read, so other keys under the same prefix stay.
    Indexed(&'static str, fn(&str) -> bool),
}

impl Consumed {
    pub fn matches(&self, key: &str) -> bool {
        match self {
            Consumed::Key(k) => key == *k,
            Consumed::Prefix(p) => key.starts_with(p),
            Consumed::Indexed(p, field) => key
                .strip_prefix(p)
                .and_then(registry::after_index)
                .is_some_and(field),
        }
    }
}

/// Sets `slot` if it is empty; `true` when the value was taken.
pub(crate) fn fill<T>(slot: &mut Option<T>, v: Option<T>) -> bool {
    if slot.is_none()
        && let Some(v) = v
    {
        *slot = Some(v);
        return true;
    }
    false
}

/// Provider names are compared case-insensitively everywhere downstream, so they are stored
/// lower-cased (OpenLLMetry sends `OpenAI`).
pub(crate) fn lowercase(mut s: String) -> String {
    s.make_ascii_lowercase();
    s
}

impl Extracted {
    pub(crate) fn kind(&mut self, k: Option<SpanKind>) {
        fill(&mut self.kind, k);
    }

    /// Fills each token count that is still unknown.
    pub(crate) fn tokens(&mut self, t: Tokens) {
        let s = &mut self.tokens;
        fill(&mut s.input, t.input);
        fill(&mut s.output, t.output);
        fill(&mut s.cache_read, t.cache_read);
        fill(&mut s.cache_write, t.cache_write);
        fill(&mut s.reasoning, t.reasoning);
        fill(&mut s.total, t.total);
    }

    pub(crate) fn input_messages(&mut self, messages: Option<Vec<Message>>, keys: &[Consumed]) {
        self.input
            .offer(messages.map(Payload::Messages), Rank::Messages, keys);
    }

    pub(crate) fn output_messages(&mut self, messages: Option<Vec<Message>>, keys: &[Consumed]) {
        self.output
            .offer(messages.map(Payload::Messages), Rank::Messages, keys);
    }

    /// A plain input value already read from `keys`.
    pub(crate) fn input_plain(&mut self, text: Option<String>, keys: &[Consumed]) {
        self.input.offer(
            text.filter(|t| !t.is_empty()).map(Payload::Text),
            Rank::Text,
            keys,
        );
    }

    pub(crate) fn output_plain(&mut self, text: Option<String>, keys: &[Consumed]) {
        self.output.offer(
            text.filter(|t| !t.is_empty()).map(Payload::Text),
            Rank::Text,
            keys,
        );
    }

    /// The attribute `key`, verbatim, as a plain input value.
    pub(crate) fn input_text(&mut self, v: &SpanView, key: &'static str) {
        self.input_plain(text_value(v, key), &[Consumed::Key(key)]);
    }

    pub(crate) fn output_text(&mut self, v: &SpanView, key: &'static str) {
        self.output_plain(text_value(v, key), &[Consumed::Key(key)]);
    }

    /// A value that beats every other input (see [`Rank::Explicit`]).
    pub(crate) fn input_explicit(&mut self, v: &SpanView, key: &'static str) {
        self.input.offer(
            text_value(v, key).map(Payload::Text),
            Rank::Explicit,
            &[Consumed::Key(key)],
        );
    }

    pub(crate) fn output_explicit(&mut self, v: &SpanView, key: &'static str) {
        self.output.offer(
            text_value(v, key).map(Payload::Text),
            Rank::Explicit,
            &[Consumed::Key(key)],
        );
    }

    /// Whether an attribute's content went into input or output.
    pub fn is_consumed(&self, key: &str) -> bool {
        self.input
            .keys
            .iter()
            .chain(&self.output.keys)
            .any(|c| c.matches(key))
    }
}

/// Strings verbatim, structured values as compact JSON text.
fn text_value(v: &SpanView, key: &'static str) -> Option<String> {
    v.get(key)
        .and_then(crate::anyvalue::as_text)
        .filter(|s| !s.is_empty())
}

/// Runs every mapping over a span.
pub fn extract(v: &SpanView) -> Extracted {
    use Convention::*;
    let mut x = Extracted::default();
    scan(v, &mut x);
    let c = x.conventions;
    // Langfuse's own extractor takes its keys before any other convention's.
    if c.contains(Langfuse) {
        langfuse::map(v, &mut x);
    }
    if c.contains(OpenInference) {
        openinference::map(v, &mut x);
    }
    // After OpenInference, whose spans TraceCtrl enriches; its token adjustment must precede
    // the plain `gen_ai.usage.*` counts.
    if c.contains(TraceCtrl) {
        tracectrl::map(v, &mut x);
    }
    if c.contains(GoClaw) {
        goclaw::map(v, &mut x);
    }
    // Before GenAI: Vercel's provider calls carry `gen_ai.system = "openai.chat"`.
    if c.contains(VercelAi) {
        vercel::map(v, &mut x);
    }
    if c.contains(GenAi) {
        gen_ai::map(v, &mut x);
    }
    if c.contains(TraceCtrl) {
        tracectrl::map_models(v, &mut x);
    }
    // After GenAI, whose names OpenLLMetry also sends and whose operation name wins.
    if c.contains(OpenLlmetry) {
        openllmetry::map(v, &mut x);
    }
    if c.contains(Seed) {
        seed::map(v, &mut x);
    }
    common(v, &mut x);
    x
}

/// Classifies every attribute once: which conventions the span speaks and which keys no
/// mapping understands.
fn scan(v: &SpanView, x: &mut Extracted) {
    let mut found = Conventions::default();
    let mut unmapped: Vec<&str> = Vec::new();
    let mut companions: Vec<(&str, Convention, Option<Convention>)> = Vec::new();
    for kv in v.attrs {
        match classify(&kv.key) {
            KeyClass::Known(c) => {
                if let Some(c) = c {
                    found.insert(c);
                }
            }
            KeyClass::Unmapped(c) => {
                if let Some(c) = c {
                    found.insert(c);
                }
                unmapped.push(&kv.key);
            }
            KeyClass::Companion { owner, otherwise } => {
                companions.push((&kv.key, owner, otherwise))
            }
        }
    }
    if v.events
        .iter()
        .any(|e| gen_ai_events::is_message_event(&e.name))
    {
        found.insert(Convention::GenAi);
    }
    let evidence = found;
    for (key, owner, otherwise) in companions {
        if evidence.contains(owner) {
            continue;
        }
        match otherwise {
            Some(c) => found.insert(c),
            None => unmapped.push(key),
        }
    }
    unmapped.sort_unstable();
    unmapped.dedup();
    x.unmapped_keys = unmapped.into_iter().map(str::to_string).collect();
    x.conventions = found;
}

/// Fallbacks shared by every convention: error attributes, the generic identity keys, the
/// resource, and rules 2-3 of canonical-span.md's kind.
fn common(v: &SpanView, x: &mut Extracted) {
    if v.has("error.type") || v.has("error.message") {
        x.failed = true;
    }
    fill(
        &mut x.error_message,
        v.text(&["error.message", "exception.message", "error.type"]),
    );
    fill(&mut x.session_id, v.text(&["session.id"]));
    fill(&mut x.user_id, v.text(&["user.id", "enduser.id"]));
    let r = v.resource;
    for (slot, value) in [
        (&mut x.session_id, &r.session_id),
        (&mut x.user_id, &r.user_id),
        (&mut x.agent_name, &r.agent_name),
        (&mut x.agent_id, &r.agent_id),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    if x.kind.is_none() {
        if x.tool_name.is_some() {
            x.kind = Some(SpanKind::Tool);
        } else if x.request_model.is_some() || x.response_model.is_some() || !x.tokens.is_empty() {
            x.kind = Some(SpanKind::Llm);
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Runs the mappings over hand-built spans.

    use super::*;
    use crate::view::test_support::NO_RESOURCE;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    pub use crate::view::test_support::{attrs, event, i, s};

    pub fn run(name: &str, pairs: &[(&str, AnyValue)]) -> Extracted {
        run_with(name, pairs, &[])
    }

    pub fn run_with(name: &str, pairs: &[(&str, AnyValue)], events: &[Event]) -> Extracted {
        let attrs: Vec<KeyValue> = attrs(pairs);
        extract(&SpanView::new(name, &attrs, &NO_RESOURCE, events, true))
    }

    /// The input or output as the API shows it.
    pub fn text(p: &Slot) -> Option<String> {
        match p.value.as_ref()? {
            Payload::Text(t) => Some(t.clone()),
            Payload::Messages(m) => Some(serde_json::to_string(m).unwrap()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn companions_count_only_beside_their_convention() {
        let x = run(
            "GET /",
            &[("operation.name", s("GET /")), ("http.method", s("GET"))],
        );
        assert_eq!(x.conventions.names(), vec!["plain"]);
        assert_eq!(x.unmapped_keys, vec!["http.method", "operation.name"]);
        let x = run(
            "ai.generateText",
            &[
                ("operation.name", s("ai.generateText fn")),
                ("ai.operationId", s("ai.generateText")),
            ],
        );
        assert_eq!(x.conventions.names(), vec!["vercel_ai"]);
        assert!(x.unmapped_keys.is_empty());
        let x = run("openai.chat", &[("gen_ai.usage.total_tokens", i(10))]);
        assert_eq!(x.conventions.names(), vec!["openllmetry"]);
        assert_eq!(x.tokens.total, Some(10));
    }

    #[test]
    fn agentstack_keys_label_the_span_but_stay_unmapped() {
        let x = run("crew.kickoff", &[("agentstack.project", s("demo"))]);
        assert_eq!(x.conventions.names(), vec!["agentstack"]);
        assert_eq!(x.unmapped_keys, vec!["agentstack.project"]);
    }

    #[test]
    fn shared_keys_alone_do_not_name_a_convention() {
        let x = run(
            "work",
            &[
                ("session.id", s("s1")),
                ("user.id", s("u1")),
                ("error.message", s("boom")),
            ],
        );
        assert_eq!(x.conventions.names(), vec!["plain"]);
        assert_eq!(
            (x.session_id.as_deref(), x.user_id.as_deref()),
            (Some("s1"), Some("u1"))
        );
        assert!(x.failed);
        assert_eq!(x.error_message.as_deref(), Some("boom"));
    }

    #[test]
    fn indexed_consumption_leaves_other_keys() {
        let c = Consumed::Indexed("gen_ai.prompt.", |f| f == "role");
        assert!(c.matches("gen_ai.prompt.10.role"));
        assert!(!c.matches("gen_ai.prompt.1.foo"));
        assert!(!c.matches("gen_ai.prompt.prompt_filter_results"));
    }
}
