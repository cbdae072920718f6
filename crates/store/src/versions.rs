//! Agent versions: what an agent run used (the tools called in it, the models of its LLM calls
//! and its system prompt), fingerprinted, so that a change of any of them is recorded with the
//! time it was first seen. Kept like the rollups (`rollup`): the writer derives a touched
//! trace's agent runs before and after a commit and stores the difference, so a run is counted
//! once under re-delivery and moves to its new version when a late span changes what it used.
//! Pure; backends store the rows and aggregate them.

use crate::rollup::{agent_label, nearest_agent};
use crate::summary::TraceState;
use spyglass_model::topology::AgentVersion;
use spyglass_model::{SpanId, SpanKind};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// FNV-1a, 64 bits: stable across runs and builds (fingerprints are stored).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A field followed by a separator no UTF-8 string contains, so ("ab", "c") and ("a", "bc")
    /// differ.
    pub fn field(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
        self.bytes(&[0xff]);
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

/// The system prompt of an LLM call's input (the JSON text of its chat messages,
/// docs/canonical-span.md): a hash of the content of its `system` messages, `None` when it has
/// none. Cheap when there is none: the input is parsed only if it mentions `"system"`.
pub fn system_prompt_hash(input: &str) -> Option<u64> {
    if !input.contains("\"system\"") {
        return None;
    }
    let mut h = Fnv::default();
    let mut found = false;
    // The canonical form, written by the normalizer: `{"role":"system","content":"..."` (a
    // JSON string cannot contain this unescaped, so every match is a message). Only the
    // content strings are decoded.
    // System messages come first, so the search stops early: what follows the last one is
    // only checked with `contains`, much faster than a search that reports where.
    const CANONICAL: &str = r#"{"role":"system","content":"#;
    let mut rest = input;
    while let Some(at) = rest.find(CANONICAL) {
        rest = &rest[at + CANONICAL.len()..];
        let mut content =
            serde_json::Deserializer::from_str(rest).into_iter::<std::borrow::Cow<'_, str>>();
        if let Some(Ok(text)) = content.next() {
            h.field(text.as_bytes());
            found = true;
            rest = &rest[content.byte_offset()..];
        }
        if !rest.contains(CANONICAL) {
            break;
        }
    }
    if found {
        return Some(h.finish());
    }
    // Anything else that is a message array (a producer's own input kept verbatim).
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        role: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        content: Option<&'a serde_json::value::RawValue>,
    }
    let messages: Vec<Message<'_>> = serde_json::from_str(input).ok()?;
    for m in messages {
        if m.role.as_deref() != Some("system") {
            continue;
        }
        let Some(raw) = m.content else { continue };
        match serde_json::from_str::<std::borrow::Cow<'_, str>>(raw.get()) {
            Ok(text) => h.field(text.as_bytes()),
            Err(_) => h.field(raw.get().as_bytes()),
        }
        found = true;
    }
    found.then(|| h.finish())
}

/// What an agent run used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version {
    /// Tools called in the run, sorted.
    pub tools: Vec<String>,
    /// Models of its LLM calls, sorted.
    pub models: Vec<String>,
    /// The system prompts of its LLM calls, as one hash (`None`: none recorded).
    pub system_prompt_hash: Option<u64>,
}

impl Version {
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::default();
        for t in &self.tools {
            h.field(t.as_bytes());
        }
        h.bytes(&[0xfe]);
        for m in &self.models {
            h.field(m.as_bytes());
        }
        h.bytes(&[0xfe]);
        match self.system_prompt_hash {
            Some(p) => h.bytes(&p.to_le_bytes()),
            None => h.bytes(&[0xfd]),
        }
        h.finish()
    }
}

/// One agent run: a finished agent span and the version of what ran in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub agent: String,
    pub start_ns: i64,
    pub fingerprint: u64,
    pub version: Version,
}

/// A trace's agent runs, by agent span.
pub type Runs = HashMap<SpanId, Run, crate::Seeded>;

