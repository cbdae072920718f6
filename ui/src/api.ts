// Types and fetchers for the parts of the Spyglass REST API the dashboard reads
// (see /api/openapi.json for the full contract).

import { isAuthPath, PROJECT_HEADER, sessionHeaders, type Me, type ProjectView, type Role, type SessionState } from "./auth/session";

import { decodeColumns, type SpanColumns } from "./trace/columns";

export type { Me, ProjectView, Role } from "./auth/session";

export interface Tokens {
  input: number | null;
  output: number | null;
  cache_read: number | null;
  cache_write: number | null;
  reasoning: number | null;
  total: number | null;
}

export type Status = "ok" | "error" | "unset" | "running";

export interface TraceSummary {
  trace_id: string;
  root_span_id: string | null;
  name: string;
  service_name: string | null;
  start_ns: number;
  end_ns: number | null;
  duration_ns: number | null;
  span_count: number;
  error_count: number;
  running_count: number;
  status: Status;
  tokens: Tokens;
  cost_usd: number | null;
  session_id: string | null;
  user_id: string | null;
  environment: string | null;
  agents: string[];
  services: string[];
  models: string[];
  tools: string[];
  kinds: string[];
  input_preview: string | null;
  output_preview: string | null;
  start_time: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** One row of `GET /api/v1/traces/{id}`: the span without its payloads. */
export interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  service_name: string | null;
  kind: string;
  start_ns: number;
  end_ns: number | null;
  duration_ns: number | null;
  status: Status;
  status_message: string | null;
  agent_name: string | null;
  tool_name: string | null;
  provider: string | null;
  model: string | null;
  tokens: Tokens;
  cost_usd: number | null;
  cost_source: string | null;
}

export interface Finding {
  id: string;
  trace_id: string;
  span_id: string;
  span_name: string | null;
  span_kind: string | null;
  service_name: string | null;
  agent_name: string | null;
  time_ns: number;
  category: string;
  detector: string;
  severity: string;
  score: number;
  field: string;
  key?: string;
  evidence: string;
  time: string;
}

/** `GET /api/v1/traces/{id}/outline`. */
export interface TraceOutline {
  trace: TraceSummary;
  spans: SpanColumns;
  findings: Finding[];
}

/** A trace with its spans in tree order (depth first, children by start time). */
export interface TraceTree {
  trace: TraceSummary;
  spans: SpanRow[];
  /** Each span's depth in the tree. */
  depth: number[];
  findings: Finding[];
}

export interface SpanDetail extends Omit<SpanRow, "model"> {
  scope_name: string | null;
  environment: string | null;
  session_id: string | null;
  user_id: string | null;
  request_model: string | null;
  response_model: string | null;
  input: string | null;
  output: string | null;
  attributes: Record<string, unknown>;
  resource_attributes: Record<string, unknown>;
  events: unknown[];
  links: unknown[];
  unmapped_keys: string[];
}

export interface Series {
  group: string | null;
  total: number | null;
  points: { t_ns: number; value: number | null }[];
}

export interface Timeseries {
  metric: string;
  unit: string;
  interval_s: number;
  from_ns: number;
  to_ns: number;
  series: Series[];
}

export class ApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status (0 when the request did not reach the server). */
    readonly status: number = 0,
    /** The API's error code (`unauthorized`, `forbidden`, `not_found`, `conflict`, …). */
    readonly code: string | null = null,
    /** The Retry-After header of a 429. */
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }
}

/** The project and CSRF token every request carries (set by the auth provider). */
export const session: SessionState = { project: null, csrf: null };

let onUnauthorized: (() => void) | null = null;

/** Called when a request outside /api/v1/auth/ answers 401 (the session ended): the app
 * then asks /auth/me again and shows the sign-in page. */
export function setUnauthorizedHandler(handler: (() => void) | null) {
  onUnauthorized = handler;
}

