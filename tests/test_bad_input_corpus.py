"""A corpus of malformed and hostile requests across OTLP/HTTP, OTLP/gRPC and the REST API,
kept here as code that builds it deterministically. Every request is answered with the
expected 4xx (or gRPC code) and an error body that says what was wrong; afterwards the server
is alive, still ingests, and nothing of any rejected request was stored."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

import grpc
import requests

import otlp
from otlp import JSON, PROTOBUF, new_span_id, new_trace_id, span

MiB = 1 << 20
LIMIT = MiB  # the corpus server's max_request_bytes and max_import_bytes


@dataclass
class Case:
    name: str
    status: int                      # HTTP status, or the gRPC code's value for grpc cases
    via: str = "api"                 # api | otlp | grpc
    method: str = "GET"
    path: str = ""
    params: dict = field(default_factory=dict)
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    grpc_path: str = otlp.TRACE_EXPORT


class Corpus:
    """Builds the cases; every OTLP payload carries the corpus's service name and trace ids,
    so what was stored can be looked for afterwards."""

    def __init__(self, tag: str):
        self.tag = tag
        self.trace_ids: list[str] = []
        self.cases: list[Case] = []

    def add(self, *cases: Case) -> None:
        self.cases.extend(cases)

    def otlp_request(self, n: int = 3):
        tid = new_trace_id()
        self.trace_ids.append(tid)
        root = new_span_id()
        spans = [span(tid, root, "corpus root", attrs={"gen_ai.request.model": "gpt-4o", "k": "v" * 20})]
        spans += [span(tid, new_span_id(), f"corpus child {i}", parent=root, attrs={"i": i}) for i in range(n - 1)]
        return otlp.request(spans, self.tag)

    def json_request(self) -> bytes:
        tid = new_trace_id()
        self.trace_ids.append(tid)
        sid = new_span_id()
        return json.dumps(otlp.json_request([otlp.json_span(tid, sid, "corpus json", attrs={"a": "b"})], self.tag)).encode()


def truncations_python_rejects(raw: bytes, parse, count: int) -> list[tuple[int, bytes]]:
    """Prefixes of a valid body that the reference parser rejects, spread over its length."""
    bad = []
    for cut in range(1, len(raw)):
        try:
            parse(raw[:cut])
        except Exception:
            bad.append((cut, raw[:cut]))
    step = max(1, len(bad) // count)
    return bad[::step][:count]


def otlp_http_cases(c: Corpus) -> None:
    raw = c.otlp_request().SerializeToString()
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    for cut, body in truncations_python_rejects(raw, ts.ExportTraceServiceRequest.FromString, 40):
        c.add(Case(f"otlp truncated protobuf at {cut}", 400, "otlp", "POST", "/v1/traces", body=body,
                   headers={"Content-Type": PROTOBUF}))
    for i, garbage in enumerate([b"\xff\xff\xff\x01garbage", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                                 b"\x0f" * 64, b"\x0a\x05abc", b"\x12\x80\x80\x80\x80\x10"]):
        c.add(Case(f"otlp garbage protobuf {i}", 400, "otlp", "POST", "/v1/traces", body=garbage,
                   headers={"Content-Type": PROTOBUF}))

    doc = c.json_request()
    for cut, body in truncations_python_rejects(doc, json.loads, 30):
        c.add(Case(f"otlp truncated json at {cut}", 400, "otlp", "POST", "/v1/traces", body=body,
                   headers={"Content-Type": JSON}))
    good_span = json.loads(doc)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]

    def with_span(**over):
        s = dict(good_span, **over)
        return {"resourceSpans": [{"scopeSpans": [{"spans": [s]}]}]}

    structural = {
        "array": [], "string": "x", "number": 5, "null": None, "bool": True,
        "resourceSpans string": {"resourceSpans": "x"}, "resourceSpans number": {"resourceSpans": 5},
        "resourceSpans object": {"resourceSpans": {}}, "resourceSpans of numbers": {"resourceSpans": [5]},
        "scopeSpans string": {"resourceSpans": [{"scopeSpans": "x"}]},
        "spans object": {"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]},
        "spans of strings": {"resourceSpans": [{"scopeSpans": [{"spans": ["x"]}]}]},
        "resource string": {"resourceSpans": [{"resource": "x", "scopeSpans": []}]},
        "attributes string": with_span(attributes="x"),
        "attributes of numbers": with_span(attributes=[5]),
        "attribute value string": with_span(attributes=[{"key": "a", "value": "x"}]),
        "start time object": with_span(startTimeUnixNano={}),
        "start time text": with_span(startTimeUnixNano="soon"),
        "events object": with_span(events={}),
        "links number": with_span(links=5),
        "status string": with_span(status="bad"),
        "name number": with_span(name=5),
        "kind text": with_span(kind="sideways"),
        "traceId number": with_span(traceId=5),
    }
    for name, d in structural.items():
        c.add(Case(f"otlp json {name}", 400, "otlp", "POST", "/v1/traces", body=json.dumps(d).encode(),
                   headers={"Content-Type": JSON}))

    body = c.otlp_request().SerializeToString()
    for ct in ["text/plain", "application/xml", "text/html", "multipart/form-data", "application/octet-stream",
               "image/png", "application/json-seq", "application/grpc", "x/x", ";;;"]:
        c.add(Case(f"otlp content type {ct!r}", 415, "otlp", "POST", "/v1/traces", body=body, headers={"Content-Type": ct}))
    c.add(Case("otlp no content type", 415, "otlp", "POST", "/v1/traces", body=body))
    for enc in ["br", "deflate", "compress", "zstd", "gzip, br", "snappy"]:
        c.add(Case(f"otlp content encoding {enc}", 415, "otlp", "POST", "/v1/traces", body=body,
                   headers={"Content-Type": PROTOBUF, "Content-Encoding": enc}))
    gz = gzip.compress(c.otlp_request().SerializeToString())
    for i, bad in enumerate([b"\x1f\x8bgarbage", b"\x1f\x8b\x08\x00" + b"\x00" * 20, gz[: len(gz) // 2], gz[:12],
                             gz[:-4], b"plain, not gzip", gzip.compress(b"\xff\xff\xff\x01garbage")]):
        c.add(Case(f"otlp bad gzip {i}", 400, "otlp", "POST", "/v1/traces", body=bad,
                   headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}))
    big = c.otlp_request()
    big.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="pad").value.string_value = "p" * (LIMIT + 10)
    c.add(Case("otlp body over the limit", 413, "otlp", "POST", "/v1/traces", body=big.SerializeToString(),
               headers={"Content-Type": PROTOBUF}))
    c.add(Case("otlp gzip bomb", 413, "otlp", "POST", "/v1/traces", body=gzip.compress(b"\x00" * (8 * LIMIT)),
               headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}))
    c.add(Case("otlp json over the limit", 413, "otlp", "POST", "/v1/traces", body=b" " * (LIMIT + 1) + b"{}",
               headers={"Content-Type": JSON}))
    for m in ["GET", "PUT", "DELETE", "PATCH"]:
        c.add(Case(f"otlp {m} /v1/traces", 405, "otlp", m, "/v1/traces"))
    for p in ["/v1/trace", "/v1/traces/x", "/", "/v2/traces", "/v1/../v1/traces%2F"]:
        c.add(Case(f"otlp unknown path {p}", 404, "otlp", "POST", p, body=body, headers={"Content-Type": PROTOBUF}))


def grpc_cases(c: Corpus) -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    raw = c.otlp_request().SerializeToString()
    invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
    for cut, body in truncations_python_rejects(raw, ts.ExportTraceServiceRequest.FromString, 20):
        c.add(Case(f"grpc truncated at {cut}", invalid, "grpc", body=body))
    c.add(Case("grpc garbage", invalid, "grpc", body=b"\xff\xff\xff\x01garbage"))
    big = c.otlp_request()
    big.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="pad").value.string_value = "p" * (LIMIT + 10)
    c.add(Case("grpc over the limit", grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], "grpc", body=big.SerializeToString()))
    unimplemented = grpc.StatusCode.UNIMPLEMENTED.value[0]
    for p in ["/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
              "/opentelemetry.proto.collector.trace.v2.TraceService/Export", "/x.Y/Z"]:
        c.add(Case(f"grpc unknown method {p}", unimplemented, "grpc", body=raw, grpc_path=p))


def api_cases(c: Corpus) -> None:
    tid = new_trace_id()
    for params in [{"from": "garbage"}, {"to": "yesterday-ish"}, {"from": "1e999"}, {"limit": "abc"},
                   {"limit": "-5"}, {"limit": "1.5"}, {"status": "bogus"}, {"kind": "bogus"}, {"sort": "bogus"},
                   {"order": "sideways"}, {"cursor": "%%%"}, {"cursor": "AAAA"}, {"bogus": "1"},
                   {"min_duration_ms": "abc"}, {"max_duration_ms": "-"}, {"min_cost": "lots"}]:
        c.add(Case(f"traces {params}", 400, path="/api/v1/traces", params=params))
    for bad in ["xyz", "0" * 32, "g" * 32, "a" * 31, "a" * 33, "'; DROP TABLE spans;--", "%00",
                "..%2F..%2Fetc%2Fpasswd", "ＡＢＣ"]:
        c.add(Case(f"trace id {bad!r}", 400, path=f"/api/v1/traces/{bad}"))
        c.add(Case(f"export of trace id {bad!r}", 400, path=f"/api/v1/traces/{bad}/export"))
        c.add(Case(f"delete of trace id {bad!r}", 400, "api", "DELETE", f"/api/v1/traces/{bad}"))
    for bad in ["zz", "0" * 16, "a" * 15, "a" * 17]:
        c.add(Case(f"span id {bad!r}", 400, path=f"/api/v1/traces/{tid}/spans/{bad}"))
    c.add(Case("absent trace", 404, path=f"/api/v1/traces/{tid}"))
    c.add(Case("absent span", 404, path=f"/api/v1/traces/{tid}/spans/{new_span_id()}"))
    c.add(Case("absent session", 404, path="/api/v1/sessions/no-such-session"))
    c.add(Case("absent agent", 404, path="/api/v1/agents/no-such-agent"))
    c.add(Case("absent rule", 404, path="/api/v1/alerts/rules/no-such-rule"))
    c.add(Case("delete absent rule", 404, "api", "DELETE", "/api/v1/alerts/rules/no-such-rule"))
    for params in [{"limit": "abc"}, {"bogus": "1"}, {"from": "bad"}]:
        c.add(Case(f"sessions {params}", 400, path="/api/v1/sessions", params=params))
    for params in [{"severity": "bogus"}, {"category": "bogus"}, {"min_severity": "worst"}, {"from": "bad"},
                   {"trace_id": "xyz"}, {"bogus": "1"}, {"limit": "many"}, {"cursor": "!!"}]:
        c.add(Case(f"findings {params}", 400, path="/api/v1/findings", params=params))
    c.add(Case("finding counts bad from", 400, path="/api/v1/findings/counts", params={"from": "bad"}))
    c.add(Case("facets bad from", 400, path="/api/v1/facets", params={"from": "bad"}))
    for params in [{"metric": "bogus"}, {}, {"metric": "count", "group_by": "bogus"},
                   {"metric": "count", "interval": "abc"}, {"metric": "count", "interval": "0"},
                   {"metric": "count", "interval": "30s"}, {"metric": "count", "from": "1h", "to": "2h"},
                   {"metric": "count", "from": "bad"}, {"metric": "count", "interval": "1m", "from": "30d"},
                   {"metric": "count", "bogus": "1"}, {"metric": "latency_p95", "group_by": "user"}]:
        c.add(Case(f"timeseries {params}", 400, path="/api/v1/analytics/timeseries", params=params))
    c.add(Case("top bogus kind", 400, path="/api/v1/analytics/top", params={"kind": "bogus"}))
    c.add(Case("usage bogus by", 400, path="/api/v1/analytics/usage", params={"by": "bogus"}))
    for p in ["/api/v1/topology", "/api/v1/attack-paths", "/api/v1/agents", "/api/v1/tools"]:
        c.add(Case(f"{p} bad from", 400, path=p, params={"from": "bad"}))
    rule_bodies = {
        "not json": (b"{", {"Content-Type": "application/json"}),
        "text": (b"x", {"Content-Type": "text/plain"}),
        "empty object": (b"{}", {"Content-Type": "application/json"}),
        "unknown field": (b'{"template": "no_data", "x": 1}', {"Content-Type": "application/json"}),
        "bogus template": (b'{"template": "bogus"}', {"Content-Type": "application/json"}),
        "bogus metric": (b'{"name": "r", "metric": "bogus", "threshold": 1}', {"Content-Type": "application/json"}),
        "threshold text": (b'{"template": "no_data", "threshold": "x"}', {"Content-Type": "application/json"}),
        "negative window": (b'{"template": "no_data", "window_s": -1}', {"Content-Type": "application/json"}),
        "loopback webhook": (json.dumps({"template": "no_data", "webhooks": [{"url": "http://127.0.0.1:9/x"}]}).encode(),
                             {"Content-Type": "application/json"}),
        "metadata webhook": (json.dumps({"template": "no_data", "webhooks": [{"url": "http://169.254.169.254/latest"}]}).encode(),
                             {"Content-Type": "application/json"}),
        "ftp webhook": (json.dumps({"template": "no_data", "webhooks": [{"url": "ftp://example.com/x"}]}).encode(),
                        {"Content-Type": "application/json"}),
    }
    for name, (body, headers) in rule_bodies.items():
        c.add(Case(f"alert rule {name}", 400, "api", "POST", "/api/v1/alerts/rules", body=body, headers=headers))
    guard = {
        "not json": b"{", "empty": b"{}", "text number": b'{"text": 5, "direction": "input"}',
        "bogus direction": b'{"text": "hi", "direction": "sideways"}',
        "unknown field": b'{"text": "hi", "direction": "input", "x": 1}',
    }
    for name, body in guard.items():
        c.add(Case(f"guard {name}", 400, "api", "POST", "/api/v1/guard/check", body=body,
                   headers={"Content-Type": "application/json"}))
    prices = {
        "not json": b"{", "models string": b'{"models": "x"}',
        "no prices": b'{"models": [{"id": "m", "prices": []}]}',
        "negative price": b'{"models": [{"id": "m", "prices": [{"from": "2025-01-01", "input": -1, "output": 1}]}]}',
        "bad date": b'{"models": [{"id": "m", "prices": [{"from": "someday", "input": 1, "output": 1}]}]}',
    }
    for name, body in prices.items():
        c.add(Case(f"price overrides {name}", 400, "api", "PUT", "/api/v1/prices/overrides", body=body,
                   headers={"Content-Type": "application/json"}))
    for name, body in {"empty": b"{}", "backwards": b'{"from": "1h", "to": "2h"}', "bad time": b'{"from": "x", "to": "1h"}'}.items():
        c.add(Case(f"recompute {name}", 400, "api", "POST", "/api/v1/prices/recompute", body=body,
                   headers={"Content-Type": "application/json"}))
    c.add(Case("quote without model", 400, path="/api/v1/prices/quote"))
    c.add(Case("import garbage", 400, "api", "POST", "/api/v1/import", body=b"garbage"))
    c.add(Case("import over the limit", 413, "api", "POST", "/api/v1/import", body=b"{" * (LIMIT + 1)))
    for params in [{"from": "1d", "format": "csv"}, {}, {"from": "1h", "to": "2h"}, {"from": "bad"}]:
        c.add(Case(f"export {params}", 400, path="/api/v1/export", params=params))
    for params in [{"limit": "abc"}, {"before": "bad"}, {"bogus": "1"}]:
        c.add(Case(f"audit {params}", 400, path="/api/v1/audit", params=params))
    c.add(Case("live bogus param", 400, path="/api/v1/live", params={"bogus": "1"}))
    c.add(Case("unknown API path", 404, path="/api/v1/nope"))
    c.add(Case("unknown API version", 404, path="/api/v2/traces"))
    c.add(Case("POST to the trace list", 405, "api", "POST", "/api/v1/traces", body=b"{}"))
    c.add(Case("DELETE the findings", 405, "api", "DELETE", "/api/v1/findings"))
    c.add(Case("PUT retention", 405, "api", "PUT", "/api/v1/retention", body=b"{}"))


def build(tag: str) -> Corpus:
    c = Corpus(tag)
    otlp_http_cases(c)
    grpc_cases(c)
    api_cases(c)
    return c


def run(srv, case: Case) -> str | None:
    """Sends a case; returns what was wrong with the answer, or None."""
    if case.via == "grpc":
        try:
            with otlp.grpc_channel(srv) as ch:
                otlp.grpc_method(ch, case.grpc_path)(case.body, timeout=30)
        except grpc.RpcError as e:
            if e.code().value[0] != case.status:
                return f"gRPC {e.code()} ({e.details()})"
            if not (e.details() or "").strip():
                return "empty gRPC error message"
            return None
        return "accepted"
    base = srv.otlp_http if case.via == "otlp" else srv.api
    r = requests.request(case.method, f"{base}{case.path}", params=case.params, data=case.body,
                         headers=case.headers, timeout=60)
    if r.status_code != case.status:
        return f"HTTP {r.status_code}: {r.content[:300]!r}"
    if case.via == "otlp":
        # The error speaks the request's encoding when it has one the receiver knows.
        ct = case.headers.get("Content-Type") if case.status not in (404, 405) else None
        try:
            _, message = otlp.error_status(r, PROTOBUF if ct == PROTOBUF else JSON)
        except Exception as e:  # noqa: BLE001 - reported as the case's failure
            return f"error body unreadable ({e}): {r.content[:200]!r}"
    else:
        try:
            message = r.json()["error"]["message"]
        except Exception:  # noqa: BLE001
            return f"not a JSON error body: {r.content[:200]!r}"
    return None if message.strip() else "empty error message"


def test_the_corpus_is_large_and_covers_every_entry_point():
    c = build("corpus-size")
    by = {v: sum(1 for x in c.cases if x.via == v) for v in ("otlp", "grpc", "api")}
    assert len(c.cases) >= 200, by
    assert all(n >= 20 for n in by.values()), by
    assert len({x.name for x in c.cases}) == len(c.cases), "case names are unique"


def test_every_hostile_request_gets_a_clear_4xx_and_stores_nothing(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(f"max_request_bytes = {LIMIT}\n[archive]\nmax_import_bytes = {LIMIT}\n")
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    before = {p: srv.get_json(p) for p in ("/api/v1/audit", "/api/v1/alerts/rules", "/api/v1/prices/overrides")}
    tag = otlp.unique("corpus")
    corpus = build(tag)
    failures = [f"{case.name}: {why}" for case in corpus.cases if (why := run(srv, case))]
    assert not failures, f"{len(failures)} of {len(corpus.cases)} cases:\n" + "\n".join(failures)

    # Alive and still ingesting.
    assert srv.alive(), srv.logs()
    tid, sid = new_trace_id(), new_span_id()
    otlp.send(srv, otlp.request([span(tid, sid, "after the corpus")], otlp.unique("after")))
    assert srv.span(tid, sid)["name"] == "after the corpus"
    # Nothing of a rejected request was stored.
    assert srv.get_json("/api/v1/traces", service=tag, **{"from": "1d"})["items"] == []
    for t in corpus.trace_ids:
        assert srv.get(f"/api/v1/traces/{t}").status_code == 404, t
    for p, was in before.items():
        assert srv.get_json(p) == was, f"{p} changed: a rejected request left something behind"
