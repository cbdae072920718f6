"""Usage analytics and alerts through the real binary: spans sent by the OpenTelemetry exporter
show up in the per-minute rollups (timeseries, rankings, usage per user), and an alert rule
goes firing → resolved over real traffic, delivering signed webhooks to a local receiver."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode


def tracer_for(srv, service: str):
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces")))
    return tp, tp.get_tracer("analytics-test")


def agent_run(tracer, user: str, model: str, tools: list[tuple[str, bool]], tokens=(100, 20)):
    with tracer.start_as_current_span("invoke_agent", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "user.id": user}):
        with tracer.start_as_current_span("chat", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens[0], "gen_ai.usage.output_tokens": tokens[1]}):
            pass
        for name, fails in tools:
            with tracer.start_as_current_span(f"execute_tool {name}", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}) as t:
                if fails:
                    t.set_status(Status(StatusCode.ERROR, "boom"))


def totals(ts: dict) -> dict:
    return {s["group"]: s["total"] for s in ts["series"]}


def wait_for(fn, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def test_timeseries_rankings_and_usage_follow_the_spans(server):
    service = f"analytics-{uuid.uuid4().hex[:8]}"
    ann, bob = f"ann-{service}", f"bob-{service}"
    tp, tracer = tracer_for(server, service)
    agent_run(tracer, ann, "gpt-4o", [("search", False), ("search", False)])
    agent_run(tracer, ann, "gpt-4o-mini", [("shell", True)], tokens=(1000, 10))
    agent_run(tracer, bob, "gpt-4o", [("shell", False)])
    tp.shutdown()

    def ts(**params):
        return server.get_json("/api/v1/analytics/timeseries", service=service, **params)

    by_model = wait_for(lambda: (t := ts(metric="count", group_by="model", kind="llm", interval="1m", **{"from": "15m"}))
                        and sum(v for v in totals(t).values()) == 3 and t, what="three LLM spans in the rollups")
    assert totals(by_model) == {"gpt-4o": 2.0, "gpt-4o-mini": 1.0}
    assert by_model["interval_s"] == 60 and by_model["unit"] == "spans"
    assert len(by_model["series"][0]["points"]) >= 15

    cost = totals(ts(metric="cost", group_by="model"))
    assert cost["gpt-4o"] > 0 and cost["gpt-4o-mini"] > 0, cost
    tokens = totals(ts(metric="tokens", group_by="model"))
    assert tokens == {"gpt-4o": 240.0, "gpt-4o-mini": 1010.0, None: 0.0}, "spans without a model: group null"
    errors = totals(ts(metric="error_rate", group_by="tool"))
    assert errors["shell"] == 0.5 and errors["search"] == 0.0, errors
    p95 = totals(ts(metric="latency_p95", group_by="kind"))
    assert p95["tool"] is not None and p95["tool"] >= 0
    by_user = totals(ts(metric="count", group_by="user"))
    assert by_user == {ann: 2.0, bob: 1.0}, "by user, traces are counted"

    failing = server.get_json("/api/v1/analytics/top", kind="failing_tools", service=service)
    assert [(e["key"], e["errors"]) for e in failing] == [("shell", 1)]
    slow = server.get_json("/api/v1/analytics/top", kind="slow_tools", service=service)
    assert {e["key"] for e in slow} == {"search", "shell"}
    usage = server.get_json("/api/v1/analytics/usage", by="user", key=ann)
    assert len(usage) == 1 and usage[0]["traces"] == 2 and usage[0]["total_tokens"] == 1130
    assert usage[0]["error_traces"] == 1 and usage[0]["cost_usd"] > 0


@pytest.mark.parametrize("params, needle", [
    ({"metric": "nope"}, "latency_p95"),
    ({"metric": "count", "group_by": "color"}, "model"),
    ({"metric": "count", "interval": "30s"}, "whole minutes"),
    ({"metric": "count", "interval": "1m", "from": "30d"}, "wider interval"),
    ({"metric": "latency_p95", "group_by": "user"}, "per user"),
    ({"metric": "count", "kind": "robot"}, "llm"),
    ({"metric": "count", "colour": "red"}, "colour"),
    ({"metric": "count", "from": "1h", "to": "2h"}, "after"),
])
def test_bad_analytics_queries_get_a_clear_400(server, params, needle):
    r = server.get("/api/v1/analytics/timeseries", **params)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"], r.text
    assert server.get("/api/v1/analytics/top", kind="cheapest").status_code == 400


class Receiver:
    """A local webhook receiver that records every request; the first `fail_first` answer 500."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                code = 500 if len(outer.requests) <= outer.fail_first else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def ok(self) -> list[dict]:
        """Requests that were answered 200, parsed."""
        return [json.loads(r["body"]) | {"_headers": r["headers"], "_raw": r["body"]}
                for r in self.requests[self.fail_first:]]

    def close(self):
        self.httpd.shutdown()


