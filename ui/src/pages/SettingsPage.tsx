// Settings of the server and of the current project: projects, API keys, accounts, price
// overrides, and (read-only) retention and the redaction policy. What the caller's role
// cannot do is hidden or disabled; the server still checks every request.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { useLocation } from "react-router-dom";
import { admin, ApiError, type Account, type CreatedKey, type KeyScope, type Role } from "../api";
import { useAuth, ME_KEY } from "../auth/AuthProvider";
import { projectIdProblem } from "../auth/session";
import { ConfirmButton } from "../components/ConfirmButton";
import { CopyButton } from "../components/CopyButton";
import { Head } from "../components/Head";
import { count, time } from "../format";

/** How to turn authentication on: shown in local mode, where creating keys, projects and
 * accounts answers 409. */
function AuthOffHelp() {
  return (
    <div className="empty" data-testid="auth-off">
      <strong>Authentication is off (local mode).</strong> Every request is accepted as an admin of the{" "}
      <code>default</code> project, so there are no sign-ins, API keys, projects or accounts to manage. To turn it on,
      set <code>[auth] enabled = true</code> in the configuration file or <code>SPYGLASS_AUTH__ENABLED=true</code> in
      the environment and restart. The first admin (<code>admin</code>) gets the password in{" "}
      <code>SPYGLASS_AUTH__ADMIN_PASSWORD</code>, or a generated one written to{" "}
      <code>&lt;data_dir&gt;/initial-admin-password</code>.
    </div>
  );
}

/** An error from the API; a 409 in local mode also says how to turn authentication on. */
function Failure({ error }: { error: Error | null }) {
  const { me } = useAuth();
  if (!error) return null;
  return (
    <div className="failure" role="alert">
      <span className="error">{error.message}</span>
      {error instanceof ApiError && error.status === 409 && me.mode === "local" && <AuthOffHelp />}
    </div>
  );
}

function Section({ id, title, note, children }: { id: string; title: string; note?: ReactNode; children: ReactNode }) {
  return (
    <section className="settings-section" id={id} data-testid={`settings-${id}`}>
      <h2>{title}</h2>
      {note && <p className="muted">{note}</p>}
      {children}
    </section>
  );
}

function PasswordSection() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const change = useMutation({
    mutationFn: () => admin.changePassword(current, next),
    onSuccess: () => {
      setCurrent("");
      setNext("");
    },
  });
  return (
    <Section id="password" title="Your password">
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          change.mutate();
        }}
      >
        <label className="filter">
          <span>Current password</span>
          <input name="current-password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label className="filter">
          <span>New password (12 characters or more)</span>
          <input name="new-password" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
        </label>
        <button type="submit" disabled={!current || next.length < 12 || change.isPending}>
          Change password
        </button>
        {change.isSuccess && <span className="status-ok">Password changed.</span>}
      </form>
      <Failure error={change.error} />
    </Section>
  );
}

