"""`init` works whether or not the application already set a global TracerProvider. Each case
runs in a fresh interpreter, because OpenTelemetry lets a process set its global provider once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import Any

APP = textwrap.dedent('''
    import json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import spyglass

    endpoint, preset = sys.argv[1], sys.argv[2] == "preset"
    own = InMemorySpanExporter()
    if preset:
        provider = TracerProvider(resource=Resource.create({"service.name": "app-own-provider"}))
        provider.add_span_processor(SimpleSpanProcessor(own))
        trace.set_tracer_provider(provider)
    assert spyglass.init(endpoint=endpoint, service_name="sdk-fresh-provider", batch_delay_ms=50,
                         fail_silently=False)

    @spyglass.observe(kind="agent")
    def plan(goal):
        with trace.get_tracer("app").start_as_current_span("app-step"):
            return goal.upper()

    plan("ship it")
    spyglass.flush()
    print(json.dumps({"app_exporter_saw": sorted(s.name for s in own.get_finished_spans()),
                      "global_is_spyglass": trace.get_tracer_provider() is spyglass.get_tracer_provider()}))
    spyglass.shutdown()
''')


def run_app(endpoint: str, mode: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-c", APP, endpoint, mode], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def traces_of(server: Any, service: str) -> list[dict[str, Any]]:
    deadline = time.time() + 10
    while time.time() < deadline:
        items = server.get_json("/api/v1/traces", service=service)["items"]
        if items:
            return items
        time.sleep(0.05)
    raise AssertionError(f"no trace from {service}")


def test_application_provider_is_kept_and_shared(server: Any) -> None:
    out = run_app(server.otlp_http, "preset")
    # The application's own exporter still sees everything, Spyglass's decorator included.
    assert out["app_exporter_saw"] == ["app-step", "plan"]
    assert out["global_is_spyglass"]
    # And Spyglass received the same spans, under the application's resource.
    [item] = traces_of(server, "app-own-provider")
    spans = server.trace(item["trace_id"])["spans"]
    assert sorted(s["name"] for s in spans) == ["app-step", "plan"]


def test_without_a_provider_spyglass_sets_the_global_one(server: Any) -> None:
    out = run_app(server.otlp_http, "fresh")
    assert out["app_exporter_saw"] == [] and out["global_is_spyglass"]
    [item] = traces_of(server, "sdk-fresh-provider")
    spans = server.trace(item["trace_id"])["spans"]
    assert sorted(s["name"] for s in spans) == ["app-step", "plan"]
