//! Random agent traces for load: trees of 5 to 200 spans, some deep and some wide, with
//! OpenTelemetry GenAI attributes sized like real LLM and tool spans (~450 bytes encoded).

use crate::build::{Rng, SpanRef, TraceBuilder, kv_int, kv_str, kv_strs};
use opentelemetry_proto::tonic::trace::v1::Span;

const MODELS: &[(&str, &str)] = &[
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("openai", "o4-mini"),
];
const TOOLS: &[&str] = &[
    "web_search",
    "fetch_url",
    "run_sql",
    "read_file",
    "send_email",
    "create_ticket",
    "vector_search",
];
const AGENTS: &[&str] = &["planner", "researcher", "coder", "reviewer", "support-bot"];

/// One random trace of `n` spans (at least 1) starting at `start_ns`.
pub fn trace(rng: &mut Rng, start_ns: i64, n: usize) -> Vec<Span> {
    let mut b = TraceBuilder::new(rng, start_ns);
    let root_agent = *rng.pick(AGENTS);
    let session = format!("sess-{}", rng.range(0, 50_000));
    let user = format!("user_{}", rng.range(0, 5_000));
    let root = b.span(
        None,
        &format!("invoke_agent {root_agent}"),
        0,
        0,
        vec![
            kv_str("gen_ai.operation.name", "invoke_agent"),
            kv_str("gen_ai.agent.name", root_agent),
            kv_str("gen_ai.conversation.id", session),
            kv_str("user.id", user),
        ],
    );
    // Containers children can hang from; a deep trace keeps choosing the newest one.
    let mut containers: Vec<SpanRef> = vec![root];
    let deep = rng.chance(0.3);
    let mut t: i64 = 1;
    for i in 1..n {
        let parent = if deep {
            *containers.last().expect("root")
        } else {
            *rng.pick(&containers)
        };
        let roll = rng.range(0, 100);
        let dur = rng.range(5, 1_500) as i64;
        if roll < 45 {
            let (provider, model) = *rng.pick(MODELS);
            let input = rng.range(200, 8_000) as i64;
            let output = rng.range(20, 900) as i64;
            let s = b.span(Some(parent), &format!("chat {model}"), t, dur, vec![
                kv_str("gen_ai.operation.name", "chat"),
                kv_str("gen_ai.provider.name", provider),
                kv_str("gen_ai.request.model", model),
                kv_str("gen_ai.response.model", model),
                kv_int("gen_ai.usage.input_tokens", input),
                kv_int("gen_ai.usage.output_tokens", output),
                kv_int("gen_ai.usage.cache_read.input_tokens", input / 2),
                kv_strs("gen_ai.response.finish_reasons", &["stop"]),
                kv_str("gen_ai.input.messages", format!(r#"[{{"role":"user","parts":[{{"type":"text","content":"step {i}: continue the task"}}]}}]"#)),
                kv_str("gen_ai.output.messages", r#"[{"role":"assistant","parts":[{"type":"text","content":"Done, next I will call a tool."}],"finish_reason":"stop"}]"#),
            ]);
            b.client(s);
        } else if roll < 80 {
            let tool = *rng.pick(TOOLS);
            let s = b.span(
                Some(parent),
                &format!("execute_tool {tool}"),
                t,
                dur,
                vec![
                    kv_str("gen_ai.operation.name", "execute_tool"),
                    kv_str("gen_ai.tool.name", tool),
                    kv_str(
                        "gen_ai.tool.call.id",
                        format!("call_{:016x}", rng.next_u64()),
                    ),
                    kv_str(
                        "gen_ai.tool.call.arguments",
                        r#"{"query":"quarterly revenue by region","limit":10}"#,
                    ),
                    kv_str(
                        "gen_ai.tool.call.result",
                        r#"{"rows":[["EMEA",1204332],["AMER",2210093]],"truncated":false}"#,
                    ),
                ],
            );
            if rng.chance(0.03) {
                b.error(s, "tool timed out after 30s");
            }
        } else if roll < 92 {
            let s = b.span(
                Some(parent),
                "plan_step",
                t,
                dur,
                vec![
                    kv_str("gen_ai.operation.name", "invoke_workflow"),
                    kv_str("app.step", format!("{i}")),
                ],
            );
            containers.push(s);
        } else {
            let agent = *rng.pick(AGENTS);
            let s = b.span(
                Some(parent),
                &format!("invoke_agent {agent}"),
                t,
                dur,
                vec![
                    kv_str("gen_ai.operation.name", "invoke_agent"),
                    kv_str("gen_ai.agent.name", agent),
                ],
            );
            containers.push(s);
        }
        t += 1 + dur / 4;
    }
    // Containers (agents, workflow steps) end after everything they hold.
    let end = (b
        .spans
        .iter()
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap_or(0)
        + 1_000_000) as i64;
    for c in containers {
        b.get(c).end_time_unix_nano = end as u64;
    }
    b.spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn sizes_and_shapes() {
        let mut rng = Rng::new(42);
        let mut total_bytes = 0;
        let mut total_spans = 0;
        for n in [5, 50, 200] {
            let spans = trace(&mut rng, 1_800_000_000_000_000_000, n);
            assert_eq!(spans.len(), n);
            assert!(
                spans
                    .iter()
                    .all(|s| s.end_time_unix_nano >= s.start_time_unix_nano)
            );
            total_bytes += spans.iter().map(|s| s.encoded_len()).sum::<usize>();
            total_spans += n;
        }
        let avg = total_bytes / total_spans;
        assert!(
            (300..700).contains(&avg),
            "average encoded span {avg} bytes"
        );
    }
}