/// The agent runs of a trace as it stands. A run is a finished agent span; what runs in it is
/// every span below it down to the next agent span of another name (a nested agent span of the
/// same name, a second instrumentation's record of the same run, belongs to the one above it
/// and is no run of its own). Its tools are those of its tool and retriever spans, its models
/// and system prompts those of its LLM spans. A run that called no tool and no model has no
/// version. Traces without a finished agent span cost one scan of their spans.
pub fn runs(state: &TraceState) -> Runs {
    let mut out = Runs::default();
    if !state
        .spans
        .values()
        .any(|c| c.kind == SpanKind::Agent && c.finished)
    {
        return out;
    }
    let mut children: HashMap<SpanId, Vec<SpanId>, crate::Seeded> = HashMap::default();
    for (id, c) in &state.spans {
        if let Some(p) = c.parent.filter(|p| p != id) {
            children.entry(p).or_default().push(*id);
        }
    }
    let mut stack: Vec<SpanId> = Vec::new();
    for (id, c) in &state.spans {
        if c.kind != SpanKind::Agent || !c.finished {
            continue;
        }
        let label = agent_label(c);
        if nearest_agent(state, c.parent, None) == Some(label) {
            continue;
        }
        let mut tools: BTreeSet<&str> = BTreeSet::new();
        let mut models: BTreeSet<&str> = BTreeSet::new();
        let mut prompts: BTreeSet<u64> = BTreeSet::new();
        stack.clear();
        stack.extend(children.get(id).into_iter().flatten());
        while let Some(x) = stack.pop() {
            // Forged parent ids can make a cycle; in one, every span below this one leads
            // back to it.
            if x == *id {
                continue;
            }
            let Some(d) = state.spans.get(&x) else {
                continue;
            };
            match d.kind {
                SpanKind::Agent if agent_label(d) != label => continue,
                SpanKind::Tool | SpanKind::Retriever => {
                    if let Some(t) = &d.tool_name {
                        tools.insert(t);
                    }
                }
                SpanKind::Llm => {
                    if let Some(m) = &d.model {
                        models.insert(m);
                    }
                    if let Some(p) = d.system_prompt_hash {
                        prompts.insert(p);
                    }
                }
                _ => {}
            }
            stack.extend(children.get(&x).into_iter().flatten());
        }
        if tools.is_empty() && models.is_empty() {
            continue;
        }
        let system_prompt_hash = match prompts.len() {
            0 => None,
            1 => prompts.first().copied(),
            _ => {
                let mut h = Fnv::default();
                for p in &prompts {
                    h.bytes(&p.to_le_bytes());
                }
                Some(h.finish())
            }
        };
        let version = Version {
            tools: tools.into_iter().map(str::to_string).collect(),
            models: models.into_iter().map(str::to_string).collect(),
            system_prompt_hash,
        };
        out.insert(
            *id,
            Run {
                agent: label.to_string(),
                start_ns: c.start_ns,
                fingerprint: version.fingerprint(),
                version,
            },
        );
    }
    out
}

/// What one commit adds to a (project, agent, fingerprint): runs (negative when runs moved to
/// another version) and the span starts of the runs it counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub version: Version,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    pub runs: i64,
}

/// Project, agent and fingerprint.
pub type VersionKey = (Arc<str>, String, u64);

/// The agent-version rows of one commit.
#[derive(Debug, Default)]
pub struct VersionDeltas {
    pub rows: HashMap<VersionKey, VersionRow, crate::Seeded>,
}

impl VersionDeltas {
    /// Records a trace's change: its runs now against its runs before. A new run counts once;
    /// a run whose fingerprint changed (a late span) moves from its old version to its new one.
    pub fn change(&mut self, project: &Arc<str>, before: Runs, after: &Runs) {
        for (id, a) in after {
            match before.get(id) {
                Some(b) if b.agent == a.agent && b.fingerprint == a.fingerprint => {}
                Some(b) => {
                    self.add(project, b, -1);
                    self.add(project, a, 1);
                }
                None => self.add(project, a, 1),
            }
        }
        for (id, b) in &before {
            if !after.contains_key(id) {
                self.add(project, b, -1);
            }
        }
    }

