// End-to-end: the dashboard embedded in the real binary, in real headless Chromium, against
// `spyglass demo` data.

import assert from "node:assert/strict";
import { test } from "node:test";
import { newPage } from "./browser.mjs";
import { useServerAndBrowser } from "./harness.mjs";
import { startServer } from "./server.mjs";

const ctx = useServerAndBrowser();

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
    ["/no/such/page", "text=Not found"],
  ];
  for (const [path, ready] of pages) {
    const { page, errors } = await newPage(ctx.browser);
    await page.goto(ctx.server.url + path);
    await page.waitForSelector(ready, { timeout: 15_000 });
    await page.waitForLoadState("networkidle");
    assert.deepEqual(errors, [], `console errors on ${path}`);
    await page.close();
  }
});

test("a filter changes the results and is kept in the URL", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/traces`);
  await page.waitForSelector('[data-testid="trace-row"]');
  const all = await page.locator('[data-testid="trace-row"]').count();
  await page.selectOption('select[name="status"]', "error");
  await page.waitForURL(/status=error/);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="trace-row"]').length !== n, all);
  const errorsOnly = await page.locator('[data-testid="trace-row"]').count();
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
  await page.goto(`${ctx.server.url}/security`);
  await page.waitForSelector('[data-testid="finding-row"]');
  const total = await page.locator('[data-testid="finding-row"]').count();
  await page.selectOption('select[name="severity"]', "critical");
  await page.waitForURL(/severity=critical/);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="finding-row"]').length !== n, total);
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
    for (const path of ["/", "/traces"]) {
      await page.goto(empty.url + path);
      const text = await page.locator('[data-testid="empty-state"]').first().textContent({ timeout: 15_000 });
      assert.match(text, /4318/);
      assert.match(text, /pip install spyglass-sdk/);
    }
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await empty.stop();
  }
});
