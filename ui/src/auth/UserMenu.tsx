// The top bar's right side: in local mode a badge saying authentication is off; signed in,
// the project switcher and a menu with the username, change password and sign out.

import { useRef } from "react";
import { Link } from "react-router-dom";
import { useAuth } from "./AuthProvider";

export const LOCAL_MODE_HELP =
  "Authentication is off: anyone who can reach this port is an admin of the default project. " +
  "Turn it on with [auth] enabled = true in the configuration or SPYGLASS_AUTH__ENABLED=true.";

export function ProjectSwitcher() {
  const { me, project, setProject } = useAuth();
  if (me.mode === "local" || me.projects.length === 0) return null;
  return (
    <label className="project-switcher" title="The project whose data the dashboard shows">
      <span className="muted">Project</span>
      <select data-testid="project-switcher" value={project ?? ""} onChange={(e) => setProject(e.target.value)}>
        {me.projects.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name === p.id ? p.id : `${p.name} (${p.id})`}
          </option>
        ))}
      </select>
    </label>
  );
}

export function UserMenu() {
  const { me, signOut } = useAuth();
  const menu = useRef<HTMLDetailsElement>(null);
  const close = () => menu.current?.removeAttribute("open");
  if (me.mode === "local") {
    return (
      <span className="badge local-badge" data-testid="local-mode" title={LOCAL_MODE_HELP}>
        local mode
      </span>
    );
  }
  const who = me.username ?? (me.key_prefix ? `key ${me.key_prefix}` : me.kind);
  return (
    <details className="user-menu" ref={menu} data-testid="user-menu">
      <summary>
        {who}
        {me.admin && <span className="badge admin-badge">admin</span>}
      </summary>
      <div className="menu" onClick={close}>
        {me.kind === "user" && <Link to="/settings#password">Change password</Link>}
        <Link to="/settings">Settings</Link>
        {me.kind === "user" && (
          <button data-testid="sign-out" onClick={() => void signOut()}>
            Sign out
          </button>
        )}
      </div>
    </details>
  );
}
