// End-to-end: the dashboard embedded in the real binary, in real headless Chromium, against
// `spyglass demo` data.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { newPage } from "./browser.mjs";
import { useServerAndBrowser } from "./harness.mjs";
import { startServer } from "./server.mjs";

const ctx = useServerAndBrowser();

/** With SCREENSHOT_DIR=dir, saves the page as dir/<name>.png (1440×900). */
async function shot(page, name) {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

/** Opens `path`, picks `value` in the `name` filter and waits for the URL and the number of
 * `row` rows to change; returns the row counts before and after. */
async function selectFilter(page, path, row, name, value) {
  const rows = `[data-testid="${row}"]`;
  await page.goto(ctx.server.url + path);
  await page.waitForSelector(rows);
  const before = await page.locator(rows).count();
  await page.selectOption(`select[name="${name}"]`, value);
  await page.waitForURL(new RegExp(`${name}=${value}`));
  await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length !== n, [rows, before]);
  return { before, after: await page.locator(rows).count() };
}

async function firstTraceId(params = "") {
  const r = await (await fetch(`${ctx.server.url}/api/v1/traces?limit=1${params}`)).json();
  return r.items[0].trace_id;
}

test("every page loads without console errors", async () => {
  const traceId = await firstTraceId("&status=error");
  const pages = [
    ["/", '[data-testid="chart"]'],
    ["/traces", '[data-testid="trace-row"]'],
    [`/traces/${traceId}`, '[data-testid="span-row"]'],
    ["/security", '[data-testid="finding-row"]'],
    ["/live", '[data-testid="live-status"]:text("live")'],
    ["/sessions", '[data-testid="session-row"]'],
    ["/sessions/trip-planning-7f3a", '[data-testid="turn"]'],
    ["/analytics", '[data-testid="costly-models"] [data-testid="top-row"]'],
    ["/agents", '[data-testid="topology"] .node'],
    ["/alerts", '[data-testid="rules-table"], [data-testid="alerts-empty"]'],
    ["/settings", '[data-testid="settings-redaction"] .kv'],
    ["/no/such/page", "text=Not found"],
  ];
  for (const [path, ready] of pages) {
    const { page, errors } = await newPage(ctx.browser);
    await page.goto(ctx.server.url + path);
    await page.waitForSelector(ready, { timeout: 15_000 });
    if (path !== "/live") await page.waitForLoadState("networkidle");
    assert.deepEqual(errors, [], `console errors on ${path}`);
    if (path !== "/no/such/page") {
      await shot(page, path === "/" ? "overview" : path.startsWith("/traces/") ? "trace" : path.startsWith("/sessions/") ? "session" : path === "/settings" ? "settings-local" : path.slice(1));
    }
    await page.close();
  }
});

