import { describe, expect, it } from "vitest";
import type { Finding, LiveSpan } from "../api";
import { matches, prepend, rowsOf, type LiveRow } from "./buffer";

const tokens = { input: null, output: null, cache_read: null, cache_write: null, reasoning: null, total: null };

function span(id: string, name = `span ${id}`): LiveSpan {
  return {
    trace_id: "t1", span_id: id, parent_span_id: null, name, service_name: "svc", kind: "llm", start_ns: 1, end_ns: 2,
    duration_ns: 1, status: "ok", status_message: null, agent_name: "planner", tool_name: null, provider: null,
    model: "gpt-4o", tokens, cost_usd: null, cost_source: null, session_id: null, user_id: "u1",
    input_preview: "hello", output_preview: null, received_ns: Number(id.replace(/\D/g, "")) || 0,
  };
}

const finding = { id: "f1", trace_id: "t1", span_id: "s1", category: "prompt_injection", detector: "d", severity: "high",
  evidence: "ignore previous instructions", time_ns: 5 } as Finding;

describe("live buffer", () => {
  it("puts a batch newest first", () => {
    const rows = rowsOf({ type: "spans", spans: [span("s1"), span("s2"), span("s3")] });
    expect(rows.map((r) => r.key)).toEqual(["s:t1:s3", "s:t1:s2", "s:t1:s1"]);
    expect(rowsOf({ type: "findings", findings: [finding] })[0]!.type).toBe("finding");
    expect(rowsOf({ type: "dropped", batches: 3, message: "" })).toEqual([]);
    expect(rowsOf({ type: "subscribed" })).toEqual([]);
  });

  it("keeps at most max rows, dropping the oldest", () => {
    let rows: LiveRow[] = [];
    for (let i = 0; i < 50; i++) rows = prepend(rows, rowsOf({ type: "spans", spans: [span(`s${2 * i}`), span(`s${2 * i + 1}`)] }), 30);
    expect(rows).toHaveLength(30);
    expect(rows[0]!.key).toBe("s:t1:s99");
    expect(rows[29]!.key).toBe("s:t1:s70");
  });

  it("bounds a single batch larger than max", () => {
    const big = rowsOf({ type: "spans", spans: Array.from({ length: 1000 }, (_, i) => span(`s${i}`)) });
    expect(prepend([], big, 10).map((r) => r.key)[0]).toBe("s:t1:s999");
    expect(prepend([], big, 10)).toHaveLength(10);
  });

  it("replaces a span sent again instead of listing it twice", () => {
    const first = prepend([], rowsOf({ type: "spans", spans: [span("s1", "running"), span("s2")] }), 10);
    const again = prepend(first, rowsOf({ type: "spans", spans: [span("s1", "ended")] }), 10);
    expect(again).toHaveLength(2);
    expect(again[0]!.type === "span" && again[0]!.span.name).toBe("ended");
  });

  it("filters on text fields, case-insensitively", () => {
    const [row] = rowsOf({ type: "spans", spans: [span("s1")] });
    expect(matches(row!, "")).toBe(true);
    expect(matches(row!, "GPT-4")).toBe(true);
    expect(matches(row!, "planner")).toBe(true);
    expect(matches(row!, "nothing-like-this")).toBe(false);
    const [f] = rowsOf({ type: "findings", findings: [finding] });
    expect(matches(f!, "injection")).toBe(true);
  });
});
