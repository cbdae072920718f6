// A generated 100,000-span trace: time to the first rendered rows of the tree (with where it
// went: fetch, server, parse, decode, tree), opened by its address and by a click in the trace
// list, and frame times while scrolling it, measured in the browser. The figures are printed;
// the bounds asserted are generous so a busy shared 2-vCPU machine does not fail the build (the
// goals are < 1 s and frames < 50 ms).

import assert from "node:assert/strict";
import { test } from "node:test";
import { newPage } from "./browser.mjs";
import { useServerAndBrowser } from "./harness.mjs";
import { SPANS, sendTrace } from "./bigtrace.mjs";

const ctx = useServerAndBrowser();

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Records when the first tree row appears, in page time (milliseconds from navigation). */
const watchFirstRow = () => {
  new MutationObserver((_, obs) => {
    if (document.querySelector('[data-testid="span-row"]')) {
      window.__firstRow = performance.now();
      obs.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
};

/** Where the load of the trace went, from the page's resource timing and User Timing marks. */
const traceTiming = (page, id) =>
  page.evaluate((id) => {
    const res = performance.getEntriesByType("resource").findLast((e) => e.name.endsWith(`/api/v1/traces/${id}/outline`));
    const marks = Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name, m.startTime]));
    return {
      firstRow: window.__firstRow, fetchStart: res.startTime, responseStart: res.responseStart, responseEnd: res.responseEnd,
      bytes: res.encodedBodySize, marks, server: res.serverTiming.map((t) => `${t.name} ${t.duration.toFixed(0)}`).join(", "),
    };
  }, id);

const describe = (t, since = 0) => {
  const at = (v) => (v == null ? "-" : (v - since).toFixed(0));
  const m = t.marks;
  return (
    `first row ${at(t.firstRow)} ms (fetch ${at(t.fetchStart)}, first byte ${at(t.responseStart)}, response ${at(t.responseEnd)}, ` +
    `parsed ${at(m["trace:parsed"])}, decoded ${at(m["trace:decoded"])}, tree ${at(m["trace:tree"])}; server: ${t.server} ms)`
  );
};

/** Opens the trace in a new page, `settleMs` after creating it; times from navigation. */
async function openTrace(traceId, { settleMs }) {
  const { page, errors } = await newPage(ctx.browser);
  await page.addInitScript(watchFirstRow);
  await page.waitForTimeout(settleMs);
  await page.goto(`${ctx.server.url}/traces/${traceId}`);
  await page.waitForSelector('[data-testid="span-row"]', { timeout: 60_000 });
  const timing = await traceTiming(page, traceId);
  return { page, errors, timing, text: describe(timing) };
}

test("a 100,000-span trace renders fast and scrolls smoothly", { timeout: 300_000 }, async () => {
  const t = Date.now();
  const traceId = await sendTrace(ctx.server);
  console.log(`sent and stored ${SPANS} spans in ${Date.now() - t} ms`);

  // A tab just created is still starting its renderer, which on two cores takes the CPU the
  // first load needs; a user opening a link or clicking through has a browser running. So the
  // figure is taken in an idle tab (the server's first read of the trace), and printed for a
  // new tab too (a second read).
  const { page, errors, timing, text } = await openTrace(traceId, { settleMs: 1_000 });
  console.log(`idle tab: ${text}`);
  const fresh = await openTrace(traceId, { settleMs: 0 });
  console.log(`new tab: ${fresh.text}`);
  assert.deepEqual(fresh.errors, []);
  await fresh.page.close();
  console.log(`first render: ${(timing.firstRow - timing.responseEnd).toFixed(0)} ms after the ${(timing.bytes / 1e6).toFixed(1)} MB response arrived`);

  const rows = await page.locator('[data-testid="span-row"]').count();
  assert.ok(rows < 200, `only the visible rows are in the DOM (${rows})`);

  // Scroll through the tree: steady wheel-like steps, then long jumps, sampling frame times.
  const frames = await page.evaluate(async () => {
    const el = document.querySelector('[data-testid="waterfall-scroll"]');
    const times = [];
    let last = performance.now();
    const frame = () => new Promise((r) => requestAnimationFrame(() => { const now = performance.now(); times.push(now - last); last = now; r(); }));
    await frame();
    times.length = 0;
    for (let i = 0; i < 300; i++) { el.scrollTop += 400; await frame(); }
    for (let i = 0; i < 60; i++) { el.scrollTop = Math.random() * el.scrollHeight; await frame(); }
    return times;
  });
  const sorted = [...frames].sort((a, b) => a - b);
  const [p50, p95, max] = [pct(sorted, 50), pct(sorted, 95), sorted[sorted.length - 1]];
  console.log(`scroll: ${frames.length} frames, p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${max.toFixed(1)} ms`);

  // Keyboard selection stays responsive on the big tree.
  await page.locator('[data-testid="span-row"]').first().click();
  await page.keyboard.press("ArrowDown");
  await page.waitForSelector('[data-testid="span-panel"]');

  assert.deepEqual(errors, []);
  assert.ok(timing.firstRow < 5_000, `first render ${timing.firstRow} ms from navigation`);
  assert.ok(p95 < 100, `p95 frame ${p95} ms`);
  await page.close();

  // Clicking through from the trace list: the app is loaded, the trace is fetched on the click.
  const list = await newPage(ctx.browser);
  await list.page.addInitScript(watchFirstRow);
  await list.page.goto(`${ctx.server.url}/traces?q=big-agent`);
  await list.page.waitForSelector('[data-testid="trace-row"] a');
  await list.page.waitForTimeout(500);
  const clickAt = await list.page.evaluate(() => {
    const t = performance.now();
    document.querySelector('[data-testid="trace-row"] a').click();
    return t;
  });
  await list.page.waitForSelector('[data-testid="span-row"]', { timeout: 60_000 });
  const clicked = await traceTiming(list.page, traceId);
  console.log(`from the trace list: ${describe(clicked, clickAt)}`);
  assert.deepEqual(list.errors, []);
  assert.ok(clicked.firstRow - clickAt < 5_000, `first render ${clicked.firstRow - clickAt} ms after the click`);
  await list.page.close();
});
