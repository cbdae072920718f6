// The browser's side of authentication: which project the dashboard is looking at, the CSRF
// token that comes with a signed-in session, the headers every API request carries, and what
// the caller's role lets them do. No React here, so the logic is unit-tested on its own.

export type Role = "viewer" | "member" | "admin";
export type Mode = "local" | "secured";

export interface ProjectView {
  id: string;
  name: string;
  created_ns: number;
  role: Role;
}

/** `GET /api/v1/auth/me` (and the answer to a sign-in). */
export interface Me {
  mode: Mode;
  kind: "local" | "key" | "user";
  username: string | null;
  user_id: string | null;
  key_prefix: string | null;
  key_scope: string | null;
  admin: boolean;
  projects: ProjectView[];
  csrf_token: string | null;
}

/** What the dashboard remembers between requests (in memory; the project also in localStorage). */
export interface SessionState {
  project: string | null;
  csrf: string | null;
}

export const PROJECT_HEADER = "X-Spyglass-Project";
export const CSRF_HEADER = "X-CSRF-Token";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether a path is one of the sign-in endpoints, which belong to no project. */
export function isAuthPath(path: string): boolean {
  return path.startsWith("/api/v1/auth/");
}

/** The headers the API needs besides the caller's own: the project on every request to a
 * project's data, and the CSRF token on every request that changes something. */
export function sessionHeaders(method: string | undefined, path: string, state: SessionState): Record<string, string> {
  const h: Record<string, string> = {};
  if (state.project && !isAuthPath(path)) h[PROJECT_HEADER] = state.project;
  if (state.csrf && !SAFE_METHODS.has((method ?? "GET").toUpperCase())) h[CSRF_HEADER] = state.csrf;
  return h;
}

/** The live WebSocket's address: browsers cannot set headers on a WebSocket, so the project
 * goes in the query string. `filters` is an already-encoded query string (may be empty). */
export function liveUrl(location: { protocol: string; host: string }, filters: string, project: string | null): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams(filters);
  if (project) params.set("project", project);
  const qs = params.toString();
  return `${proto}//${location.host}/api/v1/live${qs ? `?${qs}` : ""}`;
}

/** The project to show: the remembered one while the caller still has a role in it, else
 * "default" when they have one there, else their first project (null: none at all). */
export function pickProject(me: Pick<Me, "projects">, remembered: string | null): string | null {
  const ids = me.projects.map((p) => p.id);
  if (remembered && ids.includes(remembered)) return remembered;
  if (ids.includes("default")) return "default";
  return ids[0] ?? null;
}

export interface Permissions {
  /** Read the project's data. */
  read: boolean;
  /** Change the project's data or settings (price overrides, alert rules): members and up. */
  write: boolean;
  /** Manage the project (its API keys): project admins. */
  manage: boolean;
  /** Manage the server: projects and accounts. */
  serverAdmin: boolean;
}

const RANK: Record<Role, number> = { viewer: 1, member: 2, admin: 3 };

/** What the caller may do in `project`, from their role there; a server admin manages every
 * project, and local mode (authentication off) allows everything. */
export function permissions(me: Pick<Me, "mode" | "admin" | "projects"> | null | undefined, project: string | null): Permissions {
  if (!me) return { read: false, write: false, manage: false, serverAdmin: false };
  if (me.mode === "local") return { read: true, write: true, manage: true, serverAdmin: true };
  const role = me.projects.find((p) => p.id === project)?.role;
  const rank = role ? RANK[role] : 0;
  return {
    read: me.admin || rank >= RANK.viewer,
    write: me.admin || rank >= RANK.member,
    manage: me.admin || rank >= RANK.admin,
    serverAdmin: me.admin,
  };
}

/** Project ids: lowercase letters, digits and '-' (what the server accepts). */
export function projectIdProblem(id: string): string | null {
  if (!id) return "an id is required";
  if (!/^[a-z0-9-]+$/.test(id)) return "use lowercase letters, digits and '-' only";
  return null;
}

/** What to tell the user about a failed sign-in. */
export function loginErrorMessage(status: number, message: string, retryAfter: string | null): string {
  if (status === 401) return "Wrong username or password.";
  if (status === 429) {
    const s = Number(retryAfter);
    return `Too many sign-in attempts. Try again ${Number.isFinite(s) && s > 0 ? `in ${Math.ceil(s)} s` : "later"}.`;
  }
  return message;
}

const PROJECT_KEY = "spyglass.project";

export function rememberedProject(storage: Pick<Storage, "getItem"> | undefined = globalThis.localStorage): string | null {
  try {
    return storage?.getItem(PROJECT_KEY) ?? null;
  } catch {
    return null;
  }
}

export function rememberProject(project: string, storage: Pick<Storage, "setItem"> | undefined = globalThis.localStorage) {
  try {
    storage?.setItem(PROJECT_KEY, project);
  } catch {
    // private mode: remembered for this page only
  }
}
