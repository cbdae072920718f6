// The `/api/v1/live` WebSocket, reconnecting: shared by the Live page and the trace view.

import { session, type LiveMessage } from "../api";
import { liveUrl } from "../auth/session";

export type SocketState = "connecting" | "live" | "closed";

/** Opens the live stream with these server-side filters (a query string) for the current
 * project, and opens it again 2 s after it closes. `onMessage` gets every message (the
 * `subscribed` hello too). Answers a function that closes it for good. */
export function openLive(
  filters: string,
  onMessage: (msg: LiveMessage) => void,
  onState: (state: SocketState) => void,
): () => void {
  let socket: WebSocket | null = null;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const connect = () => {
    onState("connecting");
    socket = new WebSocket(liveUrl(window.location, filters, session.project));
    socket.onmessage = (e: MessageEvent<string>) => {
      const msg = JSON.parse(e.data) as LiveMessage;
      if (msg.type === "subscribed") onState("live");
      onMessage(msg);
    };
    socket.onclose = () => {
      if (stopped) return;
      onState("closed");
      retry = setTimeout(connect, 2000);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    // Closing a socket that is still connecting makes the browser log an error; close it
    // as soon as it opens instead.
    if (socket?.readyState === WebSocket.CONNECTING) {
      const s = socket;
      s.onmessage = null;
      s.onopen = () => s.close();
    } else socket?.close();
  };
}
