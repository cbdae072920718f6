// The trace view's subscription to `/api/v1/live?trace_id=`: open while the trace has a
// running span or is recent, refetching the trace (throttled) as its spans arrive.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { type SpanRow } from "../api";
import { openLive } from "../live/socket";
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
    const close = openLive(
      new URLSearchParams({ trace_id: traceId }).toString(),
      (msg) => {
        if (msg.type === "subscribed") {
          // Spans stored between the page's fetch (or a dropped connection) and now.
          throttle.request();
        } else if (touchesTrace(msg, traceId)) {
          if (msg.type === "spans") for (const s of msg.spans) changed.add(s.span_id);
          throttle.request();
        }
      },
      setState,
    );
    return () => {
      close();
      throttle.stop();
    };
  }, [wanted, traceId, client]);
  return state;
}
