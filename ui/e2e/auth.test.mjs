// End-to-end in secured mode: `spyglass serve` with authentication on. Signing in (a wrong
// password first), creating a project and switching to it, creating an ingest key and sending
// a span with it, the span showing in that project only, revoking the key, signing out.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { newPage } from "./browser.mjs";
import { useServerAndBrowser } from "./harness.mjs";

const PASSWORD = `e2e-${randomBytes(9).toString("hex")}`;
const ctx = useServerAndBrowser("serve", {
  env: { SPYGLASS_AUTH__ENABLED: "true", SPYGLASS_AUTH__ADMIN_PASSWORD: PASSWORD },
});

async function shot(page, name) {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

/** Sends one span over OTLP/HTTP JSON with `key` as the bearer token; returns the status. */
async function sendSpan(key, name) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const attr = (k, v) => ({ key: k, value: { stringValue: v } });
  const body = {
    resourceSpans: [{
      resource: { attributes: [attr("service.name", "e2e-auth")] },
      scopeSpans: [{
        scope: { name: "e2e" },
        spans: [{
          traceId: randomBytes(16).toString("hex"), spanId: randomBytes(8).toString("hex"), name, kind: 1,
          startTimeUnixNano: String(now - 100_000_000n), endTimeUnixNano: String(now),
          attributes: [attr("gen_ai.operation.name", "chat"), attr("gen_ai.request.model", "gpt-4o")],
        }],
      }],
    }],
  };
  const r = await fetch(`${ctx.server.otlp}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return r.status;
}

/** Opens the traces page (by the nav, keeping the session) until a row named `name` shows. */
async function waitForTrace(page, name) {
  const row = page.locator('[data-testid="trace-row"]').filter({ hasText: name });
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.click('nav a:text("Traces")');
    try {
      await row.first().waitFor({ timeout: 1_000 });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await page.click('nav a:text("Overview")');
    }
  }
}

/** The browser logs each 401 (the app asking /auth/me before signing in, a wrong password) as
 * a console error; anything else is a failure. */
const unexpected = (errors) => errors.filter((e) => !/status of 401/.test(e));

test("sign in, make a project and an ingest key, send a span with it, revoke it, sign out", async () => {
  const { page, errors } = await newPage(ctx.browser);
  // Any address shows the sign-in page, and stays the address after signing in.
  await page.goto(`${ctx.server.url}/traces`);
  await page.locator('[data-testid="login-form"]').waitFor({ timeout: 15_000 });
  await page.fill('input[name="username"]', "admin");
  await page.fill('input[name="password"]', "not-the-password");
  await page.click('button:text("Sign in")');
  assert.match(await page.locator('[data-testid="login-error"]').textContent(), /Wrong username or password/);
  await shot(page, "login");
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button:text("Sign in")');
  await page.locator('[data-testid="user-menu"] summary').filter({ hasText: "admin" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/traces");
  await page.locator('[data-testid="empty-state"]').first().waitFor({ timeout: 15_000 });

  // A new project, then switch to it.
  await page.click('nav a:text("Settings")');
  await page.fill('input[name="project-id"]', "e2e-proj");
  await page.fill('input[name="project-name"]', "E2E project");
  await page.click('button:text("Create project")');
  await page.locator('[data-testid="project-row"]').filter({ hasText: "e2e-proj" }).waitFor();
  await page.locator('[data-testid="project-switcher"] option[value="e2e-proj"]').waitFor({ state: "attached" });
  await page.selectOption('[data-testid="project-switcher"]', "e2e-proj");
  await page.locator('[data-testid="settings-keys"] h2:text("API keys of E2E project")').waitFor();

  // An ingest key, shown once with how to use it.
  await page.fill('input[name="key-name"]', "e2e-ingest");
  await page.selectOption('select[name="key-scope"]', "ingest");
  await page.click('button:text("Create key")');
  const shown = page.locator('[data-testid="new-key"]');
  await shown.waitFor();
  const key = (await page.locator('[data-testid="new-key-value"]').textContent()).trim();
  assert.match(key, /^sg_ingest_/);
  assert.match(await shown.textContent(), /won't see it again/);
  assert.match(await shown.textContent(), new RegExp(`OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer ${key}"`));
  await page.locator('[data-testid="key-row"]').filter({ hasText: "e2e-ingest" }).waitFor();
  await shot(page, "settings");

  // A span sent with the key lands in the key's project, and only there.
  assert.equal(await sendSpan(null, "no-key"), 401);
  const name = `auth-e2e-${randomBytes(4).toString("hex")}`;
  assert.equal(await sendSpan(key, name), 200);
  await waitForTrace(page, name);
  await page.selectOption('[data-testid="project-switcher"]', "default");
  await page.locator('[data-testid="empty-state"]').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid="trace-row"]').filter({ hasText: name }).count(), 0);
  // The choice survives a reload (the session cookie and the remembered project).
  await page.selectOption('[data-testid="project-switcher"]', "e2e-proj");
  await page.reload();
  assert.equal(await page.locator('[data-testid="project-switcher"]').inputValue(), "e2e-proj");
  await page.locator('[data-testid="trace-row"]').filter({ hasText: name }).waitFor({ timeout: 15_000 });

  // Revoked, the key stops working.
  await page.click('nav a:text("Settings")');
  const row = page.locator('[data-testid="key-row"]').filter({ hasText: "e2e-ingest" });
  await row.locator('button:text("Revoke")').click();
  await row.locator('button:text("Revoke: it stops working at once")').click();
  await page.locator('[data-testid="key-row"].revoked').filter({ hasText: "e2e-ingest" }).waitFor();
  assert.equal(await sendSpan(key, `${name}-after-revoke`), 401);

  // Signing out shows the sign-in page again, and the API refuses the old session.
  await page.click('[data-testid="user-menu"] summary');
  await page.click('[data-testid="sign-out"]');
  await page.locator('[data-testid="login-form"]').waitFor();
  const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).status);
  assert.equal(me, 401);
  assert.deepEqual(unexpected(errors), []);
  await page.close();
});

