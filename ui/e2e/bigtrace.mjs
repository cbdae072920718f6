// A generated 100,000-span trace, sent over OTLP/HTTP JSON to a running server: used by the
// large-trace e2e test and by bench/trace-view.mjs.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

export const SPANS = 100_000;
const STEPS = 1_000;
const BATCH = 5_000;

const hex = (bytes) => randomBytes(bytes).toString("hex");

/** An agent run of 1,000 steps, each a chain of LLM calls and tool calls (alternating, so no
 * loop folds them away): 1 root + 1,000 steps + 98,999 leaves = 100,000 spans. */
function* generateSpans(traceId) {
  const t0 = BigInt(Date.now() - 3_600_000) * 1_000_000n;
  const ms = 1_000_000n;
  const span = (id, parent, name, start, end, attrs) => ({
    traceId, spanId: id, parentSpanId: parent, name, kind: 1,
    startTimeUnixNano: String(start), endTimeUnixNano: String(end),
    attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
  });
  const root = hex(8);
  yield span(root, "", "invoke_agent big-agent", t0, t0 + BigInt(STEPS) * 100n * ms, { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "big-agent" });
  let left = SPANS - 1 - STEPS;
  for (let s = 0; s < STEPS; s++) {
    const stepStart = t0 + BigInt(s) * 100n * ms;
    const step = hex(8);
    yield span(step, root, `step ${s}`, stepStart, stepStart + 99n * ms, {});
    const leaves = Math.min(left, Math.ceil((SPANS - 1 - STEPS) / STEPS));
    left -= leaves;
    for (let i = 0; i < leaves; i++) {
      const start = stepStart + BigInt(i) * ms;
      const llm = i % 2 === 0;
      yield span(hex(8), step, llm ? "chat gpt-4o" : `execute_tool search_${i % 7}`, start, start + ms - 1n,
        llm ? { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o" } : { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": `search_${i % 7}` });
    }
  }
}

/** Sends the trace to `server` (from startServer) and waits until it is stored; returns its id. */
export async function sendTrace(server) {
  const traceId = hex(16);
  let batch = [];
  const flush = async () => {
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "big-agent" } }] }, scopeSpans: [{ scope: { name: "e2e" }, spans: batch }] }],
    });
    const r = await fetch(`${server.otlp}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(r.status, 200, await r.text());
    batch = [];
  };
  for (const s of generateSpans(traceId)) {
    batch.push(s);
    if (batch.length === BATCH) await flush();
  }
  if (batch.length) await flush();
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${server.url}/api/v1/traces?limit=1&q=big-agent`);
    const page = await r.json();
    if (page.items[0]?.span_count === SPANS) return traceId;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the large trace was not stored in time");
}