test("in local mode the top bar says so and Settings explains how to turn authentication on", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/settings`);
  assert.match(await page.getAttribute('[data-testid="local-mode"]', "title"), /SPYGLASS_AUTH__ENABLED=true/);
  assert.equal(await page.locator('[data-testid="user-menu"]').count(), 0);
  assert.match(await page.locator('[data-testid="auth-off"]').first().textContent(), /\[auth\] enabled = true/);
  await page.locator('[data-testid="project-row"]').filter({ hasText: "default" }).waitFor();
  await page.locator('[data-testid="settings-retention"] .kv').waitFor();
  // Creating a key answers 409 in local mode: the error says why and how to turn auth on.
  // (The browser logs the 409 response itself as a console error; nothing else may fail.)
  await page.fill('input[name="key-name"]', "e2e");
  await page.click('button:text("Create key")');
  const failure = page.locator('[data-testid="settings-keys"] .failure');
  await failure.waitFor();
  assert.match(await failure.textContent(), /authentication is off.*SPYGLASS_AUTH__ENABLED=true/s);
  assert.deepEqual(errors.filter((e) => !/status of 409/.test(e)), []);
  await page.close();
});

test("a filter changes the results and is kept in the URL", async () => {
  const { page, errors } = await newPage(ctx.browser);
  const { before: all, after: errorsOnly } = await selectFilter(page, "/traces", "trace-row", "status", "error");
  assert.ok(errorsOnly > 0 && errorsOnly < all, `status=error: ${errorsOnly} of ${all} traces`);
  const statuses = await page.locator('[data-testid="trace-row"] .badge').allTextContents();
  assert.ok(statuses.every((s) => s === "error"), statuses.join(","));

  // The URL alone reproduces the view.
  const shared = page.url();
  const second = await newPage(ctx.browser);
  await second.page.goto(shared);
  await second.page.waitForSelector('[data-testid="trace-row"]');
  assert.equal(await second.page.locator('[data-testid="trace-row"]').count(), errorsOnly);
  assert.equal(await second.page.locator('select[name="status"]').inputValue(), "error");

  // Free-text search narrows further.
  await page.fill('input[name="q"]', "no-such-text-anywhere-4711");
  await page.press('input[name="q"]', "Enter");
  await page.waitForSelector("text=No traces match these filters.");
  assert.deepEqual([...errors, ...second.errors], []);
  await page.close();
  await second.page.close();
});

test("a trace opens and a span's detail shows, with keyboard navigation", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/traces`);
  await page.locator('[data-testid="trace-row"] a').first().click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}/);
  await page.waitForSelector('[data-testid="span-row"]');

  // An LLM span: its input shows as chat messages.
  await page.locator('[data-testid="span-row"]').filter({ hasText: "llm" }).first().click();
  const panel = page.locator('[data-testid="span-panel"]');
  await panel.waitFor();
  await panel.locator("text=Attributes").waitFor();
  assert.ok(await panel.locator('[data-testid="span-input"]').count(), "input section");
  assert.ok(await panel.locator(".msg").count(), "input shown as chat messages");
  const first = new URL(page.url()).searchParams.get("span");
  assert.ok(first);

  await page.keyboard.press("ArrowDown");
  await page.waitForFunction((s) => new URL(location.href).searchParams.get("span") !== s, first);
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction((s) => new URL(location.href).searchParams.get("span") === s, first);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a finding links to its span", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await selectFilter(page, "/security", "finding-row", "severity", "critical");
  await page.locator('[data-testid="finding-row"] a').first().click();
  await page.waitForSelector('[data-testid="span-panel"] [data-testid="span-findings"]');
  assert.deepEqual(errors, []);
  await page.close();
});

test("the theme toggles and is remembered", async () => {
  const { page } = await newPage(ctx.browser);
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(ctx.server.url);
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
  await page.click(".theme-toggle");
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  await page.reload();
  assert.equal(await page.getAttribute("html", "data-theme"), "light");
  await page.close();
});

test("an empty server tells a new user how to send the first trace", async () => {
  const empty = await startServer("serve");
  try {
    const { page, errors } = await newPage(ctx.browser);
    for (const path of ["/", "/traces", "/sessions", "/agents"]) {
      await page.goto(empty.url + path);
      const text = await page.locator('[data-testid="empty-state"]').first().textContent({ timeout: 15_000 });
      assert.match(text, /4318/);
      assert.match(text, /pip install spyglass-sdk/);
    }
    await page.goto(empty.url + "/live");
    assert.match(await page.locator('[data-testid="live-empty"]').textContent({ timeout: 15_000 }), /4318/);
    await page.goto(empty.url + "/alerts");
    await page.locator('[data-testid="alerts-empty"]').waitFor({ timeout: 15_000 });
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await empty.stop();
  }
});

