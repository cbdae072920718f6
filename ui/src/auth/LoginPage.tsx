// The sign-in form shown instead of the app while the server is secured and there is no
// session; it stays at the address the user asked for.

import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { admin, ApiError } from "../api";
import { loginErrorMessage, type Me } from "./session";

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const login = useMutation({
    mutationFn: () => admin.login(username, password),
    onSuccess: (me) => onSignedIn(me),
  });
  const error = login.error
    ? login.error instanceof ApiError
      ? loginErrorMessage(login.error.status, login.error.message, login.error.retryAfter)
      : login.error.message
    : null;
  return (
    <div className="login">
      <form
        className="login-form"
        data-testid="login-form"
        onSubmit={(e) => {
          e.preventDefault();
          login.mutate();
        }}
      >
        <h1>Spyglass</h1>
        <p className="muted">Sign in to see this server's traces.</p>
        <label className="field">
          <span>Username</span>
          <input name="username" autoComplete="username" autoFocus value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={!username || !password || login.isPending}>
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
        {error && (
          <p className="error" data-testid="login-error" role="alert">
            {error}
          </p>
        )}
        <p className="muted small">
          The first admin's password is <code>SPYGLASS_AUTH__ADMIN_PASSWORD</code>, or the one generated into{" "}
          <code>&lt;data_dir&gt;/initial-admin-password</code>.
        </p>
      </form>
    </div>
  );
}