function ProjectsSection() {
  const { me, perms } = useAuth();
  const client = useQueryClient();
  const projects = useQuery({ queryKey: ["projects"], queryFn: admin.projects });
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [deleted, setDeleted] = useState<string | null>(null);
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ["projects"] });
    void client.invalidateQueries({ queryKey: ME_KEY });
  };
  const create = useMutation({
    mutationFn: () => admin.createProject(id, name || id),
    onSuccess: () => {
      setId("");
      setName("");
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (pid: string) => admin.deleteProject(pid),
    onSuccess: (r, pid) => {
      setDeleted(`Deleted ${pid}: ${count(r.traces)} traces, ${count(r.spans)} spans.`);
      refresh();
    },
  });
  const idProblem = id ? projectIdProblem(id) : null;
  return (
    <Section
      id="projects"
      title="Projects"
      note="Each project keeps its own traces, keys, alert rules and settings. Switch between them in the top bar."
    >
      {projects.isError && <Failure error={projects.error} />}
      <table className="table narrow">
        <Head cols={["id", "name", "your role", "created", ""]} />
        <tbody>
          {(projects.data ?? []).map((p) => (
            <tr key={p.id} data-testid="project-row">
              <td className="mono">{p.id}</td>
              <td>{p.name}</td>
              <td>{me.mode === "local" ? "admin" : p.role}</td>
              <td className="muted">{time(p.created_ns)}</td>
              <td>
                {perms.serverAdmin && p.id !== "default" && (
                  <ConfirmButton label="Delete" confirm={`Delete ${p.id} and all its data`} onConfirm={() => remove.mutate(p.id)} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {deleted && <p className="muted">{deleted}</p>}
      <Failure error={remove.error} />
      {perms.serverAdmin ? (
        <form
          className="filters settings-form"
          data-testid="new-project"
          onSubmit={(e) => {
            e.preventDefault();
            if (!projectIdProblem(id)) create.mutate();
          }}
        >
          <label className="filter">
            <span>Id (lowercase letters, digits, -)</span>
            <input name="project-id" value={id} onChange={(e) => setId(e.target.value)} placeholder="staging" />
          </label>
          <label className="filter">
            <span>Name</span>
            <input name="project-name" value={name} onChange={(e) => setName(e.target.value)} placeholder={id || "Staging"} />
          </label>
          <button type="submit" disabled={!id || !!idProblem || create.isPending}>
            Create project
          </button>
          {idProblem && <span className="error">{idProblem}</span>}
        </form>
      ) : (
        <p className="muted">Only a server admin creates and deletes projects.</p>
      )}
      <Failure error={create.error} />
    </Section>
  );
}

const SCOPES: { scope: KeyScope; help: string }[] = [
  { scope: "ingest", help: "sends spans (OTLP) and asks the guard" },
  { scope: "read", help: "reads the API" },
  { scope: "admin", help: "manages the project" },
];

function NewKeyShown({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  return (
    <div className="new-key" data-testid="new-key">
      <p>
        <strong>New {created.scope} key "{created.name}":</strong>{" "}
        <code data-testid="new-key-value">{created.key}</code>
        <CopyButton text={created.key} />
      </p>
      <p className="error">Copy it now: you won't see it again. Spyglass keeps only a hash of it.</p>
      {created.scope === "ingest" ? (
        <>
          <p className="muted">Send spans with it from any OpenTelemetry SDK or collector:</p>
          <pre className="code">
            {`OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer ${created.key}"`}
          </pre>
        </>
      ) : (
        <>
          <p className="muted">Use it as a bearer token:</p>
          <pre className="code">{`curl -H "Authorization: Bearer ${created.key}" ${window.location.origin}/api/v1/traces`}</pre>
        </>
      )}
      <button onClick={onDone}>Done</button>
    </div>
  );
}

function KeysSection() {
  const { me, perms, project } = useAuth();
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ["keys"], queryFn: admin.keys, enabled: perms.manage });
  const [name, setName] = useState("");
  const [scope, setScope] = useState<KeyScope>("ingest");
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const create = useMutation({
    mutationFn: () => admin.createKey(name, scope),
    onSuccess: (k) => {
      setCreated(k);
      setName("");
      void client.invalidateQueries({ queryKey: ["keys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => admin.revokeKey(id),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["keys"] }),
  });
  const projectName = me.projects.find((p) => p.id === project)?.name ?? project ?? "this project";
  return (
    <Section id="keys" title={`API keys of ${projectName}`} note="Keys let programs send spans to this project or use its API.">
      {!perms.manage ? (
        <p className="muted">Only an admin of this project manages its keys.</p>
      ) : (
        <>
          {keys.isError && <Failure error={keys.error} />}
          {keys.data && keys.data.length === 0 && <p className="muted">No keys yet.</p>}
          {!!keys.data?.length && (
            <table className="table">
              <Head cols={["prefix", "name", "scope", "created", "by", "revoked", ""]} />
              <tbody>
                {keys.data.map((k) => (
                  <tr key={k.id} data-testid="key-row" className={k.revoked_ns ? "revoked" : undefined}>
                    <td className="mono">{k.prefix}…</td>
                    <td>{k.name}</td>
                    <td>
                      <span className="chip">{k.scope}</span>
                    </td>
                    <td className="muted">{time(k.created_ns)}</td>
                    <td className="muted">{k.created_by}</td>
                    <td>{k.revoked_ns ? <span className="status-error">{time(k.revoked_ns)}</span> : "—"}</td>
                    <td>
                      {!k.revoked_ns && (
                        <ConfirmButton label="Revoke" confirm="Revoke: it stops working at once" onConfirm={() => revoke.mutate(k.id)} />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <Failure error={revoke.error} />
          {created ? (
            <NewKeyShown created={created} onDone={() => setCreated(null)} />
          ) : (
            <form
              className="filters settings-form"
              data-testid="new-key-form"
              onSubmit={(e) => {
                e.preventDefault();
                if (name) create.mutate();
              }}
            >
              <label className="filter">
                <span>Name</span>
                <input name="key-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="checkout-service" />
              </label>
              <label className="filter">
                <span>Scope</span>
                <select name="key-scope" value={scope} onChange={(e) => setScope(e.target.value as KeyScope)}>
                  {SCOPES.map((s) => (
                    <option key={s.scope} value={s.scope}>
                      {s.scope}: {s.help}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit" disabled={!name || create.isPending}>
                Create key
              </button>
            </form>
          )}
          <Failure error={create.error} />
        </>
      )}
    </Section>
  );
}

const ROLES: Role[] = ["viewer", "member", "admin"];

/** A role per project; "" = no access. */
function RolePicker({ roles, onChange }: { roles: Record<string, Role>; onChange: (roles: Record<string, Role>) => void }) {
  const projects = useQuery({ queryKey: ["projects"], queryFn: admin.projects });
  return (
    <span className="role-picker">
      {(projects.data ?? []).map((p) => (
        <label key={p.id} className="filter">
          <span>{p.id}</span>
          <select
            name={`role-${p.id}`}
            value={roles[p.id] ?? ""}
            onChange={(e) => {
              const next = { ...roles };
              if (e.target.value) next[p.id] = e.target.value as Role;
              else delete next[p.id];
              onChange(next);
            }}
          >
            <option value="">no access</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      ))}
    </span>
  );
}

function AccountEditor({ account, onClose }: { account: Account; onClose: () => void }) {
  const client = useQueryClient();
  const [roles, setRoles] = useState(account.roles);
  const [isAdmin, setAdmin] = useState(account.admin);
  const [password, setPassword] = useState("");
  const save = useMutation({
    mutationFn: () => admin.updateAccount(account.id, { roles, admin: isAdmin, ...(password ? { password } : {}) }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["accounts"] });
      void client.invalidateQueries({ queryKey: ME_KEY });
      onClose();
    },
  });
  return (
    <form
      className="filters settings-form"
      data-testid="account-editor"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <RolePicker roles={roles} onChange={setRoles} />
      <label className="filter checkbox">
        <span>Server admin</span>
        <input type="checkbox" checked={isAdmin} onChange={(e) => setAdmin(e.target.checked)} />
      </label>
      <label className="filter">
        <span>Reset password (optional, 12+)</span>
        <input name="reset-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button type="submit" disabled={save.isPending || (password !== "" && password.length < 12)}>
        Save
      </button>
      <button type="button" onClick={onClose}>
        Cancel
      </button>
      <Failure error={save.error} />
    </form>
  );
}

function AccountsSection() {
  const { me } = useAuth();
  const client = useQueryClient();
  const accounts = useQuery({ queryKey: ["accounts"], queryFn: admin.accounts });
  const [editing, setEditing] = useState<string | null>(null);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [isAdmin, setAdmin] = useState(false);
  const [roles, setRoles] = useState<Record<string, Role>>({});
  const create = useMutation({
    mutationFn: () => admin.createAccount({ username, password, admin: isAdmin, roles }),
    onSuccess: () => {
      setUsername("");
      setPassword("");
      setAdmin(false);
      setRoles({});
      void client.invalidateQueries({ queryKey: ["accounts"] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => admin.deleteAccount(id),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["accounts"] }),
  });
  return (
    <Section id="accounts" title="Accounts" note="People who sign in to the dashboard, with a role in each project (viewer reads, member also changes settings, admin also manages keys).">
      {accounts.isError && <Failure error={accounts.error} />}
      {accounts.data && accounts.data.length === 0 && <p className="muted">No accounts.</p>}
      {!!accounts.data?.length && (
        <table className="table">
          <Head cols={["username", "server admin", "roles", "created", ""]} />
          <tbody>
            {accounts.data.map((a) => (
              <tr key={a.id} data-testid="account-row">
                <td>{a.username}</td>
                <td>{a.admin ? "yes" : "—"}</td>
                <td>
                  {editing === a.id ? (
                    <AccountEditor account={a} onClose={() => setEditing(null)} />
                  ) : (
                    Object.entries(a.roles).map(([p, r]) => (
                      <span key={p} className="chip">
                        {p}: {r}
                      </span>
                    ))
                  )}
                </td>
                <td className="muted">{time(a.created_ns)}</td>
                <td className="actions">
                  {editing !== a.id && <button onClick={() => setEditing(a.id)}>Edit</button>}
                  {a.id !== me.user_id && (
                    <ConfirmButton label="Delete" confirm={`Delete ${a.username}`} onConfirm={() => remove.mutate(a.id)} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Failure error={remove.error} />
      <h3>New account</h3>
      <form
        className="filters settings-form"
        data-testid="new-account"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label className="filter">
          <span>Username</span>
          <input name="account-username" value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label className="filter">
          <span>Password (12 characters or more)</span>
          <input name="account-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <RolePicker roles={roles} onChange={setRoles} />
        <label className="filter checkbox">
          <span>Server admin</span>
          <input type="checkbox" checked={isAdmin} onChange={(e) => setAdmin(e.target.checked)} />
        </label>
        <button type="submit" disabled={!username || password.length < 12 || create.isPending}>
          Create account
        </button>
      </form>
      <Failure error={create.error} />
    </Section>
  );
}

const PRICE_EXAMPLE = `{
  "models": [{ "id": "my-model", "match": ["my-model"], "prices": [{ "from": "2025-01-01", "input": 1.0, "output": 4.0 }] }],
  "aliases": { "prod-chat": "gpt-4o" }
}`;

function PricesSection() {
  const { perms } = useAuth();
  const client = useQueryClient();
  const current = useQuery({ queryKey: ["price-overrides"], queryFn: admin.priceOverrides });
  const [text, setText] = useState<string | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const shown = current.data ? JSON.stringify(current.data, null, 2) : "";
  const save = useMutation({
    mutationFn: (value: unknown) => admin.setPriceOverrides(value),
    onSuccess: (saved) => {
      client.setQueryData(["price-overrides"], saved);
      setText(null);
    },
  });
  const remove = useMutation({
    mutationFn: admin.deletePriceOverrides,
    onSuccess: () => {
      setText(null);
      void client.invalidateQueries({ queryKey: ["price-overrides"] });
    },
  });
  const empty = current.data && current.data.models.length === 0 && Object.keys(current.data.aliases).length === 0;
  return (
    <Section
      id="prices"
      title="Price overrides"
      note="Models and aliases this project prices differently from the bundled table and the configuration (US dollars per million tokens). They apply to spans received from now on."
    >
      {current.isError && <Failure error={current.error} />}
      <textarea
        name="price-overrides"
        className="code json-editor"
        spellCheck={false}
        rows={12}
        readOnly={!perms.write}
        value={text ?? shown}
        placeholder={PRICE_EXAMPLE}
        onChange={(e) => {
          setText(e.target.value);
          setInvalid(null);
        }}
      />
      {perms.write ? (
        <div className="filters">
          <button
            disabled={text === null || save.isPending}
            onClick={() => {
              try {
                save.mutate(JSON.parse(text ?? shown));
              } catch (e) {
                setInvalid(`Not valid JSON: ${(e as Error).message}`);
              }
            }}
          >
            Save
          </button>
          {text !== null && <button onClick={() => { setText(null); setInvalid(null); save.reset(); }}>Discard changes</button>}
          {!empty && <ConfirmButton label="Remove overrides" confirm="Remove all overrides" onConfirm={() => remove.mutate()} />}
          {save.isSuccess && text === null && <span className="status-ok">Saved.</span>}
        </div>
      ) : (
        <p className="muted">Members and admins of the project change prices.</p>
      )}
      {invalid && <p className="error">{invalid}</p>}
      <Failure error={save.error ?? remove.error} />
      {empty && (
        <details>
          <summary className="muted">Example</summary>
          <pre className="code">{PRICE_EXAMPLE}</pre>
        </details>
      )}
    </Section>
  );
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <span className="muted">{label}</span>
      <span>{children}</span>
    </>
  );
}

const yesNo = (b: boolean) => (b ? "on" : "off");

function RetentionSection() {
  const r = useQuery({ queryKey: ["retention"], queryFn: admin.retention });
  return (
    <Section id="retention" title="Retention" note="Set in the server's configuration ([retention]); read-only here.">
      {r.isError && <Failure error={r.error} />}
      {r.data && (
        <div className="kv settings-kv">
          <Row label="Kept for">{r.data.days === 0 ? "ever" : `${r.data.days} days`}</Row>
          <Row label="Next pass deletes data before">{r.data.cutoff_time ?? "—"}</Row>
          <Row label="Pass every">{r.data.interval_s} s</Row>
          <Row label="Archived to">{r.data.archive_destination ? `${r.data.archive_destination} (${r.data.archive_format})` : "not archived"}</Row>
        </div>
      )}
    </Section>
  );
}

function RedactionSection() {
  const r = useQuery({ queryKey: ["redaction"], queryFn: admin.redaction });
  return (
    <Section id="redaction" title="Redaction policy" note="What is masked before spans are stored, and what the scanner reads. Set in the configuration ([security]); read-only here.">
      {r.isError && <Failure error={r.error} />}
      {r.data && (
        <div className="kv settings-kv">
          <Row label="Secret masking">{yesNo(r.data.secret_masking)}</Row>
          <Row label="PII masking">{yesNo(r.data.pii_masking)}</Row>
          <Row label="Custom PII patterns">{r.data.custom_pii_patterns.join(", ") || "none"}</Row>
          <Row label="Disabled detectors">{r.data.disabled_detectors.join(", ") || "none"}</Row>
          <Row label="Scan system prompts">{yesNo(r.data.scan_system_prompts)}</Row>
          <Row label="Bytes scanned per text">{count(r.data.max_scan_bytes)}</Row>
        </div>
      )}
    </Section>
  );
}

export function SettingsPage() {
  const { me, perms } = useAuth();
  const { hash } = useLocation();
  useEffect(() => {
    if (hash) document.getElementById(hash.slice(1))?.scrollIntoView();
  }, [hash]);
  return (
    <div className="page settings">
      <h1>Settings</h1>
      {me.mode === "local" && <AuthOffHelp />}
      {me.kind === "user" && <PasswordSection />}
      <ProjectsSection />
      <KeysSection />
      {perms.serverAdmin && <AccountsSection />}
      <PricesSection />
      <RetentionSection />
      <RedactionSection />
    </div>
  );
}