/** Every API request goes through here: it adds the project and CSRF headers, and turns an
 * error answer into an ApiError with the API's message. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(sessionHeaders(init.method, path, session))) headers.set(k, v);
  const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
  if (!res.ok) {
    // The API answers errors as {"error": {"code", "message"}}; show its message.
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    if (res.status === 401 && !isAuthPath(path)) onUnauthorized?.();
    throw new ApiError(
      body?.error?.message ?? `${res.status} ${res.statusText}`,
      res.status,
      body?.error?.code ?? null,
      res.headers.get("retry-after"),
    );
  }
  return res;
}

async function get<T>(path: string, params?: URLSearchParams): Promise<T> {
  const qs = params && [...params].length ? `?${params}` : "";
  return (await (await request(`${path}${qs}`)).json()) as T;
}

/** A request with a JSON body (or none); answers the JSON body, or undefined for a 204. */
async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(path, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const api = {
  traces: (params: URLSearchParams) => get<Page<TraceSummary>>("/api/v1/traces", params),
  /** The trace's tree, fetched as columns (compact for large traces) and decoded to rows;
   * `project` names the project explicitly (before the session knows it: see prefetch.ts). */
  trace: async (id: string, project: string | null = session.project): Promise<TraceTree> => {
    const headers: Record<string, string> = project ? { [PROJECT_HEADER]: project } : {};
    const o = (await (await request(`/api/v1/traces/${id}/outline`, { headers })).json()) as TraceOutline;
    // User Timing marks: where a slow trace view spends its time shows in the browser's tools.
    performance.mark("trace:parsed");
    const spans = decodeColumns(o.spans, o.trace.trace_id);
    performance.mark("trace:decoded");
    return { trace: o.trace, spans, depth: o.spans.depth, findings: o.findings };
  },
  span: (traceId: string, spanId: string) =>
    get<SpanDetail>(`/api/v1/traces/${traceId}/spans/${spanId}`),
  findings: (params: URLSearchParams) => get<Page<Finding>>("/api/v1/findings", params),
  timeseries: (params: URLSearchParams) => get<Timeseries>("/api/v1/analytics/timeseries", params),
  sessions: (params: URLSearchParams) => get<Page<SessionSummary>>("/api/v1/sessions", params),
  session: (id: string) => get<SessionDetail>(`/api/v1/sessions/${encodeURIComponent(id)}`),
  top: (params: URLSearchParams) => get<TopRow[]>("/api/v1/analytics/top", params),
  usage: (params: URLSearchParams) => get<UsageRow[]>("/api/v1/analytics/usage", params),
  agents: (params: URLSearchParams) => get<AgentSummary[]>("/api/v1/agents", params),
  agent: (name: string, params: URLSearchParams) => get<AgentDetail>(`/api/v1/agents/${encodeURIComponent(name)}`, params),
  tools: (params: URLSearchParams) => get<ToolSummary[]>("/api/v1/tools", params),
  topology: (params: URLSearchParams) => get<Topology>("/api/v1/topology", params),
  attackPaths: (params: URLSearchParams) => get<AttackPaths>("/api/v1/attack-paths", params),
  alertRules: () => get<RuleStatus[]>("/api/v1/alerts/rules"),
  alertEvents: (params: URLSearchParams) => get<AlertEvent[]>("/api/v1/alerts/events", params),
  alertTemplates: () => get<AlertRule[]>("/api/v1/alerts/templates"),
  createAlertRule: (spec: { template: string; param?: number; name?: string }) =>
    send<RuleStatus>("POST", "/api/v1/alerts/rules", spec),
};

/** Signing in and out, projects, API keys, accounts and the project's settings. */
export const admin = {
  me: () => get<Me>("/api/v1/auth/me"),
  login: (username: string, password: string) => send<Me>("POST", "/api/v1/auth/login", { username, password }),
  logout: () => send<void>("POST", "/api/v1/auth/logout"),
  changePassword: (current_password: string, new_password: string) =>
    send<void>("PUT", "/api/v1/auth/password", { current_password, new_password }),
  projects: () => get<ProjectView[]>("/api/v1/projects"),
  createProject: (id: string, name: string) => send<ProjectView>("POST", "/api/v1/projects", { id, name }),
  deleteProject: (id: string) =>
    send<{ traces: number; spans: number }>("DELETE", `/api/v1/projects/${encodeURIComponent(id)}`),
  keys: () => get<KeyView[]>("/api/v1/keys"),
  createKey: (name: string, scope: KeyScope) => send<CreatedKey>("POST", "/api/v1/keys", { name, scope }),
  revokeKey: (id: string) => send<KeyView>("DELETE", `/api/v1/keys/${encodeURIComponent(id)}`),
  accounts: () => get<Account[]>("/api/v1/accounts"),
  createAccount: (a: { username: string; password: string; admin: boolean; roles: Record<string, Role> }) =>
    send<Account>("POST", "/api/v1/accounts", a),
  updateAccount: (id: string, change: { password?: string; admin?: boolean; roles?: Record<string, Role> }) =>
    send<Account>("PATCH", `/api/v1/accounts/${encodeURIComponent(id)}`, change),
  deleteAccount: (id: string) => send<void>("DELETE", `/api/v1/accounts/${encodeURIComponent(id)}`),
  priceOverrides: () => get<PriceOverrides>("/api/v1/prices/overrides"),
  setPriceOverrides: (o: unknown) => send<PriceOverrides>("PUT", "/api/v1/prices/overrides", o),
  deletePriceOverrides: () => send<void>("DELETE", "/api/v1/prices/overrides"),
  retention: () => get<Retention>("/api/v1/retention"),
  redaction: () => get<Redaction>("/api/v1/redaction"),
};

export type KeyScope = "ingest" | "read" | "admin";

export interface KeyView {
  id: string;
  prefix: string;
  name: string;
  scope: KeyScope;
  project_id: string;
  created_ns: number;
  created_by: string;
  revoked_ns: number | null;
}

/** A new key: `key` is the secret, shown this once. */
export interface CreatedKey extends KeyView {
  key: string;
}

export interface Account {
  id: string;
  username: string;
  admin: boolean;
  roles: Record<string, Role>;
  created_ns: number;
}

/** A project's price overrides (`ProjectCost`): models added or replaced, and aliases. */
export interface PriceOverrides {
  models: unknown[];
  aliases: Record<string, string>;
}

export interface Retention {
  days: number;
  cutoff_ns: number | null;
  cutoff_time: string | null;
  interval_s: number;
  archive_destination: string | null;
  archive_format: string;
}

export interface Redaction {
  secret_masking: boolean;
  pii_masking: boolean;
  custom_pii_patterns: string[];
  disabled_detectors: string[];
  scan_system_prompts: boolean;
  max_scan_bytes: number;
}

export interface SessionSummary {
  session_id: string;
  user_id: string | null;
  trace_count: number;
  span_count: number;
  error_count: number;
  start_ns: number;
  end_ns: number | null;
  tokens: Tokens;
  cost_usd: number | null;
  first_input_preview: string | null;
  start_time: string;
}

export interface SessionDetail {
  session: SessionSummary;
  traces: TraceSummary[];
}

/** One row of `GET /api/v1/analytics/top` (a tool, model, agent, user…). */
export interface TopRow extends Metrics {
  key: string;
  count: number;
}

/** Errors, latency, tokens and cost of a set of calls. */
export interface Metrics {
  errors: number;
  error_rate: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  tokens: number;
  cost_usd: number | null;
}

/** One row of `GET /api/v1/analytics/usage` (per user or session). */
export interface UsageRow {
  key: string;
  traces: number;
  spans: number;
  error_traces: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  cost_usd: number | null;
  sessions?: number;
}

/** Call metrics shared by agents, tools, topology nodes and edges. */
export interface CallStats extends Metrics {
  calls: number;
  first_ns: number | null;
  last_ns: number | null;
}

export interface AgentSummary extends CallStats {
  name: string;
  framework: string | null;
  models: string[];
  tools: string[];
  delegates_to: string[];
  called_by: string[];
  sensitive_tools: string[];
}

export interface AgentVersion {
  fingerprint: string;
  tools: string[];
  models: string[];
  system_prompt_hash: string | null;
  first_seen_ns: number;
  last_seen_ns: number;
  runs: number;
}

export interface AgentDetail extends AgentSummary {
  versions: AgentVersion[];
}

export interface ToolSummary extends CallStats {
  name: string;
  category: string;
  callers: string[];
  mcp_server: string | null;
  description: string | null;
}

export interface TopologyNode extends CallStats {
  id: string;
  kind: string;
  name: string;
  category?: string;
}

export interface TopologyEdge extends CallStats {
  source: string;
  target: string;
  relation: string;
}

export interface Topology {
  from_ns: number;
  to_ns: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface AttackPath {
  ingress: string;
  ingress_category: string | null;
  agent: string;
  sink: string;
  sink_category: string | null;
  exercised: number;
  attacked: number;
  severity: string;
  evidence: { trace_id: string; ingress_span_id: string; sink_span_id: string; time_ns: number }[];
}

export interface AttackPaths {
  paths: AttackPath[];
  traces_examined: number;
}

export type AlertState = "ok" | "pending" | "firing" | "resolved";

export interface AlertRule {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  metric: string;
  condition: string;
  comparator: string;
  threshold: number;
  window_s: number;
  for_s: number;
  severity: string;
}

export interface RuleStatus {
  rule: AlertRule;
  state: AlertState;
  since_ns: number | null;
  last_value: number | null;
  last_evaluated_ns: number | null;
}

export interface AlertEvent {
  id: string;
  rule_id: string;
  rule_name: string;
  from: AlertState;
  to: AlertState;
  value: number | null;
  threshold: number;
  severity: string;
  time_ns: number;
  message: string;
}

/** A span as the live WebSocket carries it. */
export interface LiveSpan extends SpanRow {
  session_id: string | null;
  user_id: string | null;
  input_preview: string | null;
  output_preview: string | null;
  received_ns: number;
}

export type LiveMessage =
  | { type: "subscribed" }
  | { type: "spans"; spans: LiveSpan[] }
  | { type: "findings"; findings: Finding[] }
  | { type: "dropped"; batches: number; message: string };

export interface Facet {
  value: string;
  count: number;
}

export interface Facets {
  services: Facet[];
  agents: Facet[];
  models: Facet[];
  users: Facet[];
  kinds: Facet[];
  environments: Facet[];
}

export interface FindingCounts {
  total: number;
  traces: number;
  by_severity: Facet[];
  by_category: Facet[];
}

export const facets = {
  traces: (params: URLSearchParams) => get<Facets>("/api/v1/facets", params),
  findings: (params: URLSearchParams) => get<FindingCounts>("/api/v1/findings/counts", params),
};
