"""Retention through the real binary: a background pass deletes exactly the traces older than
the project's window (whole traces, every span older), keeps the rest, and the API says what
the window is."""

from __future__ import annotations

import time

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry import trace as otel_trace

DAY = 86_400 * 10**9


def test_retention_deletes_exactly_what_is_older_than_the_window(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text("[retention]\ndays = 30\ninterval_s = 1\n")
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    tp = TracerProvider(resource=Resource.create({"service.name": "retention-app"}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces")))
    tracer = tp.get_tracer("retention-test")
    now = time.time_ns()
    ids = {}
    # An hour either side of the 30-day boundary, and one trace that crosses it.
    for label, starts in [("old", [now - 30 * DAY - 3_600 * 10**9]),
                          ("kept", [now - 30 * DAY + 3_600 * 10**9]),
                          ("crossing", [now - 30 * DAY - 60 * 10**9, now - 30 * DAY + 60 * 10**9])]:
        root = tracer.start_span(f"{label} root", start_time=starts[0])
        ids[label] = format(root.get_span_context().trace_id, "032x")
        ctx = otel_trace.set_span_in_context(root)
        for s in starts[1:]:
            child = tracer.start_span(f"{label} child", context=ctx, start_time=s)
            child.end(end_time=s + 10**6)
        root.end(end_time=starts[-1] + 2 * 10**6)
    tp.shutdown()

    deadline = time.time() + 15
    while time.time() < deadline and requests.get(f"{srv.api}/api/v1/traces/{ids['old']}", timeout=5).status_code != 404:
        time.sleep(0.2)
    assert requests.get(f"{srv.api}/api/v1/traces/{ids['old']}", timeout=5).status_code == 404
    assert len(srv.trace(ids["kept"])["spans"]) == 1
    assert len(srv.trace(ids["crossing"])["spans"]) == 2, "a trace crossing the boundary is kept whole"
    listed = {t["trace_id"] for t in srv.get_json("/api/v1/traces", **{"from": "40d"})["items"]}
    assert listed == {ids["kept"], ids["crossing"]}
    r = srv.get_json("/api/v1/retention")
    assert r["days"] == 30 and r["interval_s"] == 1
    assert abs(r["cutoff_ns"] - (time.time_ns() - 30 * DAY)) < 60 * 10**9


def test_deleting_a_user_removes_their_data_from_every_query_and_is_audited(fresh_server):
    srv = fresh_server().start()
    tp = TracerProvider(resource=Resource.create({"service.name": "gdpr-app"}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces")))
    tracer = tp.get_tracer("deletion-test")
    ids = {}
    for label, user in [("a1", "erin"), ("a2", "erin"), ("b1", "frank"), ("b2", "frank")]:
        with tracer.start_as_current_span(f"turn {label}", attributes={"session.id": f"s-{label}"}) as root:
            ids[label] = format(root.get_span_context().trace_id, "032x")
            with tracer.start_as_current_span("chat", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "user.id": user,
                    "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}):
                pass
    tp.shutdown()
    for t in ids.values():
        srv.wait_for_trace(t, spans=2)

    r = requests.delete(f"{srv.api}/api/v1/users/erin", timeout=10)
    assert r.status_code == 200 and r.json() == {"traces": 2, "spans": 4}, r.text
    for label in ("a1", "a2"):
        assert requests.get(f"{srv.api}/api/v1/traces/{ids[label]}", timeout=5).status_code == 404
    assert srv.get_json("/api/v1/traces", user="erin")["items"] == []
    assert srv.get_json("/api/v1/analytics/usage", by="user", key="erin") == []
    assert requests.get(f"{srv.api}/api/v1/sessions/s-a1", timeout=5).status_code == 404
    count = srv.get_json("/api/v1/analytics/timeseries", metric="count", service="gdpr-app", **{"from": "1h"})
    assert count["series"][0]["total"] == 4.0, "rollups lose the user's spans at once"
    assert requests.delete(f"{srv.api}/api/v1/users/erin", timeout=10).status_code == 404
    assert len(srv.trace(ids["b1"])["spans"]) == 2, "other users' data stays"

    out = srv.cli("delete", "session", "s-b1").stdout
    assert out.strip() == "deleted session s-b1: 1 traces, 2 spans", out
    failed = srv.cli("delete", "user", "nobody at all", check=False)
    assert failed.returncode != 0 and "404" in failed.stderr, failed
    assert requests.delete(f"{srv.api}/api/v1/traces/{ids['b2']}", timeout=10).json()["traces"] == 1
    assert requests.delete(f"{srv.api}/api/v1/traces/not-hex", timeout=10).status_code == 400
    log = srv.get_json("/api/v1/audit")
    # Attempts that found nothing are recorded too.
    assert [(e["action"], e["target"]) for e in log[:5]] == [
        ("delete.trace", f"trace {ids['b2']}"), ("delete.user", "user nobody at all"),
        ("delete.session", "session s-b1"), ("delete.user", "user erin"), ("delete.user", "user erin")]
    assert log[4]["detail"] == {"traces": 2, "spans": 4} and log[4]["actor"] == "local"


def test_configuration_changes_are_audited_by_section_without_values(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text("[retention]\ndays = 30\n")
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    first = [e for e in srv.get_json("/api/v1/audit") if e["action"] == "config.changed"]
    assert len(first) == 1 and first[0]["target"] == "first start"
    srv.stop()
    srv.start()
    assert len([e for e in srv.get_json("/api/v1/audit") if e["action"] == "config.changed"]) == 1, \
        "an unchanged configuration is not recorded again"
    srv.stop()
    cfg.write_text("[retention]\ndays = 7\n[archive]\ndestination = \"/srv/archive-hunter2\"\n")
    srv.start()
    entries = [e for e in srv.get_json("/api/v1/audit") if e["action"] == "config.changed"]
    assert len(entries) == 2
    assert entries[0]["detail"]["changed"] == ["archive", "retention"], entries[0]
    assert "hunter2" not in str(entries[0])
    assert srv.get_json("/api/v1/retention")["days"] == 7
