// The entry: small on purpose. It starts fetching the trace a trace's address shows, then
// loads the app (React and every page, most of the bundle's evaluation time), so the two
// overlap instead of the fetch waiting for the app to start.

import { QueryClient } from "@tanstack/react-query";
import { rememberedProject } from "./auth/session";
import { applyInitialTheme } from "./theme";
import { prefetchTrace } from "./trace/prefetch";
import "./styles.css";

applyInitialTheme();

// Data older than a few seconds is refetched on focus; a trace page does not need to poll.
const queryClient = new QueryClient({
  defaultOptions: { queries: { staleTime: 5_000, retry: 1, refetchOnWindowFocus: true } },
});

prefetchTrace(queryClient, window.location.pathname, rememberedProject());

void import("./root").then(({ render }) => render(queryClient));
