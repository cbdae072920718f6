import { QueryClient } from "@tanstack/react-query";
import { afterEach, describe, expect, it, vi } from "vitest";
import { prefetchTrace, traceKey } from "./prefetch";

const ID = "0123456789abcdef0123456789abcdef";
const outline = {
  trace: { trace_id: ID },
  spans: { count: 0, base_ns: 0, strings: [null], span_id: [], parent: [], depth: [], name: [], service_name: [], kind: [], status: [], start_ns: [], duration_ns: [] },
  findings: [],
};

function stubFetch() {
  const calls: { url: string; project: string | null }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, project: new Headers(init.headers).get("x-spyglass-project") });
    return new Response(JSON.stringify(outline), { status: 200, headers: { "content-type": "application/json" } });
  });
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe("prefetchTrace", () => {
  it("fetches a trace address's outline for the remembered project, under the view's key", async () => {
    const calls = stubFetch();
    const client = new QueryClient();
    expect(prefetchTrace(client, `/traces/${ID}`, "shop")).toEqual(traceKey("shop", ID));
    await vi.waitFor(() => expect(client.getQueryData(traceKey("shop", ID))).toBeDefined());
    expect(calls).toEqual([{ url: `/api/v1/traces/${ID}/outline`, project: "shop" }]);
    // The view for another project does not see it.
    expect(client.getQueryData(traceKey("default", ID))).toBeUndefined();
  });

  it("assumes the default project when none is remembered", () => {
    stubFetch();
    expect(prefetchTrace(new QueryClient(), `/traces/${ID}`, null)).toEqual(traceKey("default", ID));
  });

  it("fetches nothing on other pages", () => {
    const calls = stubFetch();
    const client = new QueryClient();
    for (const path of ["/", "/traces", `/traces/${ID}/x`, "/traces/not-an-id", `/sessions/${ID}`]) {
      expect(prefetchTrace(client, path, null)).toBeNull();
    }
    expect(calls).toEqual([]);
  });
});
