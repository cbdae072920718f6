// The side panel of the trace view: one span in full, loaded on selection.

import { useQuery } from "@tanstack/react-query";
import { api, type Finding, type Tokens } from "../api";
import { CopyButton } from "../components/CopyButton";
import { SeverityBadge, StatusBadge } from "../components/StatusBadge";
import { cost, count, duration, time } from "../format";
import { parsePayload } from "./messages";

function Payload({ title, raw }: { title: string; raw: string | null }) {
  if (!raw) return null;
  const p = parsePayload(raw);
  return (
    <section data-testid={`span-${title.toLowerCase()}`}>
      <h3>
        {title} <CopyButton text={raw} />
      </h3>
      {p.kind === "chat" ? (
        <div className="chat">
          {p.messages.map((m, i) => (
            <div key={i} className={`msg role-${m.role}`}>
              <div className="role">{m.role}</div>
              <div className="content">{m.content}</div>
            </div>
          ))}
        </div>
      ) : (
        <pre className="code">{p.kind === "json" ? p.pretty : p.text}</pre>
      )}
    </section>
  );
}

function JsonBlock({ title, value }: { title: string; value: unknown }) {
  const pretty = JSON.stringify(value, null, 2);
  return (
    <section>
      <h3>
        {title} <CopyButton text={pretty} />
      </h3>
      <pre className="code">{pretty}</pre>
    </section>
  );
}

function TokenTable({ tokens }: { tokens: Tokens }) {
  const rows = Object.entries(tokens).filter(([, v]) => v != null);
  if (!rows.length) return null;
  return (
    <dl className="kv">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k.replace("_", " ")} tokens</dt>
          <dd>{count(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

export function SpanPanel({ traceId, spanId, findings }: { traceId: string; spanId: string; findings: Finding[] }) {
  const q = useQuery({ queryKey: ["span", traceId, spanId], queryFn: () => api.span(traceId, spanId) });
  if (q.isError) return <aside className="panel error">Could not load the span: {q.error.message}</aside>;
  if (!q.data) return <aside className="panel muted">Loading span…</aside>;
  const s = q.data;
  const model = s.response_model ?? s.request_model;
  return (
    <aside className="panel" data-testid="span-panel">
      <h2>{s.name}</h2>
      <div className="chips">
        <StatusBadge status={s.end_ns == null ? "running" : s.status} />
        <span className="chip">{s.kind}</span>
        {s.service_name && <span className="chip">{s.service_name}</span>}
        {model && <span className="chip">{model}</span>}
        {s.tool_name && <span className="chip">tool {s.tool_name}</span>}
        {s.agent_name && <span className="chip">agent {s.agent_name}</span>}
      </div>
      {s.status_message && <p className="error">{s.status_message}</p>}
      <dl className="kv">
        <div>
          <dt>start</dt>
          <dd>{time(s.start_ns)}</dd>
        </div>
        <div>
          <dt>duration</dt>
          <dd>{duration(s.duration_ns)}</dd>
        </div>
        <div>
          <dt>cost</dt>
          <dd>
            {cost(s.cost_usd)} {s.cost_source && <span className="muted">({s.cost_source})</span>}
          </dd>
        </div>
        <div>
          <dt>span id</dt>
          <dd className="mono">{s.span_id}</dd>
        </div>
      </dl>
      <TokenTable tokens={s.tokens} />
      {findings.length > 0 && (
        <section data-testid="span-findings">
          <h3>Findings</h3>
          {findings.map((f) => (
            <div key={f.id} className="finding">
              <SeverityBadge severity={f.severity} /> <b>{f.category}</b> <span className="muted">{f.detector}</span>
              <div>{f.evidence}</div>
            </div>
          ))}
        </section>
      )}
      <Payload title="Input" raw={s.input} />
      <Payload title="Output" raw={s.output} />
      <JsonBlock title="Attributes" value={s.attributes} />
      {s.unmapped_keys.length > 0 && (
        <p className="muted">Unmapped attributes (no convention understood them): {s.unmapped_keys.join(", ")}</p>
      )}
      {s.events.length > 0 && <JsonBlock title="Events" value={s.events} />}
      {s.links.length > 0 && <JsonBlock title="Links" value={s.links} />}
      <JsonBlock title="Resource" value={s.resource_attributes} />
    </aside>
  );
}