// These run last: the spans they send become the newest traces, which the tests above do not expect.
/** Sends one span over OTLP/HTTP JSON (as an OpenTelemetry SDK would) and returns its ids. */
async function sendSpan(name) {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  const now = BigInt(Date.now()) * 1_000_000n;
  const attr = (key, v) => ({ key, value: { stringValue: v } });
  const body = {
    resourceSpans: [{
      resource: { attributes: [attr("service.name", "e2e-live")] },
      scopeSpans: [{
        scope: { name: "e2e" },
        spans: [{
          traceId, spanId, name, kind: 1,
          startTimeUnixNano: String(now - 250_000_000n), endTimeUnixNano: String(now),
          attributes: [attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "gpt-4o")],
        }],
      }],
    }],
  };
  const r = await fetch(`${ctx.server.otlp}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.text());
  return { traceId, spanId };
}

test("the live view receives a span sent during the test, and pauses", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/live`);
  await page.waitForSelector('[data-testid="live-status"]:text("live")', { timeout: 15_000 });
  const name = `live-e2e-${randomBytes(4).toString("hex")}`;
  const { traceId, spanId } = await sendSpan(name);
  const row = page.locator('[data-testid="live-row"]').filter({ hasText: name });
  await row.waitFor({ timeout: 15_000 });
  assert.equal(await row.locator("a").getAttribute("href"), `/traces/${traceId}?span=${spanId}`);
  // Newest first: a second span goes above the first.
  const second = `${name}-second`;
  await sendSpan(second);
  await page.locator('[data-testid="live-row"]').filter({ hasText: second }).waitFor();
  assert.match(await page.locator('[data-testid="live-row"]').first().textContent(), new RegExp(second));
  // Paused, new spans wait; resuming shows them.
  await page.click('[data-testid="live-pause"]');
  const held = `${name}-held`;
  await sendSpan(held);
  await page.waitForSelector('[data-testid="live-pause"]:text("Resume (1 new)")', { timeout: 15_000 });
  assert.equal(await page.locator('[data-testid="live-row"]').filter({ hasText: held }).count(), 0);
  await page.click('[data-testid="live-pause"]');
  await page.locator('[data-testid="live-row"]').filter({ hasText: held }).waitFor();
  await shot(page, "live");
  // The text filter narrows the rows and is kept in the URL.
  await page.fill('input[name="q"]', second);
  await page.press('input[name="q"]', "Enter");
  await page.waitForURL(/q=live-e2e/);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="live-row"]').length === 1);
  // The row opens its trace.
  await page.locator('[data-testid="live-row"] a').first().click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}\?span=/);
  await page.waitForSelector('[data-testid="span-row"]', { timeout: 15_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a sessions filter changes the URL and the results, and a session reads as turns", async () => {
  const { page, errors } = await newPage(ctx.browser);
  const { before: all, after: mine } = await selectFilter(page, "/sessions", "session-row", "user", "user_1042");
  const rows = page.locator('[data-testid="session-row"]');
  assert.ok(mine > 0 && mine < all, `user_1042: ${mine} of ${all} sessions`);
  const users = await rows.locator("td:nth-child(3)").allTextContents();
  assert.ok(users.every((u) => u === "user_1042"), users.join(","));
  // The URL alone reproduces the view.
  await page.reload();
  await page.waitForSelector('[data-testid="session-row"]');
  assert.equal(await rows.count(), mine);
  // The three-turn trip planning session, in order, each turn linking to its trace.
  await page.click('a:text("trip-planning-7f3a")');
  await page.waitForURL(/\/sessions\/trip-planning-7f3a/);
  const turns = page.locator('[data-testid="turn"]');
  await turns.first().waitFor();
  assert.equal(await turns.count(), 3);
  assert.match(await turns.first().textContent(), /Plan a 3-day trip to Lisbon/);
  assert.match(await turns.nth(2).textContent(), /Booked: flight confirmation/);
  await turns.first().locator('a[href^="/traces/"]').click();
  await page.waitForSelector('[data-testid="span-row"]');
  assert.deepEqual(errors, []);
  await page.close();
});

test("agents show the topology with attack paths, and an alert rule is made from a template", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/agents`);
  await page.waitForSelector('[data-testid="agent-row"]');
  await page.waitForSelector('[data-testid="topology"] .edge');
  // The demo has attack paths (code-assistant → run_tests, data-analyst → run_sql), listed
  // and drawn on the graph.
  await page.waitForSelector('[data-testid="attack-path-row"]');
  const sinks = await page.locator('[data-testid="attack-path-row"] td:nth-child(4)').allTextContents();
  assert.ok(sinks.some((s) => s.startsWith("run_tests")), sinks.join(","));
  await page.waitForSelector('[data-testid="attack-edge"]');
  await page.goto(`${ctx.server.url}/alerts`);
  await page.waitForSelector('[data-testid="new-rule"] option:not([value=""])', { state: "attached" });
  const before = await page.locator('[data-testid="rule-row"]').count();
  await page.selectOption('select[name="template"]', "error_rate");
  await page.fill('input[name="param"]', "0.07");
  await page.fill('input[name="name"]', "e2e error rate");
  await page.click('button:text("Create rule")');
  await page.locator('[data-testid="rule-row"]').filter({ hasText: "e2e error rate" }).waitFor();
  assert.equal(await page.locator('[data-testid="rule-row"]').count(), before + 1);
  await shot(page, "alerts");
  assert.match(await page.locator('[data-testid="rule-row"]').filter({ hasText: "e2e error rate" }).textContent(), /error_rate > 0\.07/);
  // The overview summarises the rules' state and links to them.
  await page.goto(ctx.server.url);
  assert.match(await page.locator('[data-testid="firing-alerts"]').textContent({ timeout: 15_000 }), /e2e error rate|\d+ rules?\)/);
  assert.deepEqual(errors, []);
  await page.close();
});
