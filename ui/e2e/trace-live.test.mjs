// The trace view follows a trace that is still running: a span sent without an end time (how
// the Python SDK sends a long-lived span while it runs) shows as running, and when its finished
// version and a new child arrive the page updates over the live socket, without a reload.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { newPage } from "./browser.mjs";
import { useServerAndBrowser } from "./harness.mjs";

const ctx = useServerAndBrowser("serve");

const hex = (bytes) => randomBytes(bytes).toString("hex");
const ns = (ms) => String(BigInt(Math.round(ms)) * 1_000_000n);

/** An OTLP/JSON span; no `end` means running (OTLP's endTimeUnixNano 0, left out here). */
function span(traceId, spanId, parent, name, start, end, attrs = {}) {
  return {
    traceId, spanId, parentSpanId: parent, name, kind: 1,
    startTimeUnixNano: ns(start),
    ...(end == null ? {} : { endTimeUnixNano: ns(end) }),
    attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
  };
}

async function send(spans) {
  const body = JSON.stringify({
    resourceSpans: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "live-e2e" } }] }, scopeSpans: [{ scope: { name: "e2e" }, spans }] }],
  });
  const r = await fetch(`${ctx.server.otlp}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body });
  assert.equal(r.status, 200, await r.text());
}

const barWidth = (page, spanId) =>
  page.locator(`[data-testid="span-row"][data-span-id="${spanId}"] .wf-bar`).evaluate((el) => parseFloat(el.style.width));

test("a running span shows as running and turns finished live, with new spans appearing", { timeout: 60_000 }, async () => {
  const traceId = hex(16);
  const root = hex(8);
  const plan = hex(8);
  const tool = hex(8);
  const t0 = Date.now() - 5_000;
  const agent = { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "live-agent" };
  await send([
    span(traceId, root, "", "invoke_agent live-agent", t0, null, agent),
    span(traceId, plan, root, "chat gpt-4o", t0 + 100, t0 + 1_100, { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o" }),
  ]);
  const stored = await (await fetch(`${ctx.server.url}/api/v1/traces/${traceId}`)).json();
  assert.equal(stored.spans.find((s) => s.span_id === root).end_ns, null, "the server stores a span without an end as running");

  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/traces/${traceId}?span=${plan}`);
  const rootRow = page.locator(`[data-testid="span-row"][data-span-id="${root}"]`);
  await rootRow.locator('[data-testid="running-badge"]').waitFor({ timeout: 15_000 });
  assert.equal(await rootRow.locator(".wf-bar.wf-running").count(), 1, "a running bar has its own style");
  await page.locator('[data-testid="trace-live"]', { hasText: "live" }).waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('[data-testid="trace-live"]')?.textContent?.includes("● live"));

  // The running bar reaches to now, so the window grows each second and the finished span's
  // share of it shrinks.
  const before = await barWidth(page, plan);
  await page.waitForFunction(
    ([id, w]) => parseFloat(document.querySelector(`[data-span-id="${id}"] .wf-bar`).style.width) < w - 1,
    [plan, before],
    { timeout: 5_000 },
  );

  // The header's duration counts up while the root runs.
  const counting = await page.locator('[data-testid="trace-duration"]').textContent();
  assert.match(counting, /so far$/);
  await page.waitForFunction(
    (t) => document.querySelector('[data-testid="trace-duration"]').textContent !== t,
    counting,
    { timeout: 5_000 },
  );

  // No reload from here on: a marker on window would not survive one.
  await page.evaluate(() => (window.__sameDocument = true));
  const end = Date.now();
  await send([
    span(traceId, root, "", "invoke_agent live-agent", t0, end, agent),
    span(traceId, tool, root, "execute_tool search", end - 1_000, end - 200, { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search" }),
  ]);
  await page.locator(`[data-testid="span-row"][data-span-id="${tool}"]`).waitFor({ timeout: 5_000 });
  await page.waitForFunction(() => !document.querySelector('[data-testid="running-badge"]'), null, { timeout: 5_000 });
  assert.equal(await page.locator(".wf-bar.wf-running").count(), 0);
  await page.waitForFunction(() => !document.querySelector('[data-testid="trace-duration"]').textContent.includes("so far"), null, { timeout: 5_000 });
  assert.equal(await page.locator('[data-testid="span-row"]').count(), 3);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  // The selection is kept.
  assert.match(page.url(), new RegExp(`span=${plan}`));
  await page.locator('[data-testid="span-row"].selected').filter({ hasText: "chat gpt-4o" }).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});
