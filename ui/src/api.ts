// Types and fetchers for the parts of the Spyglass REST API the dashboard reads
// (see /api/openapi.json for the full contract).

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

export interface TraceTree {
  trace: TraceSummary;
  spans: SpanRow[];
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

export class ApiError extends Error {}

async function get<T>(path: string, params?: URLSearchParams): Promise<T> {
  const qs = params && [...params].length ? `?${params}` : "";
  const res = await fetch(`${path}${qs}`);
  if (!res.ok) {
    // The API answers errors as {"error": {"code", "message"}}; show its message.
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new ApiError(body?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return (await res.json()) as T;
}

export const api = {
  traces: (params: URLSearchParams) => get<Page<TraceSummary>>("/api/v1/traces", params),
  trace: (id: string) => get<TraceTree>(`/api/v1/traces/${id}`),
  span: (traceId: string, spanId: string) =>
    get<SpanDetail>(`/api/v1/traces/${traceId}/spans/${spanId}`),
  findings: (params: URLSearchParams) => get<Page<Finding>>("/api/v1/findings", params),
  timeseries: (params: URLSearchParams) => get<Timeseries>("/api/v1/analytics/timeseries", params),
};

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
