// What a new user sees before any trace has arrived: how to send the first one.

export function EmptyState({ what }: { what: string }) {
  const host = window.location.hostname || "127.0.0.1";
  return (
    <div className="empty" data-testid="empty-state">
      <h2>No {what} yet</h2>
      <p>Spyglass receives OpenTelemetry traces. Point any OpenTelemetry SDK at it:</p>
      <ul>
        <li>
          OTLP/HTTP: <code>http://{host}:4318/v1/traces</code>
        </li>
        <li>
          OTLP/gRPC: <code>http://{host}:4317</code>
        </li>
      </ul>
      <p>With the Python SDK:</p>
      <pre>{`pip install spyglass-sdk

import spyglass
spyglass.init(service_name="my-agent")   # sends to http://localhost:4318

@spyglass.observe(kind="agent")
def answer(question: str) -> str: ...`}</pre>
      <p>
        Or restart with sample data: <code>./scripts/run demo</code>. See docs/getting-started.md for more.
      </p>
    </div>
  );
}
