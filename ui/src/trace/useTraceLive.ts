// The trace view's subscription to `/api/v1/live?trace_id=`: open while the trace has a
// running span or is recent, refetching the trace (throttled) as its spans arrive.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { session, type LiveMessage, type SpanRow } from "../api";
import { liveUrl } from "../auth/session";
import { liveUntilMs, Throttle, touchesTrace } from "./live";

export type LiveState = "off" | "connecting" | "live" | "closed";

/** Longest setTimeout delay browsers honour. */
const MAX_DELAY = 2 ** 31 - 1;

/** `spans` are the trace's current rows; `refetch` reloads the trace. */
export function useTraceLive(traceId: string, spans: readonly SpanRow[] | undefined, refetch: () => Promise<unknown>): LiveState {
  const client = useQueryClient();
  const until = useMemo(() => (spans ? liveUntilMs(spans) : -Infinity), [spans]);
  const [wanted, setWanted] = useState(false);
  useEffect(() => {
    const left = until - Date.now();
    setWanted(left > 0);
    if (left > 0 && Number.isFinite(left)) {
      const t = setTimeout(() => setWanted(false), Math.min(left, MAX_DELAY));
      return () => clearTimeout(t);
    }
  }, [until]);

  const refetchRef = useRef(refetch);
  refetchRef.current = refetch;
  const [state, setState] = useState<LiveState>("off");
  useEffect(() => {
    if (!wanted) {
      setState("off");
      return;
    }
    // Span details (the side panel) of spans that changed are reloaded with the trace.
    const changed = new Set<string>();
    const throttle = new Throttle(async () => {
      const ids = [...changed];
      changed.clear();
      await Promise.all([
        refetchRef.current(),
        ...ids.map((id) => client.invalidateQueries({ queryKey: ["span", traceId, id] })),
      ]);
    });
    let socket: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const connect = () => {
      setState("connecting");
      socket = new WebSocket(liveUrl(window.location, new URLSearchParams({ trace_id: traceId }).toString(), session.project));
      socket.onmessage = (e: MessageEvent<string>) => {
        const msg = JSON.parse(e.data) as LiveMessage;
        if (msg.type === "subscribed") {
          setState("live");
          // Spans stored between the page's fetch (or a dropped connection) and now.
          throttle.request();
        } else if (touchesTrace(msg, traceId)) {
          if (msg.type === "spans") for (const s of msg.spans) changed.add(s.span_id);
          throttle.request();
        }
      };
      socket.onclose = () => {
        if (stopped) return;
        setState("closed");
        retry = setTimeout(connect, 2000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      throttle.stop();
      // Closing a socket that is still connecting makes the browser log an error; close it
      // as soon as it opens instead.
      if (socket?.readyState === WebSocket.CONNECTING) {
        const s = socket;
        s.onmessage = null;
        s.onopen = () => s.close();
      } else socket?.close();
    };
  }, [wanted, traceId, client]);
  return state;
}
