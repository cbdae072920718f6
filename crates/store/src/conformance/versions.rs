//! Conformance cases of agent versions.

use super::{T0, llm, span, write};
use crate::Store;
use spyglass_model::topology::AgentVersion;
use spyglass_model::{Span, SpanId, SpanKind};

const MS: i64 = 1_000_000;

/// One run of the agent `coder` (trace `trace`, starting `start_ms` in): an LLM call with the
/// system prompt, then the tools; ids 1 (agent), 2 (LLM), 3.. (tools).
fn run(p: &str, trace: u128, start_ms: i64, tools: &[&str], prompt: &str) -> Vec<Span> {
    let mut agent = span(p, trace, 1, None, start_ms, 500);
    agent.kind = SpanKind::Agent;
    agent.name = "invoke_agent coder".into();
    agent.agent_name = Some("coder".into());
    let mut chat = llm(
        span(p, trace, 2, Some(1), start_ms + 1, 100),
        "gpt-4o",
        10,
        5,
        None,
    );
    chat.input = Some(format!(
        r#"[{{"role":"system","content":"{prompt}"}},{{"role":"user","content":"run {trace}"}}]"#
    ));
    let mut spans = vec![agent, chat];
    for (i, t) in tools.iter().enumerate() {
        let mut s = span(
            p,
            trace,
            3 + i as u64,
            Some(1),
            start_ms + 200 + i as i64,
            10,
        );
        s.kind = SpanKind::Tool;
        s.name = format!("execute_tool {t}");
        s.tool_name = Some(t.to_string());
        spans.push(s);
    }
    // Children first, as exporters send them.
    spans.reverse();
    spans
}

fn shape(v: &[AgentVersion]) -> Vec<(Vec<String>, i64, Vec<String>)> {
    v.iter()
        .map(|x| (x.tools.clone(), x.runs, x.changes.clone()))
        .collect()
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

pub async fn agent_versions_record_changes_once(store: &dyn Store) {
    let p = "conf-agent-versions";
    let (a, b, c) = ("read_file", "search", "execute_code");
    // The same shape twice: one version, two runs.
    let first = run(p, 1, 0, &[a, b], "You are a coder.");
    write(store, first.clone()).await;
    let second = run(p, 2, 1_000, &[a, b], "You are a coder.");
    // The agent span in a batch of its own, after its children.
    write(store, second[..second.len() - 1].to_vec()).await;
    write(store, second[second.len() - 1..].to_vec()).await;
    // A new tool.
    write(store, run(p, 3, 2_000, &[a, b, c], "You are a coder.")).await;
    // Another system prompt.
    write(
        store,
        run(p, 4, 3_000, &[a, b, c], "You are a careful coder."),
    )
    .await;
    // A run that first looks like a new version, until a late tool span makes it the last
    // one: it moves.
    let fifth = run(p, 5, 4_000, &[a, b, c], "You are a careful coder.");
    let (late, rest): (Vec<Span>, Vec<Span>) = fifth
        .into_iter()
        .partition(|s| s.tool_name.as_deref() == Some(c));
    write(store, rest).await;
    let between = store.agent_versions(p, "coder").await.expect("versions");
    assert_eq!(between.len(), 4, "{between:#?}");
    write(store, late).await;
    // Re-sent spans (a retried export) count nothing again.
    let mut again = first.clone();
    for s in &mut again {
        s.received_ns += 1;
    }
    write(store, again).await;
    write(store, first).await;

    let want = vec![
        (strings(&[c, a, b]), 2, strings(&["system prompt changed"])),
        (
            strings(&[c, a, b]),
            1,
            strings(&["added tool execute_code"]),
        ),
        (strings(&[a, b]), 2, vec![]),
    ];
    let mut want = want;
    for w in &mut want {
        w.0.sort();
    }
    for compacted in [false, true] {
        if compacted {
            store.compact().await.expect("compact");
        }
        let v = store.agent_versions(p, "coder").await.expect("versions");
        assert_eq!(shape(&v), want, "compacted: {compacted}; {v:#?}");
        for x in &v {
            assert_eq!(x.models, vec!["gpt-4o"]);
            assert_eq!(x.fingerprint.len(), 16);
            assert!(x.fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(x.system_prompt_hash.is_some());
        }
        assert_ne!(v[0].system_prompt_hash, v[1].system_prompt_hash);
        assert_eq!(v[1].system_prompt_hash, v[2].system_prompt_hash);
        assert_eq!(
            (v[2].first_seen_ns, v[2].last_seen_ns),
            (T0, T0 + 1_000 * MS),
            "the starts of the runs"
        );
        assert_eq!(v[1].first_seen_ns, T0 + 2_000 * MS);
        assert_eq!(v[0].last_seen_ns, T0 + 4_000 * MS);
    }
    assert!(store.agent_versions(p, "nobody").await.unwrap().is_empty());
    assert!(
        store
            .agent_versions("conf-agent-versions-other", "coder")
            .await
            .unwrap()
            .is_empty(),
        "tenants are isolated"
    );
    // The sub-agent's spans are its own, not its caller's.
    let q = "conf-agent-versions-nested";
    let mut spans = run(q, 1, 0, &["delegate"], "You plan.");
    for s in &mut spans {
        if s.kind == SpanKind::Agent {
            s.agent_name = Some("planner".into());
        }
    }
    let mut sub = run(q, 1, 10, &["execute_code"], "You code.");
    for s in &mut sub {
        s.span_id = SpanId::from_u64(s.span_id.as_u64() + 100);
        s.parent_span_id = Some(SpanId::from_u64(
            s.parent_span_id.map_or(3, |x| x.as_u64() + 100),
        ));
    }
    spans.extend(sub);
    write(store, spans).await;
    let planner = store.agent_versions(q, "planner").await.unwrap();
    assert_eq!(shape(&planner), vec![(strings(&["delegate"]), 1, vec![])]);
    let coder = store.agent_versions(q, "coder").await.unwrap();
    assert_eq!(shape(&coder), vec![(strings(&["execute_code"]), 1, vec![])]);
}