ALERTS_CONFIG = """
[alerts]
evaluate_every_s = 1
allow_private_webhooks = true
webhook_backoff_ms = 100
webhook_max_backoff_ms = 500
"""


def test_an_error_rate_rule_fires_and_resolves_with_signed_webhooks(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(ALERTS_CONFIG)
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    receiver = Receiver(fail_first=1)
    try:
        service = "checkout"
        r = __import__("requests").post(f"{srv.api}/api/v1/alerts/rules", json={
            "template": "error_rate", "param": 0.5, "name": "checkout errors", "for_s": 0,
            "window_s": 60, "filter": {"service": service},
            "webhooks": [{"url": receiver.url, "secret": "s3cret"}]}, timeout=10)
        assert r.status_code == 201, r.text
        rule = r.json()
        assert rule["state"] == "ok"
        assert rule["rule"]["webhooks"][0] == {"url": receiver.url, "format": "json", "secret_set": True}
        rule_id = rule["rule"]["id"]

        tp, tracer = tracer_for(srv, service)
        with tracer.start_as_current_span("pay") as s:
            s.set_status(Status(StatusCode.ERROR, "card declined"))
        tp.force_flush()

        firing = wait_for(lambda: [m for m in receiver.ok() if m["event"]["to"] == "firing"], timeout=20,
                          what="a firing webhook")[0]
        assert len(receiver.requests) >= 2, "the first attempt got a 500 and was retried"
        headers = firing["_headers"]
        ts = headers["x-spyglass-timestamp"]
        want = hmac.new(b"s3cret", f"{ts}.".encode() + firing["_raw"], hashlib.sha256).hexdigest()
        assert headers["x-spyglass-signature"] == f"sha256={want}"
        assert firing["event"]["rule_id"] == rule_id and firing["event"]["value"] == 1.0
        assert "s3cret" not in firing["_raw"].decode(), "the secret never travels"
        assert srv.get_json(f"/api/v1/alerts/rules/{rule_id}")["state"] == "firing"

        # Healthy traffic brings the rate under the threshold: resolved, notified once more.
        for _ in range(5):
            with tracer.start_as_current_span("pay"):
                pass
        tp.shutdown()
        wait_for(lambda: [m for m in receiver.ok() if m["event"]["to"] == "resolved"], timeout=20,
                 what="a resolved webhook")
        events = srv.get_json("/api/v1/alerts/events", rule_id=rule_id)
        states = [e["to"] for e in reversed(events)]
        assert states[:2] == ["firing", "resolved"], states
        assert [m["event"]["to"] for m in receiver.ok()] == ["firing", "resolved"]
    finally:
        receiver.close()


def test_rules_are_managed_through_the_api_and_private_targets_refused(fresh_server, tmp_path):
    import requests

    cfg = tmp_path / "spyglass.toml"
    cfg.write_text('[[alerts.rules]]\ntemplate = "no_data"\nname = "Ingest stopped"\n')
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    base = f"{srv.api}/api/v1/alerts"

    templates = {t["id"] for t in srv.get_json("/api/v1/alerts/templates")}
    assert templates == {"p95_latency", "error_rate", "cost_spike", "no_data", "high_severity_finding"}
    rules = srv.get_json("/api/v1/alerts/rules")
    assert [r["rule"]["id"] for r in rules] == ["config-default-ingest-stopped"]
    assert requests.delete(f"{base}/rules/config-default-ingest-stopped", timeout=10).status_code == 409

    for url, kind in [("http://127.0.0.1:9/hook", "loopback"), ("http://169.254.169.254/latest", "metadata"),
                      ("http://10.1.2.3/x", "private")]:
        r = requests.post(f"{base}/rules", json={"template": "high_severity_finding",
                                                 "webhooks": [{"url": url}]}, timeout=10)
        assert r.status_code == 400 and kind in r.json()["error"]["message"], (url, r.text)
    r = requests.post(f"{base}/rules", json={"metric": "cost", "window_s": 30, "threshold": 1}, timeout=10)
    assert r.status_code == 400 and "window_s" in r.text
    r = requests.post(f"{base}/rules", json={"metric": "cost", "threshold": 1, "colour": "red"}, timeout=10)
    assert r.status_code == 400

    r = requests.post(f"{base}/rules", json={"name": "Spend", "metric": "cost", "threshold": 5,
                                             "window_s": 300, "severity": "critical"}, timeout=10)
    assert r.status_code == 201, r.text
    rid = r.json()["rule"]["id"]
    r = requests.put(f"{base}/rules/{rid}", json={"name": "Spend", "metric": "cost", "threshold": 9}, timeout=10)
    assert r.status_code == 200 and r.json()["rule"]["threshold"] == 9
    assert requests.delete(f"{base}/rules/{rid}", timeout=10).status_code == 204
    assert requests.get(f"{base}/rules/{rid}", timeout=10).status_code == 404
