// Starts the real spyglass binary (`spyglass demo`, loaded with sample traces, or an empty
// `spyglass serve`) on free ports in a temporary data directory, like tests/conftest.py does, and stops and removes it after.
// `env` adds environment variables, e.g. SPYGLASS_AUTH__ENABLED=true for a secured server
// (then readiness is /readyz alone, since every /api/v1 call needs a sign-in).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export function binary() {
  if (process.env.SPYGLASS_BIN) return process.env.SPYGLASS_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "spyglass-target");
  return join(target, "release", "spyglass");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startServer(mode = "demo", { env = {} } = {}) {
  const secured = env.SPYGLASS_AUTH__ENABLED === "true";
  const dir = mkdtempSync(join(tmpdir(), "spyglass-e2e-"));
  const [http, grpc, otlp] = [await freePort(), await freePort(), await freePort()];
  const logPath = join(dir, "spyglass.log");
  const log = openSync(logPath, "a");
  const proc = spawn(
    binary(),
    [
      mode,
      "--data-dir", join(dir, "data"),
      "--http-addr", `127.0.0.1:${http}`,
      "--otlp-grpc-addr", `127.0.0.1:${grpc}`,
      "--otlp-http-addr", `127.0.0.1:${otlp}`,
    ],
    { stdio: ["ignore", log, log], env: { ...process.env, SPYGLASS_LOG: "info", ...env } },
  );
  const server = {
    url: `http://127.0.0.1:${http}`,
    otlp: `http://127.0.0.1:${otlp}`,
    logs: () => readFileSync(logPath, "utf8").slice(-8000),
    async stop() {
      if (proc.exitCode == null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Ready when /readyz answers and (for the demo) its traces are queryable.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode != null) throw new Error(`spyglass exited with ${proc.exitCode}:\n${server.logs()}`);
    try {
      const ready = await fetch(`${server.url}/readyz`);
      if (ready.ok && secured) return server;
      if (ready.ok) {
        const t = await (await fetch(`${server.url}/api/v1/traces?limit=1`)).json();
        if (mode !== "demo" || t.items.length) return server;
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await server.stop();
  throw new Error(`spyglass not ready after 60 s:\n${server.logs()}`);
}
