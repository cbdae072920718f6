import { afterEach, describe, expect, it, vi } from "vitest";
import { admin, api, ApiError, request, session, setUnauthorizedHandler } from "./api";

type Call = { url: string; init: RequestInit };

function mockFetch(status: number, body: unknown, headers: Record<string, string> = {}): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
  });
  return calls;
}

const header = (c: Call, name: string) => new Headers(c.init.headers).get(name);

afterEach(() => {
  vi.unstubAllGlobals();
  session.project = null;
  session.csrf = null;
  setUnauthorizedHandler(null);
});

describe("request", () => {
  it("adds the project to reads and the CSRF token to changes", async () => {
    session.project = "shop";
    session.csrf = "tok";
    const calls = mockFetch(200, { items: [], next_cursor: null });
    await api.traces(new URLSearchParams({ limit: "1" }));
    expect(calls[0]!.url).toBe("/api/v1/traces?limit=1");
    expect(header(calls[0]!, "x-spyglass-project")).toBe("shop");
    expect(header(calls[0]!, "x-csrf-token")).toBeNull();

    await api.createAlertRule({ template: "error_rate" });
    expect(calls[1]!.init.method).toBe("POST");
    expect(header(calls[1]!, "x-spyglass-project")).toBe("shop");
    expect(header(calls[1]!, "x-csrf-token")).toBe("tok");
    expect(header(calls[1]!, "content-type")).toBe("application/json");
    expect(calls[1]!.init.body).toBe('{"template":"error_rate"}');
  });

  it("answers undefined for a 204", async () => {
    mockFetch(204, null);
    await expect(admin.deleteAccount("u1")).resolves.toBeUndefined();
  });

  it("turns an error answer into an ApiError with the API's message, code and Retry-After", async () => {
    mockFetch(429, { error: { code: "rate_limited", message: "retry after 6 s" } }, { "retry-after": "6" });
    const e = (await admin.login("a", "b").catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.message, e.retryAfter]).toEqual([429, "rate_limited", "retry after 6 s", "6"]);
  });

  it("reports a 401 outside the sign-in endpoints as a lost session", async () => {
    const lost = vi.fn();
    setUnauthorizedHandler(lost);
    mockFetch(401, { error: { code: "unauthorized", message: "authentication required" } });
    await expect(request("/api/v1/traces")).rejects.toThrow("authentication required");
    expect(lost).toHaveBeenCalledTimes(1);
    await expect(admin.me()).rejects.toBeInstanceOf(ApiError);
    await expect(admin.login("a", "wrong")).rejects.toBeInstanceOf(ApiError);
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it("falls back to the status when the body is not the API's error", async () => {
    vi.stubGlobal("fetch", async () => new Response("oops", { status: 502, statusText: "Bad Gateway" }));
    await expect(request("/api/v1/traces")).rejects.toThrow("502 Bad Gateway");
  });
});
