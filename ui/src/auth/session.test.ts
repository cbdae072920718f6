import { describe, expect, it } from "vitest";
import { liveUrl, loginErrorMessage, permissions, pickProject, projectIdProblem, sessionHeaders, type Me } from "./session";

const me = (over: Partial<Me> = {}): Me => ({
  mode: "secured",
  kind: "user",
  username: "ana",
  user_id: "u1",
  key_prefix: null,
  key_scope: null,
  admin: false,
  projects: [
    { id: "default", name: "Default", created_ns: 1, role: "viewer" },
    { id: "shop", name: "Shop", created_ns: 2, role: "member" },
    { id: "ops", name: "Ops", created_ns: 3, role: "admin" },
  ],
  csrf_token: "tok",
  ...over,
});

describe("sessionHeaders", () => {
  const state = { project: "shop", csrf: "tok" };
  it("sends the project on every request, the CSRF token only on changes", () => {
    expect(sessionHeaders("GET", "/api/v1/traces", state)).toEqual({ "X-Spyglass-Project": "shop" });
    expect(sessionHeaders(undefined, "/api/v1/traces", state)).toEqual({ "X-Spyglass-Project": "shop" });
    for (const m of ["POST", "put", "PATCH", "DELETE"]) {
      expect(sessionHeaders(m, "/api/v1/keys", state)).toEqual({ "X-Spyglass-Project": "shop", "X-CSRF-Token": "tok" });
    }
  });
  it("leaves the project off the sign-in endpoints, and sends nothing it does not have", () => {
    expect(sessionHeaders("POST", "/api/v1/auth/logout", state)).toEqual({ "X-CSRF-Token": "tok" });
    expect(sessionHeaders("GET", "/api/v1/auth/me", state)).toEqual({});
    expect(sessionHeaders("POST", "/api/v1/alerts/rules", { project: null, csrf: null })).toEqual({});
  });
});

describe("liveUrl", () => {
  it("adds the project to the socket's query string", () => {
    const loc = { protocol: "http:", host: "h:6060" };
    expect(liveUrl(loc, "", null)).toBe("ws://h:6060/api/v1/live");
    expect(liveUrl(loc, "", "shop")).toBe("ws://h:6060/api/v1/live?project=shop");
    expect(liveUrl({ protocol: "https:", host: "h" }, "service=a+b", "shop")).toBe("wss://h/api/v1/live?service=a+b&project=shop");
  });
});

describe("pickProject", () => {
  it("keeps the remembered project while the caller has a role in it", () => {
    expect(pickProject(me(), "ops")).toBe("ops");
    expect(pickProject(me(), "deleted")).toBe("default");
    expect(pickProject(me(), null)).toBe("default");
    expect(pickProject(me({ projects: [{ id: "shop", name: "Shop", created_ns: 2, role: "member" }] }), null)).toBe("shop");
    expect(pickProject(me({ projects: [] }), "shop")).toBeNull();
  });
});

describe("permissions", () => {
  it("follows the role in the current project", () => {
    expect(permissions(me(), "default")).toEqual({ read: true, write: false, manage: false, serverAdmin: false });
    expect(permissions(me(), "shop")).toEqual({ read: true, write: true, manage: false, serverAdmin: false });
    expect(permissions(me(), "ops")).toEqual({ read: true, write: true, manage: true, serverAdmin: false });
    expect(permissions(me(), "elsewhere")).toEqual({ read: false, write: false, manage: false, serverAdmin: false });
    expect(permissions(null, "ops").read).toBe(false);
  });
  it("lets a server admin do everything, and everyone in local mode", () => {
    expect(permissions(me({ admin: true }), "default")).toEqual({ read: true, write: true, manage: true, serverAdmin: true });
    expect(permissions(me({ mode: "local", projects: [] }), null)).toEqual({ read: true, write: true, manage: true, serverAdmin: true });
  });
});

describe("projectIdProblem", () => {
  it("accepts lowercase letters, digits and '-'", () => {
    expect(projectIdProblem("staging-2")).toBeNull();
    expect(projectIdProblem("")).toMatch(/required/);
    expect(projectIdProblem("Staging")).toMatch(/lowercase/);
    expect(projectIdProblem("a b")).toMatch(/lowercase/);
  });
});

describe("loginErrorMessage", () => {
  it("says what went wrong", () => {
    expect(loginErrorMessage(401, "wrong username or password", null)).toBe("Wrong username or password.");
    expect(loginErrorMessage(429, "rate limited", "6")).toBe("Too many sign-in attempts. Try again in 6 s.");
    expect(loginErrorMessage(429, "rate limited", null)).toBe("Too many sign-in attempts. Try again later.");
    expect(loginErrorMessage(500, "boom", null)).toBe("boom");
  });
});
