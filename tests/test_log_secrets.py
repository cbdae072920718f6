"""No secret a client writes into a span, a header or a bad request shows in the server's log,
at the most verbose level, through every entry point: OTLP/HTTP, OTLP/gRPC, the REST API,
the guard, rejected requests, the forwarder's headers and the archive destination."""

from __future__ import annotations

import json

import grpc
import requests

import otlp
from otlp import JSON, PROTOBUF, new_span_id, new_trace_id, span

SECRETS = {
    "openai": "sk-proj-" + "Q9w8E7r6T5y4U3i2O1p0" * 2,
    "aws": "AKIA" + "Z7X6C5V4B3N2M1L0",
    "password": "hunter2-Correct-Horse-Battery",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNlY3JldA",
    "header": "sg_ingest_" + "k3yThatMustNeverBeLogged0123",
    "webhook": "whsec_" + "NeverLogThisWebhookSecret42",
    "exporter": "Honeycomb-Team-Key-" + "DoNotLog-9876",
}


def test_no_secret_reaches_the_log(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        "[[forward.exporters]]\n"
        "name = \"downstream\"\n"
        "endpoint = \"http://127.0.0.1:9/v1/traces\"\n"
        "protocol = \"http\"\n"
        "max_attempts = 1\n"
        f"headers = {{ \"x-honeycomb-team\" = \"{SECRETS['exporter']}\" }}\n"
    )
    srv = fresh_server(extra_args=["--config", str(cfg)],
                       env={"SPYGLASS_LOG": "trace,h2=info,hyper=info,tonic=info"}).start()
    s = SECRETS
    tid, sid = new_trace_id(), new_span_id()
    attrs = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": f"my key is {s['openai']} and my AWS key {s['aws']}",
        "db.password": s["password"],
        "http.request.header.authorization": f"Bearer {s['bearer']}",
    }
    req = otlp.request([span(tid, sid, "leaky llm call", attrs=attrs)], otlp.unique("secrets"))
    headers = {"Authorization": f"Bearer {s['header']}", "X-API-Key": s["header"]}
    r = otlp.post(srv, req.SerializeToString(), PROTOBUF, headers=headers)
    assert r.status_code == 200, r.text
    # Over gRPC with the key in metadata.
    tid2 = new_trace_id()
    req2 = otlp.request([span(tid2, new_span_id(), "grpc leak", attrs=attrs)], otlp.unique("secrets"))
    with otlp.grpc_channel(srv) as ch:
        otlp.grpc_method(ch)(req2.SerializeToString(), timeout=30,
                             metadata=[("authorization", f"Bearer {s['header']}"), ("x-api-key", s["header"])])
    # Rejected requests carrying secrets: a malformed body and a bad content type.
    bad = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": s["password"], "traceId": 5}]}]}]})
    assert otlp.post(srv, bad.encode(), JSON, headers=headers).status_code == 400
    assert otlp.post(srv, s["openai"].encode(), "text/plain", headers=headers).status_code == 415
    # The API: a guard check of a secret, searches, a webhook secret, bad ids with secrets.
    g = requests.post(f"{srv.api}/api/v1/guard/check", headers=headers,
                      json={"text": f"use {s['openai']} now", "direction": "output"}, timeout=10)
    assert g.status_code == 200, g.text
    requests.post(f"{srv.api}/api/v1/alerts/rules", headers=headers, timeout=10, json={
        "template": "no_data", "webhooks": [{"url": "https://hooks.example.com/x", "secret": s["webhook"]}]})
    requests.get(f"{srv.api}/api/v1/traces/{s['password']}", headers=headers, timeout=10)
    requests.get(f"{srv.api}/api/v1/traces", params={"bogus": s["password"]}, headers=headers, timeout=10)
    srv.wait_for_trace(tid)
    stored = srv.span(tid, sid)
    assert s["openai"] not in json.dumps(stored), "secrets are masked before storage"
    # Let the forwarder try (and fail) with its header.
    srv.stop()

    log = srv.logs()
    assert "leaky" in log or "request" in log, "the log is verbose enough to matter"
    leaked = {name: v for name, v in s.items() if v in log}
    assert not leaked, f"secrets in the log: {sorted(leaked)}"