    fn add(&mut self, project: &Arc<str>, run: &Run, n: i64) {
        let row = self
            .rows
            .entry((project.clone(), run.agent.clone(), run.fingerprint))
            .or_insert_with(|| VersionRow {
                version: run.version.clone(),
                first_seen_ns: run.start_ns,
                last_seen_ns: run.start_ns,
                runs: 0,
            });
        row.runs += n;
        row.first_seen_ns = row.first_seen_ns.min(run.start_ns);
        row.last_seen_ns = row.last_seen_ns.max(run.start_ns);
    }

    /// The rows that change a count (a trace re-sent unchanged nets out).
    pub fn into_rows(self) -> Vec<(VersionKey, VersionRow)> {
        self.rows.into_iter().filter(|(_, r)| r.runs != 0).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Hex of a stored hash, as the API shows fingerprints.
pub fn hex(h: u64) -> String {
    format!("{h:016x}")
}

/// One version as stored (backends aggregate their rows into these).
pub fn agent_version(
    fingerprint: u64,
    tools: Vec<String>,
    models: Vec<String>,
    system_prompt_hash: Option<u64>,
    first_seen_ns: i64,
    last_seen_ns: i64,
    runs: i64,
) -> AgentVersion {
    AgentVersion {
        fingerprint: hex(fingerprint),
        tools,
        models,
        system_prompt_hash: system_prompt_hash.map(hex),
        first_seen_ns,
        last_seen_ns,
        runs,
        changes: Vec::new(),
    }
}

/// An agent's versions, newest first (by when each was first seen), each with what changed
/// from the one first seen before it. The oldest has no changes.
pub fn history(mut versions: Vec<AgentVersion>) -> Vec<AgentVersion> {
    versions
        .sort_by(|a, b| (a.first_seen_ns, &a.fingerprint).cmp(&(b.first_seen_ns, &b.fingerprint)));
    for i in 1..versions.len() {
        versions[i].changes = changes(&versions[i - 1], &versions[i]);
    }
    versions.reverse();
    versions
}

/// What changed from `prev` to `cur`: tools added and removed, models (one replaced by one
/// reads `model a → b`), the system prompt.
pub fn changes(prev: &AgentVersion, cur: &AgentVersion) -> Vec<String> {
    let diff = |old: &[String], new: &[String]| -> (Vec<String>, Vec<String>) {
        (
            new.iter().filter(|x| !old.contains(x)).cloned().collect(),
            old.iter().filter(|x| !new.contains(x)).cloned().collect(),
        )
    };
    let mut out = Vec::new();
    let (added, removed) = diff(&prev.tools, &cur.tools);
    out.extend(added.iter().map(|t| format!("added tool {t}")));
    out.extend(removed.iter().map(|t| format!("removed tool {t}")));
    let (added, removed) = diff(&prev.models, &cur.models);
    if let ([a], [r]) = (added.as_slice(), removed.as_slice()) {
        out.push(format!("model {r} → {a}"));
    } else {
        out.extend(added.iter().map(|m| format!("added model {m}")));
        out.extend(removed.iter().map(|m| format!("removed model {m}")));
    }
    match (&prev.system_prompt_hash, &cur.system_prompt_hash) {
        (Some(a), Some(b)) if a != b => out.push("system prompt changed".into()),
        (None, Some(_)) => out.push("system prompt added".into()),
        (Some(_), None) => out.push("system prompt removed".into()),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Contribution;
    use spyglass_model::{Span, TraceId};

    fn span(id: u64, parent: Option<u64>, kind: SpanKind, start: i64) -> Span {
        let mut s = Span::new(
            TraceId::from_u128(1),
            SpanId::from_u64(id),
            &format!("s{id}"),
            start,
        );
        s.parent_span_id = parent.map(SpanId::from_u64);
        s.kind = kind;
        s.finish(start + 10);
        s
    }

    fn agent(id: u64, parent: Option<u64>, name: &str) -> Span {
        let mut s = span(id, parent, SpanKind::Agent, id as i64);
        s.agent_name = Some(name.into());
        s
    }

    fn tool(id: u64, parent: u64, name: &str) -> Span {
        let mut s = span(id, Some(parent), SpanKind::Tool, 0);
        s.tool_name = Some(name.into());
        s
    }

    fn llm(id: u64, parent: u64, model: &str, system: Option<&str>) -> Span {
        let mut s = span(id, Some(parent), SpanKind::Llm, 0);
        s.request_model = Some(model.into());
        s.input = Some(match system {
            Some(p) => format!(
                r#"[{{"role":"system","content":{}}},{{"role":"user","content":"hi"}}]"#,
                serde_json::to_string(p).unwrap()
            ),
            None => r#"[{"role":"user","content":"hi"}]"#.into(),
        });
        s
    }

    fn state(spans: &[Span]) -> TraceState {
        let mut st = TraceState::default();
        for s in spans {
            st.apply(s.span_id, Contribution::of(s));
        }
        st
    }

    #[test]
    fn system_prompts_hash_stably_and_only_system_messages_count() {
        let a = system_prompt_hash(
            r#"[{"role":"system","content":"be brief"},{"role":"user","content":"x"}]"#,
        );
        let b = system_prompt_hash(
            r#"[{"role":"system","content":"be brief"},{"role":"user","content":"y"}]"#,
        );
        assert!(a.is_some());
        assert_eq!(a, b, "the user's turn is not the prompt");
        // Pinned: fingerprints are stored, so the hash must never change.
        let mut h = Fnv::default();
        h.field(b"be brief");
        assert_eq!(a, Some(h.finish()));
        assert_ne!(
            a,
            system_prompt_hash(r#"[{"role":"system","content":"be verbose"}]"#)
        );
        assert_eq!(
            system_prompt_hash(r#"[{"role":"user","content":"system"}]"#),
            None
        );
        assert_eq!(
            system_prompt_hash(r#"[{"role":"user","content":"the \"system\" word"}]"#),
            None
        );
        assert_eq!(system_prompt_hash("plain text"), None);
        // Escapes decode; a non-canonical array (spaces, content parts) is read too.
        assert_eq!(
            system_prompt_hash(r#"[{"role":"system","content":"be \"brief\""}]"#),
            system_prompt_hash(r#"[ {"content": "be \"brief\"", "role": "system"} ]"#)
        );
        assert!(
            system_prompt_hash(r#"[{"role": "system", "content": [{"type":"text","text":"x"}]}]"#)
                .is_some()
        );
    }

    #[test]
    fn a_run_is_what_ran_below_its_agent_span_down_to_the_next_agent() {
        let spans = vec![
            agent(1, None, "planner"),
            llm(2, 1, "gpt-4o", Some("plan")),
            tool(3, 1, "search"),
            // A chain in between still belongs to the planner.
            span(4, Some(1), SpanKind::Chain, 0),
            tool(5, 4, "search"),
            tool(6, 4, "delegate"),
            // A sub-agent: its spans are its own.
            agent(7, Some(6), "coder"),
            tool(8, 7, "execute_code"),
            llm(9, 7, "gpt-4.1", None),
            // An agent span of the same name inside the coder: the same run.
            agent(10, Some(7), "coder"),
            tool(11, 10, "shell"),
        ];
        let runs = runs(&state(&spans));
        assert_eq!(runs.len(), 2, "{runs:?}");
        let planner = &runs[&SpanId::from_u64(1)];
        assert_eq!(planner.agent, "planner");
        assert_eq!(planner.version.tools, vec!["delegate", "search"]);
        assert_eq!(planner.version.models, vec!["gpt-4o"]);
        assert!(planner.version.system_prompt_hash.is_some());
        let coder = &runs[&SpanId::from_u64(7)];
        assert_eq!(coder.version.tools, vec!["execute_code", "shell"]);
        assert_eq!(coder.version.models, vec!["gpt-4.1"]);
        assert_eq!(coder.version.system_prompt_hash, None);
    }

    #[test]
    fn runs_without_tools_or_models_and_running_agents_have_no_version() {
        let mut running = agent(1, None, "a");
        running.end_ns = None;
        let st = state(&[running, tool(2, 1, "t"), agent(3, None, "b")]);
        assert!(runs(&st).is_empty());
        // A cycle of forged parent ids ends.
        let st = state(&[agent(1, Some(2), "a"), tool(2, 1, "t")]);
        assert!(runs(&st).len() <= 1);
    }

    #[test]
    fn deltas_count_each_run_once_and_move_runs_a_late_span_changes() {
        let p: Arc<str> = "p".into();
        let mut d = VersionDeltas::default();
        let mut st = state(&[agent(1, None, "a"), tool(2, 1, "t")]);
        d.change(&p, Runs::default(), &runs(&st));
        // Re-sent unchanged: nothing.
        let before = runs(&st);
        st.apply(SpanId::from_u64(2), Contribution::of(&tool(2, 1, "t")));
        d.change(&p, before, &runs(&st));
        let rows = std::mem::take(&mut d).into_rows();
        assert_eq!(rows.len(), 1);
        let old = rows[0].0.2;
        assert_eq!(rows[0].1.runs, 1);
        // A late tool: the run moves.
        let before = runs(&st);
        st.apply(SpanId::from_u64(3), Contribution::of(&tool(3, 1, "u")));
        d.change(&p, before, &runs(&st));
        let mut rows: Vec<(u64, i64, Vec<String>)> = d
            .into_rows()
            .into_iter()
            .map(|((_, _, f), r)| (f, r.runs, r.version.tools))
            .collect();
        rows.sort_by_key(|r| r.1);
        assert_eq!(rows[0], (old, -1, vec!["t".to_string()]));
        assert_eq!(rows[1].1, 1);
        assert_eq!(rows[1].2, vec!["t", "u"]);
    }

    fn v(fp: &str, tools: &[&str], models: &[&str], prompt: Option<&str>, t: i64) -> AgentVersion {
        AgentVersion {
            fingerprint: fp.into(),
            tools: tools.iter().map(|s| s.to_string()).collect(),
            models: models.iter().map(|s| s.to_string()).collect(),
            system_prompt_hash: prompt.map(str::to_string),
            first_seen_ns: t,
            last_seen_ns: t,
            runs: 1,
            changes: vec![],
        }
    }

    #[test]
    fn history_is_newest_first_with_what_changed() {
        let h = history(vec![
            v("c", &["a", "b", "c"], &["gpt-4.1"], Some("p2"), 30),
            v("a", &["a", "b"], &["gpt-4o"], Some("p1"), 10),
            v("b", &["a", "b", "c"], &["gpt-4o"], Some("p1"), 20),
            v("d", &["b"], &["gpt-4.1", "o3"], None, 40),
        ]);
        let fps: Vec<&str> = h.iter().map(|x| x.fingerprint.as_str()).collect();
        assert_eq!(fps, vec!["d", "c", "b", "a"]);
        assert_eq!(
            h[0].changes,
            vec![
                "removed tool a",
                "removed tool c",
                "added model o3",
                "system prompt removed"
            ]
        );
        assert_eq!(
            h[1].changes,
            vec!["model gpt-4o → gpt-4.1", "system prompt changed"]
        );
        assert_eq!(h[2].changes, vec!["added tool c"]);
        assert!(h[3].changes.is_empty());
    }
}
