// One demo server and one browser per test file, started before its tests and torn down after.

import { after, before } from "node:test";
import { launch } from "./browser.mjs";
import { startServer } from "./server.mjs";

/** `mode` and `options` go to startServer (e.g. `"serve", { env: { SPYGLASS_AUTH__ENABLED: "true" } }`). */
export function useServerAndBrowser(mode = "demo", options = {}) {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer(mode, options);
    ctx.browser = await launch();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}
