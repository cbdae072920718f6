// Who is signed in and which project the dashboard shows. Asks /api/v1/auth/me on load; when
// it (or any later request) answers 401, the sign-in page replaces the app at the same
// address, so signing in returns the user to where they were.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { admin, ApiError, session, setUnauthorizedHandler } from "../api";
import { LoginPage } from "./LoginPage";
import { permissions, pickProject, rememberedProject, rememberProject, type Me, type Permissions } from "./session";

export interface Auth {
  me: Me;
  project: string | null;
  perms: Permissions;
  setProject: (id: string) => void;
  signIn: (me: Me) => void;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside <AuthProvider>");
  return auth;
}

export const ME_KEY = ["me"] as const;

async function fetchMe(): Promise<Me | null> {
  try {
    return await admin.me();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export function AuthProvider({ children }: { children: (project: string | null) => ReactNode }) {
  const client = useQueryClient();
  const me = useQuery({ queryKey: ME_KEY, queryFn: fetchMe, retry: false, staleTime: 60_000 });
  const [chosen, setChosen] = useState<string | null>(rememberedProject);

  // A 401 from any request means the session ended: ask again who we are.
  useEffect(() => {
    setUnauthorizedHandler(() => void client.invalidateQueries({ queryKey: ME_KEY }));
    return () => setUnauthorizedHandler(null);
  }, [client]);

  const forgetData = useCallback(
    () => client.removeQueries({ predicate: (q) => q.queryKey[0] !== ME_KEY[0] }),
    [client],
  );

  const signIn = useCallback(
    (signed: Me) => {
      session.csrf = signed.csrf_token;
      forgetData();
      client.setQueryData(ME_KEY, signed);
    },
    [client, forgetData],
  );

  const data = me.data ?? null;
  const project = data ? pickProject(data, chosen) : null;
  // Set before the children render, so their first requests already carry both.
  session.project = project;
  session.csrf = data?.csrf_token ?? null;

  const auth = useMemo<Auth | null>(
    () =>
      data && {
        me: data,
        project,
        perms: permissions(data, project),
        setProject: (id: string) => {
          rememberProject(id);
          session.project = id;
          forgetData();
          setChosen(id);
        },
        signIn,
        signOut: async () => {
          await admin.logout().catch(() => undefined);
          session.csrf = null;
          forgetData();
          client.setQueryData(ME_KEY, null);
        },
      },
    [data, project, client, forgetData, signIn],
  );

  if (me.isPending) return <div className="page muted">Loading…</div>;
  if (me.isError)
    return (
      <div className="page">
        <p className="error">Cannot reach the Spyglass API: {me.error.message}</p>
        <button onClick={() => void me.refetch()}>Retry</button>
      </div>
    );
  if (!auth) return <LoginPage onSignedIn={signIn} />;
  return <AuthContext.Provider value={auth}>{children(project)}</AuthContext.Provider>;
}