test("accounts, price overrides and deleting a project in Settings", async () => {
  const { page, errors } = await newPage(ctx.browser);
  await page.goto(`${ctx.server.url}/settings`);
  await page.locator('[data-testid="login-form"]').waitFor({ timeout: 15_000 });
  await page.fill('input[name="username"]', "admin");
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button:text("Sign in")');
  await page.locator('[data-testid="settings-accounts"]').waitFor();

  // An account with a role in one project; then its role changed.
  await page.fill('input[name="account-username"]', "viewer-e2e");
  await page.fill('input[name="account-password"]', "a-long-enough-password");
  await page.selectOption('[data-testid="new-account"] select[name="role-default"]', "viewer");
  await page.click('button:text("Create account")');
  const account = page.locator('[data-testid="account-row"]').filter({ hasText: "viewer-e2e" });
  await account.filter({ hasText: "default: viewer" }).waitFor();
  await account.locator('button:text("Edit")').click();
  await account.locator('select[name="role-default"]').selectOption("member");
  await account.locator('button:text("Save")').click();
  await account.filter({ hasText: "default: member" }).waitFor();

  // Price overrides: bad JSON is caught here, a bad document by the API; a good one is saved.
  const box = page.locator('textarea[name="price-overrides"]');
  const prices = page.locator('[data-testid="settings-prices"]');
  await box.fill("{ not json");
  await prices.locator('button:text("Save")').click();
  await prices.locator("text=Not valid JSON").waitFor();
  await box.fill('{"models": [{"bad": 1}], "aliases": {}}');
  await prices.locator('button:text("Save")').click();
  assert.match(await prices.locator(".failure").textContent(), /unknown field `bad`/);
  await box.fill('{"models": [], "aliases": {"prod-chat": "gpt-4o"}}');
  await prices.locator('button:text("Save")').click();
  await prices.locator("text=Saved.").waitFor();
  const saved = await page.evaluate(async () => (await fetch("/api/v1/prices/overrides")).json());
  assert.deepEqual(saved.aliases, { "prod-chat": "gpt-4o" });

  // A project deleted after a confirmation.
  await page.fill('input[name="project-id"]', "doomed");
  await page.click('button:text("Create project")');
  const doomed = page.locator('[data-testid="project-row"]').filter({ hasText: "doomed" });
  await doomed.locator('button:text("Delete")').click();
  await doomed.locator('button:text("Delete doomed and all its data")').click();
  await page.locator("text=Deleted doomed").waitFor();
  assert.equal(await doomed.count(), 0);
  // The API's 400 on the bad price document is logged by the browser too.
  assert.deepEqual(errors.filter((e) => !/status of (401|400)/.test(e)), []);
  await page.close();
});
