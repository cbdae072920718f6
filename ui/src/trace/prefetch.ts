// Opening a trace's address directly (a shared link, a reload) would otherwise fetch the trace
// only after the app has started and asked who is signed in; the fetch starts with the app
// instead, for the project the dashboard will most likely show.

import type { QueryClient } from "@tanstack/react-query";
import { api } from "../api";

/** The trace view's query key. The project is part of it, so a trace fetched before the
 * session's project was known is used only if it was fetched for that same project. */
export const traceKey = (project: string | null, traceId: string) => ["trace", project, traceId] as const;

const TRACE_PATH = /^\/traces\/([0-9a-f]{32})\/?$/i;

/** Starts fetching the trace `path` shows, if it is a trace's address, for the remembered
 * project or else "default" (what the dashboard picks when the account has it). Returns the
 * key it fetches under. */
export function prefetchTrace(client: QueryClient, path: string, remembered: string | null): readonly unknown[] | null {
  const m = TRACE_PATH.exec(path);
  if (!m) return null;
  const traceId = m[1]!;
  const project = remembered ?? "default";
  const queryKey = traceKey(project, traceId);
  void client.prefetchQuery({ queryKey, queryFn: () => api.trace(traceId, project) });
  return queryKey;
}
