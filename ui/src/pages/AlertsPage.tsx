// Alert rules with their current state, the history of their state changes, and creating a
// rule from one of the built-in templates.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api";
import { condition, parameter } from "../alerts/rules";
import { time } from "../format";
import { Head } from "../components/Head";

function NewRule() {
  const client = useQueryClient();
  const templates = useQuery({ queryKey: ["alert-templates"], queryFn: api.alertTemplates });
  const [template, setTemplate] = useState("");
  const [param, setParam] = useState("");
  const [name, setName] = useState("");
  const chosen = templates.data?.find((t) => t.id === template);
  const paramSpec = parameter(chosen);
  const create = useMutation({
    mutationFn: () =>
      api.createAlertRule({ template, ...(param !== "" && paramSpec ? { param: Number(param) } : {}), ...(name ? { name } : {}) }),
    onSuccess: () => {
      setParam("");
      setName("");
      void client.invalidateQueries({ queryKey: ["alert-rules"] });
    },
  });
  return (
    <form
      className="filters new-rule"
      data-testid="new-rule"
      onSubmit={(e) => {
        e.preventDefault();
        if (template) create.mutate();
      }}
    >
      <label className="filter">
        <span>Template</span>
        <select name="template" value={template} onChange={(e) => setTemplate(e.target.value)}>
          <option value="">choose…</option>
          {(templates.data ?? []).map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
      {paramSpec && (
        <label className="filter">
          <span>{paramSpec.label}</span>
          <input name="param" type="number" step="any" value={param} placeholder={String(paramSpec.value)} onChange={(e) => setParam(e.target.value)} />
        </label>
      )}
      <label className="filter">
        <span>Name</span>
        <input name="name" value={name} placeholder={chosen?.name ?? ""} onChange={(e) => setName(e.target.value)} />
      </label>
      <button type="submit" disabled={!template || create.isPending}>
        Create rule
      </button>
      {chosen?.description && <span className="muted">{chosen.description}</span>}
      {create.isError && <span className="error">{create.error.message}</span>}
    </form>
  );
}

export function AlertsPage() {
  const rules = useQuery({ queryKey: ["alert-rules"], queryFn: api.alertRules, refetchInterval: 15_000 });
  const events = useQuery({
    queryKey: ["alert-events"],
    queryFn: () => api.alertEvents(new URLSearchParams({ limit: "100" })),
    refetchInterval: 15_000,
  });
  const names = new Map((rules.data ?? []).map((r) => [r.rule.id, r.rule.name]));
  return (
    <div className="page">
      <h1>Alerts</h1>
      {rules.isError && <p className="error">{rules.error.message}</p>}
      <h2>New rule from a template</h2>
      <NewRule />
      <h2>Rules</h2>
      {rules.data &&
        (rules.data.length === 0 ? (
          <div className="empty" data-testid="alerts-empty">
            <h2>No alert rules yet</h2>
            <p>
              A rule watches a metric (p95 latency, error rate, cost, no data, high-severity findings) and fires when its
              condition holds for a while. Create one from a template above, with <code>POST /api/v1/alerts/rules</code>, or
              in the <code>[[alerts.rules]]</code> section of <code>spyglass.toml</code>.
            </p>
          </div>
        ) : (
          <table className="table" data-testid="rules-table">
            <Head cols={["State", "Rule", "Condition", "Severity", { num: "Last value" }, "Since", "Last evaluated"]} />
            <tbody>
              {rules.data.map((r) => (
                <tr key={r.rule.id} data-testid="rule-row">
                  <td>
                    <span className={`badge alert-${r.state}`}>{r.rule.enabled ? r.state : "disabled"}</span>
                  </td>
                  <td>
                    {r.rule.name}
                    {r.rule.description && <div className="muted">{r.rule.description}</div>}
                  </td>
                  <td className="mono">{condition(r.rule)}</td>
                  <td>{r.rule.severity}</td>
                  <td className="num">{r.last_value == null ? "—" : r.last_value.toPrecision(4)}</td>
                  <td className="mono">{r.since_ns != null ? time(r.since_ns) : "—"}</td>
                  <td className="mono">{r.last_evaluated_ns != null ? time(r.last_evaluated_ns) : "not yet"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <h2>History</h2>
      {events.isError && <p className="error">{events.error.message}</p>}
      {events.data &&
        (events.data.length === 0 ? (
          <p className="muted">No rule has changed state yet; each change (pending, firing, resolved) is listed here.</p>
        ) : (
          <table className="table" data-testid="events-table">
            <Head cols={["Time", "Rule", "Change", "Severity", "Message"]} />
            <tbody>
              {events.data.map((e) => (
                <tr key={e.id}>
                  <td className="mono">{time(e.time_ns)}</td>
                  <td>{names.get(e.rule_id) ?? e.rule_name}</td>
                  <td>
                    <span className={`badge alert-${e.from}`}>{e.from}</span> → <span className={`badge alert-${e.to}`}>{e.to}</span>
                  </td>
                  <td>{e.severity}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </div>
  );
}
