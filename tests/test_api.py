"""The REST API, /metrics and the live WebSocket, against traces the tests send themselves.

The server is shared, so every test names its own services (or sessions, users, time windows)
uniquely and filters by them: other tests' traces never change what a test sees."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import re
import time
import uuid

import pytest
import requests
import websocket

import otlp
from otlp import STATUS_ERROR, STATUS_OK, event, link, new_span_id, new_trace_id, now_ns, resource_spans, span

S = 10**9
MS = 10**6


def rfc3339(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // S, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % S:09d}Z"


def same_instant(text: str, ns: int) -> bool:
    """`text` is RFC 3339 UTC for `ns` (any number of fraction digits)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert m, f"not RFC 3339 UTC: {text!r}"
    secs = int(dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp())
    frac = int((m.group(2) or "0").ljust(9, "0"))
    return secs * S + frac == ns


def ids_of(page) -> list[str]:
    return [t["trace_id"] for t in page["items"]]


def list_ids(server, **params) -> list[str]:
    return ids_of(server.get_json("/api/v1/traces", **params))


def assert_bad_request(r: requests.Response, *words: str):
    assert r.status_code == 400, f"{r.url} -> {r.status_code}: {r.text[:300]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), f"{r.url}: error is not JSON: {r.text[:300]!r}"
    err = r.json()["error"]
    assert err["code"] == "bad_request", err
    assert err["message"], err
    for w in words:
        assert w in err["message"], err


def assert_not_found(r: requests.Response):
    assert r.status_code == 404, f"{r.url} -> {r.status_code}: {r.text[:300]}"
    err = r.json()["error"]
    assert err["code"] == "not_found" and err["message"], err


def send(server, *groups):
    r = otlp.post_request(server, otlp.request_of(*groups))
    assert r.status_code == 200, r.content
    assert not otlp.export_response(r).HasField("partial_success"), otlp.export_response(r)


# --- the filter dataset ---------------------------------------------------------------------

class Dataset:
    """Six traces of one unique service (one with a span of a second service), spread over
    time, cost, duration, status, session, user, agent, model, kind and environment."""

    def __init__(self, server):
        u = uuid.uuid4().hex[:8]
        self.u = u
        self.svc, self.svc2 = f"api-{u}", f"api-other-{u}"
        self.agent, self.model_x, self.model_y, self.tool = f"agentA-{u}", f"modelX-{u}", f"modelY-{u}", f"toolA-{u}"
        self.sess1, self.sess2, self.user1, self.user2 = f"sess1-{u}", f"sess2-{u}", f"user1-{u}", f"user2-{u}"
        self.staging, self.prod, self.team = f"staging-{u}", f"prod-{u}", f"team-{u}"
        self.zebra, self.quokka, self.flag = f"zebra{u}", f"quokka{u}", f"yes-{u}"
        now_s = time.time_ns() // S
        self.base = (now_s - 600) * S  # ten minutes ago, whole seconds
        base = self.base
        T = {k: new_trace_id() for k in ["t1", "t2", "t3", "t4", "t5", "old"]}
        self.T = T

        # t1: agent → llm (modelX, 100/20 tokens, $0.50) + tool; staging; session 1, user 1.
        r1, l1, k1 = new_span_id(), new_span_id(), new_span_id()
        send(server, resource_spans([
            span(T["t1"], r1, "checkout", base, base + 1000 * MS, attrs={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": self.agent,
                # A wrapper's usage repeats its children's: not counted in the trace.
                "gen_ai.usage.input_tokens": 999, "session.id": self.sess1, "user.id": self.user1}),
            span(T["t1"], l1, "chat", base + 10 * MS, base + 500 * MS, parent=r1, attrs={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": self.model_x,
                "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20, "gen_ai.usage.cost": 0.5}),
            span(T["t1"], k1, "lookup", base + 600 * MS, base + 700 * MS, parent=r1, attrs={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": self.tool}),
        ], self.svc, {"deployment.environment.name": self.staging, "team": self.team}))

        # t2: error in a tool; llm (modelY, $2); prod; session 2, user 2; a custom attribute.
        r2 = new_span_id()
        send(server, resource_spans([
            span(T["t2"], r2, "nightly", base + 10 * S, base + 10 * S + 200 * MS,
                 attrs={"session.id": self.sess2, "user.id": self.user2}),
            span(T["t2"], new_span_id(), f"call {self.zebra}", base + 10 * S + 1 * MS, base + 10 * S + 50 * MS, parent=r2,
                 attrs={"gen_ai.request.model": self.model_y, "gen_ai.usage.input_tokens": 5,
                        "gen_ai.usage.output_tokens": 5, "gen_ai.usage.cost": 2.0}),
            span(T["t2"], new_span_id(), "write", base + 10 * S + 60 * MS, base + 10 * S + 90 * MS, parent=r2,
                 attrs={"gen_ai.tool.name": "writer", "custom.flag": self.flag},
                 status=STATUS_ERROR, status_message="disk full"),
        ], self.svc, {"deployment.environment.name": self.prod}))

        # t3: still running (one unfinished span, so no duration).
        send(server, resource_spans([span(T["t3"], new_span_id(), "long job", base + 20 * S, 0)], self.svc))

        # t4: cheap llm with a distinctive input; session 1 again. Starts with t5 (a tie).
        r4 = new_span_id()
        send(server, resource_spans([
            span(T["t4"], r4, "quick", base + 30 * S, base + 30 * S + 50 * MS, status=STATUS_OK),
            span(T["t4"], new_span_id(), "answer", base + 30 * S + 1 * MS, base + 30 * S + 40 * MS, parent=r4,
                 attrs={"gen_ai.request.model": self.model_x, "gen_ai.usage.cost": 0.1,
                        "input.value": f"what does a {self.quokka} eat?", "session.id": self.sess1}),
        ], self.svc))

        # t5: slow, spans two services.
        r5 = new_span_id()
        send(server,
             resource_spans([span(T["t5"], r5, "fanout", base + 30 * S, base + 35 * S)], self.svc),
             resource_spans([span(T["t5"], new_span_id(), "remote", base + 31 * S, base + 32 * S, parent=r5)], self.svc2))

        # old: half an hour ago.
        old = (now_s - 1800) * S
        send(server, resource_spans([span(T["old"], new_span_id(), "old", old, old + 10 * MS)], self.svc))

        self.all = set(T.values())

    def ids(self, *names) -> set[str]:
        return {self.T[n] for n in names}


@pytest.fixture(scope="module")
def data(server) -> Dataset:
    return Dataset(server)


@pytest.mark.parametrize("params,expected", [
    ({}, ["t1", "t2", "t3", "t4", "t5", "old"]),
    ({"from": "15m"}, ["t1", "t2", "t3", "t4", "t5"]),
    ({"from": "-15m"}, ["t1", "t2", "t3", "t4", "t5"]),
    ({"to": "15m"}, ["old"]),
    ({"agent": "{agent}"}, ["t1"]),
    ({"session": "{sess1}"}, ["t1", "t4"]),
    ({"session_id": "{sess2}"}, ["t2"]),
    ({"user": "{user1}"}, ["t1"]),
    ({"status": "error"}, ["t2"]),
    ({"status": "ok"}, ["t1", "t3", "t4", "t5", "old"]),
    ({"status": "running"}, ["t3"]),
    ({"model": "{model_x}"}, ["t1", "t4"]),
    ({"model": "{model_y}"}, ["t2"]),
    ({"kind": "tool"}, ["t1", "t2"]),
    ({"kind": "agent"}, ["t1"]),
    ({"kind": "llm"}, ["t1", "t2", "t4"]),
    ({"environment": "{staging}"}, ["t1"]),
    ({"min_duration_ms": "500"}, ["t1", "t5"]),
    ({"max_duration_ms": "100"}, ["t4", "old"]),
    ({"min_duration_ms": "100", "max_duration_ms": "1000"}, ["t1", "t2"]),
    ({"min_duration_ms": "199.5", "max_duration_ms": "200.5"}, ["t2"]),
    ({"min_cost": "0.4"}, ["t1", "t2"]),
    ({"min_cost": "1"}, ["t2"]),
    ({"min_cost": "0.1"}, ["t1", "t2", "t4"]),
    ({"q": "{quokka_upper}"}, ["t4"]),
    ({"q": "{zebra_upper}"}, ["t2"]),
    ({"q": "fanout"}, ["t5"]),
    ({"attr.custom.flag": "{flag}"}, ["t2"]),
    ({"attr.team": "{team}"}, ["t1"]),
    ({"attr.custom.flag": "no"}, []),
    ({"status": "error", "kind": "tool", "model": "{model_y}"}, ["t2"]),
    ({"session": "{sess1}", "model": "{model_x}", "min_cost": "0.2"}, ["t1"]),
])
def test_trace_filters(server, data, params, expected):
    fmt = dict(vars(data), quokka_upper=data.quokka.upper(), zebra_upper=data.zebra.upper())
    params = {k: v.format(**fmt) for k, v in params.items()}
    got = set(list_ids(server, service=data.svc, limit=100, **params))
    assert got == data.ids(*expected), {n for n, t in data.T.items() if t in got}


def test_time_window_filters(server, data):
    b = data.base
    # Unix nanoseconds, inclusive at both ends.
    got = set(list_ids(server, service=data.svc, **{"from": b + 10 * S, "to": b + 20 * S}))
    assert got == data.ids("t2", "t3")
    # RFC 3339, with and without a fraction.
    got = set(list_ids(server, service=data.svc, **{"from": rfc3339(b + 10 * S), "to": rfc3339(b + 30 * S)}))
    assert got == data.ids("t2", "t3", "t4", "t5")
    whole = dt.datetime.fromtimestamp(b // S, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(list_ids(server, service=data.svc, **{"from": whole, "to": rfc3339(b + 9 * S)})) == data.ids("t1")
    assert list_ids(server, service=data.svc, **{"from": b + 36 * S, "to": b + 37 * S}) == []


def test_service_filter_matches_any_span_of_the_trace(server, data):
    assert list_ids(server, service=data.svc2) == [data.T["t5"]]
    t5 = next(t for t in server.get_json("/api/v1/traces", service=data.svc2)["items"])
    assert t5["service_name"] == data.svc
    assert sorted(t5["services"]) == sorted([data.svc, data.svc2])


def _order(data, sort: str, order: str) -> list[str]:
    """The expected order: the sort key, ties (and nulls, which sort lowest) by trace id."""
    dur = {"t1": 1000, "t2": 200, "t3": -1, "t4": 50, "t5": 5000, "old": 10}
    cost = {"t1": 0.5, "t2": 2.0, "t3": -1, "t4": 0.1, "t5": -1, "old": -1}
    start = {"t1": 0, "t2": 10, "t3": 20, "t4": 30, "t5": 30, "old": -1200}
    key = {"start_time": start, "duration": dur, "cost": cost}[sort]
    names = sorted(data.T, key=lambda n: (key[n], data.T[n]), reverse=(order == "desc"))
    return [data.T[n] for n in names]


@pytest.mark.parametrize("sort", ["start_time", "duration", "cost"])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_sort_and_cursor_paging(server, data, sort, order):
    want = _order(data, sort, order)
    full = list_ids(server, service=data.svc, sort=sort, order=order, limit=100)
    assert full == want
    for limit in (1, 2, 4):
        pages, cursor = [], None
        for _ in range(10):
            params = {"service": data.svc, "sort": sort, "order": order, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = server.get_json("/api/v1/traces", **params)
            assert len(page["items"]) <= limit
            pages.extend(ids_of(page))
            cursor = page.get("next_cursor")
            if len(pages) < len(want):
                assert cursor, f"limit {limit}: no next_cursor after {len(pages)} of {len(want)} traces"
            if not cursor:
                break
        assert pages == want, f"limit {limit}: paging gave duplicates or gaps"
    # The default order is newest first.
    if sort == "start_time" and order == "desc":
        assert list_ids(server, service=data.svc) == want


def test_limit_is_capped_and_defaulted(server, data):
    assert len(server.get_json("/api/v1/traces", service=data.svc, limit=5000)["items"]) == 6
    page = server.get_json("/api/v1/traces", service=data.svc)
    assert len(page["items"]) == 6 and page.get("next_cursor") is None


@pytest.mark.parametrize("params,words", [
    ({"status": "maybe"}, ["status"]),
    ({"kind": "robot"}, ["kind"]),
    ({"limit": "x"}, ["limit"]),
    ({"cursor": "zz"}, ["cursor"]),
    ({"nope": "1"}, ["nope"]),
    ({"from": "yesterday-ish"}, ["from"]),
    ({"to": "soon"}, ["to"]),
    ({"from": "2h", "to": "3h"}, ["from"]),
    ({"sort": "bogus"}, ["sort"]),
    ({"order": "up"}, ["order"]),
    ({"min_duration_ms": "-5"}, ["min_duration_ms"]),
    ({"max_duration_ms": "NaN"}, ["max_duration_ms"]),
    ({"min_cost": "cheap"}, ["min_cost"]),
    ({"attr.": "x"}, []),
])
def test_bad_trace_list_parameters_are_400(server, params, words):
    assert_bad_request(server.get("/api/v1/traces", **params), *words)


@pytest.mark.parametrize("path", [
    "/api/v1/traces/not-a-trace-id",
    "/api/v1/traces/0123456789abcdef",
    "/api/v1/traces/0123456789abcdef0123456789abcdef/spans/xyz",
    "/api/v1/traces/zz23456789abcdef0123456789abcdef/export",
    "/api/v1/sessions?limit=abc",
    "/api/v1/sessions?bogus=1",
    "/api/v1/sessions?from=whenever",
    "/api/v1/sessions?cursor=zz",
    "/api/v1/facets?from=whenever",
    "/api/v1/facets?bogus=1",
])
def test_bad_parameters_everywhere_are_400_json(server, path):
    # design.md §3: every error is {"error": {"code", "message"}} with the right status.
    assert_bad_request(requests.get(f"{server.api}{path}", timeout=10))


def test_unknown_ids_are_404(server, data):
    tid = new_trace_id()
    assert_not_found(server.get(f"/api/v1/traces/{tid}"))
    assert_not_found(server.get(f"/api/v1/traces/{tid}/spans/{new_span_id()}"))
    assert_not_found(server.get(f"/api/v1/traces/{data.T['t1']}/spans/{new_span_id()}"))
    assert_not_found(server.get(f"/api/v1/traces/{tid}/export"))
    assert_not_found(server.get(f"/api/v1/sessions/no-such-session-{uuid.uuid4().hex}"))


# --- one trace ------------------------------------------------------------------------------

def test_trace_summary_and_depth_first_tree(server):
    svc = otlp.unique("tree")
    tid = new_trace_id()
    root, a, a1, b, b1 = (new_span_id() for _ in range(5))
    t0 = now_ns() - 60 * S + 123_456_789
    send(server, resource_spans([
        # Sent out of order: the tree is built from parents and start times, not arrival.
        span(tid, b1, "b1-tool", t0 + 31 * MS, t0 + 35 * MS, parent=b,
             attrs={"gen_ai.tool.name": "search", "session.id": "child-session"},
             status=STATUS_ERROR, status_message="tool failed"),
        span(tid, b, "b-llm", t0 + 30 * MS, t0 + 80 * MS, parent=root,
             attrs={"gen_ai.request.model": "gpt-b", "gen_ai.usage.input_tokens": 40,
                    "gen_ai.usage.output_tokens": 4, "gen_ai.usage.cost": 0.25}),
        span(tid, a1, "a1-llm", t0 + 2 * MS, t0 + 9 * MS, parent=a,
             attrs={"gen_ai.request.model": "gpt-a", "gen_ai.response.model": "gpt-a-2024",
                    "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10, "gen_ai.usage.cost": 0.5}),
        span(tid, a, "a-agent", t0 + 1 * MS, t0 + 20 * MS, parent=root,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper",
                    "gen_ai.usage.input_tokens": 110, "gen_ai.usage.output_tokens": 10}),
        span(tid, root, "root", t0, t0 + 100 * MS,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "boss",
                    "session.id": "root-session", "user.id": "alice"}),
    ], svc))
    body = server.trace(tid)
    t = body["trace"]
    assert t["trace_id"] == tid and t["root_span_id"] == root and t["name"] == "root"
    assert t["service_name"] == svc
    assert t["span_count"] == 5 and t["error_count"] == 1 and t["running_count"] == 0
    assert t["status"] == "error"
    # Tokens and cost of the llm spans only; the agent span's usage repeats its child's.
    assert t["tokens"]["input"] == 140 and t["tokens"]["output"] == 14 and t["tokens"]["total"] == 154
    assert t["tokens"]["cache_read"] is None
    assert t["cost_usd"] == pytest.approx(0.75)
    assert t["session_id"] == "root-session" and t["user_id"] == "alice"
    assert t["agents"] == ["boss", "helper"]
    assert t["models"] == ["gpt-a-2024", "gpt-b"]
    assert t["tools"] == ["search"]
    assert sorted(t["kinds"]) == ["agent", "llm", "tool"]
    assert t["start_ns"] == t0 and t["end_ns"] == t0 + 100 * MS and t["duration_ns"] == 100 * MS
    assert same_instant(t["start_time"], t0) and same_instant(t["end_time"], t0 + 100 * MS)

    rows = body["spans"]
    shape = [(r["name"], r["depth"], r["child_count"]) for r in rows]
    assert shape == [("root", 0, 2), ("a-agent", 1, 1), ("a1-llm", 2, 0), ("b-llm", 1, 1), ("b1-tool", 2, 0)]
    by = {r["name"]: r for r in rows}
    assert by["a1-llm"]["parent_span_id"] == a and by["root"]["parent_span_id"] is None
    assert by["a1-llm"]["model"] == "gpt-a-2024" and by["a1-llm"]["kind"] == "llm"
    assert by["a1-llm"]["tokens"]["input"] == 100
    assert by["b1-tool"]["status"] == "error" and by["b1-tool"]["status_message"] == "tool failed"
    assert by["b1-tool"]["tool_name"] == "search"
    assert same_instant(by["b-llm"]["start_time"], t0 + 30 * MS)

    # The outline is the same tree as columns (the dashboard's trace view reads it).
    outline = server.get_json(f"/api/v1/traces/{tid}/outline")
    assert outline["trace"] == t and outline["findings"] == body["findings"]
    c = outline["spans"]
    text = lambda col, i: c["strings"][c[col][i]] if col in c else None
    assert c["count"] == len(rows) and c["base_ns"] == t0
    for i, r in enumerate(rows):
        assert c["span_id"][i] == r["span_id"] and c["depth"][i] == r["depth"]
        parent = c["parent"][i]
        assert (c["span_id"][parent] if parent >= 0 else None) == r["parent_span_id"]
        assert c["base_ns"] + c["start_ns"][i] == r["start_ns"] and c["duration_ns"][i] == r["duration_ns"]
        for col in ("name", "kind", "status", "status_message", "agent_name", "tool_name", "model"):
            assert text(col, i) == r[col], (col, i)
        assert c["input_tokens"][i] == r["tokens"]["input"] and c["cost_usd"][i] == r["cost_usd"]
    # Columns that are null for every span are left out.
    assert "cache_read_tokens" not in c and "reasoning_tokens" not in c
    assert server.get(f"/api/v1/traces/{new_trace_id()}/outline").status_code == 404
    # Both say where their time went, in milliseconds per phase.
    for path in (f"/api/v1/traces/{tid}", f"/api/v1/traces/{tid}/outline"):
        timing = server.get(path).headers["Server-Timing"]
        phases = dict(p.split(";dur=") for p in timing.split(", "))
        assert list(phases) == ["spans", "findings", "tree", "json"], timing
        assert all(float(ms) >= 0 for ms in phases.values())


def test_span_endpoint_returns_the_canonical_span(server):
    svc = otlp.unique("span")
    tid, sid, other_t, other_s = new_trace_id(), new_span_id(), new_trace_id(), new_span_id()
    t0 = now_ns() - 30 * S
    send(server, resource_spans([span(
        tid, sid, "retrieve docs", t0, t0 + 250 * MS, kind=otlp.SPAN_KIND_CLIENT,
        attrs={"openinference.span.kind": "RETRIEVER", "input.value": "find the refund policy",
               "output.value": "policy.md", "app.request_id": "req-42", "app.retries": 2, "app.flags": ["a", "b"]},
        events=[event("cache.miss", t0 + 5 * MS, {"key": "policy"})],
        links=[link(other_t, other_s, {"reason": "follows"})],
        status=STATUS_OK,
    )], svc, {"deployment.environment": "dev", "host.name": "box-1"}))
    s = server.span(tid, sid)
    assert s["trace_id"] == tid and s["span_id"] == sid and s["parent_span_id"] is None
    assert s["name"] == "retrieve docs" and s["service_name"] == svc and s["scope_name"] == "spyglass.tests"
    assert s["environment"] == "dev" and s["otel_kind"] == "client" and s["kind"] == "retriever"
    assert s["start_ns"] == t0 and s["end_ns"] == t0 + 250 * MS and s["duration_ns"] == 250 * MS
    assert same_instant(s["start_time"], t0)
    assert s["status"] == "ok" and s["status_message"] is None
    assert s["input"] == "find the refund policy" and s["output"] == "policy.md"
    # input.value / output.value moved into input/output; everything else kept verbatim.
    assert "input.value" not in s["attributes"] and "output.value" not in s["attributes"]
    assert s["attributes"]["app.request_id"] == "req-42"
    assert s["attributes"]["app.retries"] == 2 and s["attributes"]["app.flags"] == ["a", "b"]
    assert s["resource_attributes"]["service.name"] == svc and s["resource_attributes"]["host.name"] == "box-1"
    assert s["events"] == [{"time_ns": t0 + 5 * MS, "name": "cache.miss", "attributes": {"key": "policy"}}]
    assert s["links"] == [{"trace_id": other_t, "span_id": other_s, "attributes": {"reason": "follows"}}]
    assert "openinference" in s["convention"]
    assert set(s["tokens"]) == {"input", "output", "cache_read", "cache_write", "reasoning", "total"}
    assert all(v is None for v in s["tokens"].values())


def test_export_contains_the_trace_and_the_traces_it_spawned(server):
    svc = otlp.unique("export")
    x, y, z, unrelated = (new_trace_id() for _ in range(4))
    xr, xc, yr, zr = (new_span_id() for _ in range(4))
    t0 = now_ns() - 20 * S
    send(server, resource_spans([
        span(x, xr, "parent run", t0, t0 + 5 * S),
        span(x, xc, "delegate", t0 + 1 * S, t0 + 2 * S, parent=xr),
    ], svc))
    # y was spawned by x's "delegate" span (an OTLP link), z by y.
    send(server, resource_spans([span(y, yr, "sub run", t0 + 1 * S, t0 + 3 * S, links=[link(x, xc)])], svc))
    send(server, resource_spans([span(z, zr, "sub-sub run", t0 + 2 * S, t0 + 2500 * MS, links=[link(y, yr)])], svc))
    send(server, resource_spans([span(unrelated, new_span_id(), "unrelated", t0, t0 + S)], svc))

    r = server.get(f"/api/v1/traces/{x}/export")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/gzip"
    assert "attachment" in r.headers.get("Content-Disposition", "")
    doc = json.loads(gzip.decompress(r.content))
    assert doc["format"] == "spyglass.trace-export.v1"
    assert doc["root_trace_id"] == x
    got = {t["trace"]["trace_id"]: t for t in doc["traces"]}
    assert set(got) == {x, y, z}
    assert got[x]["spawned_by"] is None and got[y]["spawned_by"] == x and got[z]["spawned_by"] == y
    assert sorted(s["name"] for s in got[x]["spans"]) == ["delegate", "parent run"]
    assert got[y]["spans"][0]["links"][0]["span_id"] == xc
    assert got[x]["trace"]["span_count"] == 2
    # Exporting a sub-trace does not climb up to its parent.
    sub = json.loads(gzip.decompress(server.get(f"/api/v1/traces/{y}/export").content))
    assert {t["trace"]["trace_id"] for t in sub["traces"]} == {y, z}


# --- sessions and facets --------------------------------------------------------------------

def test_sessions_list_and_detail(server):
    u = uuid.uuid4().hex[:8]
    svc, user, sess, sess_b = f"sess-svc-{u}", f"user-{u}", f"conv-{u}", f"conv-b-{u}"
    t0 = now_ns() - 300 * S
    turns = [new_trace_id() for _ in range(3)]
    # Sent newest first: the detail lists turns in start order regardless.
    for i in (2, 0, 1):
        r = new_span_id()
        send(server, resource_spans([
            span(turns[i], r, f"turn {i}", t0 + i * 10 * S, t0 + i * 10 * S + S,
                 attrs={"session.id": sess, "user.id": user, "input.value": f"question {i}"}),
            span(turns[i], new_span_id(), "llm", t0 + i * 10 * S + 1 * MS, t0 + i * 10 * S + 500 * MS, parent=r,
                 attrs={"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 10 * (i + 1),
                        "gen_ai.usage.output_tokens": 1}),
        ], svc))
    other = new_trace_id()
    send(server, resource_spans([span(other, new_span_id(), "other conv", t0 + 100 * S, t0 + 101 * S,
                                      attrs={"session.id": sess_b, "user.id": user})], svc))

    page = server.get_json("/api/v1/sessions", user=user)
    assert [s["session_id"] for s in page["items"]] == [sess_b, sess], "newest session first"
    s = page["items"][1]
    assert s["trace_count"] == 3 and s["span_count"] == 6 and s["error_count"] == 0
    assert s["user_id"] == user
    assert s["tokens"]["input"] == 60 and s["tokens"]["output"] == 3
    assert s["start_ns"] == t0 and same_instant(s["start_time"], t0)
    assert s["first_input_preview"] == "question 0"

    # Paging one session at a time.
    first = server.get_json("/api/v1/sessions", user=user, limit=1)
    assert [x["session_id"] for x in first["items"]] == [sess_b] and first["next_cursor"]
    second = server.get_json("/api/v1/sessions", user=user, limit=1, cursor=first["next_cursor"])
    assert [x["session_id"] for x in second["items"]] == [sess] and not second.get("next_cursor")

    # Time window on the session's start.
    assert [x["session_id"] for x in server.get_json("/api/v1/sessions", user=user, **{"from": t0 + 50 * S})["items"]] == [sess_b]

    d = server.get_json(f"/api/v1/sessions/{sess}")
    assert d["session"]["session_id"] == sess and d["session"]["trace_count"] == 3
    assert [t["trace_id"] for t in d["traces"]] == turns
    assert [t["name"] for t in d["traces"]] == ["turn 0", "turn 1", "turn 2"]
    assert all(t["session_id"] == sess for t in d["traces"])
    # The session filter of the trace list agrees.
    assert set(list_ids(server, session=sess)) == set(turns)


def test_facets_count_distinct_values(server):
    # A time window of our own, years ago, so no other test's traces fall in it.
    base = random.randrange(1_104_537_600, 1_420_070_400) * S  # somewhere in 2005-2014
    u = uuid.uuid4().hex[:6]
    svc1, svc2 = f"facet-a-{u}", f"facet-b-{u}"
    for i, (svc, agent, model, user, env) in enumerate([
        (svc1, "planner", "gpt-x", "ann", "prod"),
        (svc1, "planner", "gpt-y", "bob", "prod"),
        (svc2, "writer", "gpt-x", "ann", "dev"),
    ]):
        tid, r = new_trace_id(), new_span_id()
        start = base + i * S
        send(server, resource_spans([
            span(tid, r, "run", start, start + 100 * MS,
                 attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"{agent}-{u}", "user.id": f"{user}-{u}"}),
            span(tid, new_span_id(), "chat", start + 1 * MS, start + 50 * MS, parent=r,
                 attrs={"gen_ai.request.model": f"{model}-{u}"}),
        ], svc, {"deployment.environment.name": f"{env}-{u}"}))
    f = server.get_json("/api/v1/facets", **{"from": base, "to": base + 3600 * S})

    def counts(name):
        return {v["value"]: v["count"] for v in f[name]}

    assert counts("services") == {svc1: 2, svc2: 1}
    assert f["services"][0]["value"] == svc1, "most frequent first"
    assert counts("agents") == {f"planner-{u}": 2, f"writer-{u}": 1}
    assert counts("models") == {f"gpt-x-{u}": 2, f"gpt-y-{u}": 1}
    assert counts("users") == {f"ann-{u}": 2, f"bob-{u}": 1}
    assert counts("kinds") == {"agent": 3, "llm": 3}
    assert counts("environments") == {f"prod-{u}": 2, f"dev-{u}": 1}
    # The window is honoured.
    later = server.get_json("/api/v1/facets", **{"from": base + 2 * S, "to": base + 3600 * S})
    assert {v["value"]: v["count"] for v in later["services"]} == {svc2: 1}


# --- OpenAPI, metrics -----------------------------------------------------------------------

ROUTES = [
    "/api/v1/traces", "/api/v1/traces/{trace_id}", "/api/v1/traces/{trace_id}/spans/{span_id}",
    "/api/v1/traces/{trace_id}/export", "/api/v1/sessions", "/api/v1/sessions/{session_id}",
    "/api/v1/facets", "/api/v1/live", "/healthz", "/readyz", "/metrics",
]


def test_openapi_lists_every_route(server):
    r = server.get("/api/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    spec = r.json()
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"]), spec["openapi"]
    assert spec["info"]["title"] and spec["info"]["version"]
    for route in ROUTES:
        assert route in spec["paths"], f"{route} missing from the OpenAPI spec: {sorted(spec['paths'])}"
        assert "get" in spec["paths"][route], route
        op = spec["paths"][route]["get"]
        assert op.get("responses"), route
    # Path parameters are declared.
    params = {p["name"] for p in spec["paths"]["/api/v1/traces/{trace_id}/spans/{span_id}"]["get"].get("parameters", [])}
    assert {"trace_id", "span_id"} <= params
    # The filters of the list are documented.
    params = {p["name"] for p in spec["paths"]["/api/v1/traces"]["get"].get("parameters", [])}
    assert {"from", "to", "service", "status", "sort", "order", "limit", "cursor", "q"} <= params, params


def metrics(server) -> str:
    r = server.get("/metrics")
    assert r.status_code == 200
    return r.text


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_metrics_move_when_spans_arrive(server):
    before = metrics(server)
    assert re.search(r"^# TYPE spyglass_store_commit_seconds histogram$", before, re.M), "commit_seconds is a histogram"
    assert re.search(r"^# TYPE spyglass_ingest_queue_bytes gauge$", before, re.M)
    assert re.search(r"^spyglass_store_commit_seconds_bucket\{le=", before, re.M)
    metric(before, "spyglass_ingest_queue_bytes")
    names = ["spyglass_ingest_spans_received_total", "spyglass_ingest_spans_accepted_total",
             "spyglass_ingest_spans_rejected_total", "spyglass_store_commit_seconds_count"]
    b = {n: metric(before, n) for n in names}

    tid = new_trace_id()
    spans = [span(tid, new_span_id(), f"m{i}") for i in range(5)] + [span(tid, "00" * 8, "bad")]
    r = otlp.post_request(server, otlp.request(spans, otlp.unique("metrics")))
    assert otlp.export_response(r).partial_success.rejected_spans == 1

    after = metrics(server)
    a = {n: metric(after, n) for n in names}
    assert a["spyglass_ingest_spans_received_total"] - b["spyglass_ingest_spans_received_total"] >= 6
    assert a["spyglass_ingest_spans_accepted_total"] - b["spyglass_ingest_spans_accepted_total"] >= 5
    assert a["spyglass_ingest_spans_rejected_total"] - b["spyglass_ingest_spans_rejected_total"] >= 1
    assert a["spyglass_store_commit_seconds_count"] > b["spyglass_store_commit_seconds_count"]
    assert metric(after, "spyglass_store_commit_seconds_sum") > 0
    # Nothing is queued once the request has been answered.
    assert metric(after, "spyglass_ingest_queue_bytes") == 0


# --- live WebSocket -------------------------------------------------------------------------

class Live:
    """A /api/v1/live subscription."""

    def __init__(self, server, **params):
        query = "&".join(f"{k}={requests.utils.quote(str(v))}" for k, v in params.items())
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{server.api_port}/api/v1/live?{query}", timeout=5)
        self.hello = json.loads(self.ws.recv())
        self.seen: list[dict] = []

    def until(self, span_ids: set[str], timeout: float = 1.0) -> list[dict]:
        """Reads span messages until all of `span_ids` arrived; returns every span seen."""
        deadline = time.time() + timeout
        while not span_ids <= {s["span_id"] for s in self.seen}:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"live: {len(span_ids - {s['span_id'] for s in self.seen})} spans not delivered within {timeout}s")
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if msg["type"] == "spans":
                self.seen.extend(msg["spans"])
            else:
                assert msg["type"] != "dropped", msg
        return self.seen

    def close(self):
        self.ws.close()


def test_live_sends_subscribed_then_spans_within_a_second(server):
    svc = otlp.unique("live")
    live = Live(server, service=svc)
    try:
        assert live.hello == {"type": "subscribed", "trace_id": None, "session": None, "service": svc}
        tid, ids, req = otlp.simple_trace(svc, n=3, name="live-span")
        otlp.send(server, req)
        acked = time.time()
        seen = live.until(set(ids), timeout=1.0)
        assert time.time() - acked < 1.0
        s = next(x for x in seen if x["span_id"] == ids[0])
        assert s["trace_id"] == tid and s["name"] == "live-span-0" and s["service_name"] == svc
        assert s["parent_span_id"] is None and s["end_ns"] is not None and s["start_time"]
    finally:
        live.close()


def test_live_without_filter_sees_everything(server):
    live = Live(server)
    try:
        assert live.hello["type"] == "subscribed"
        tid, ids, req = otlp.simple_trace(otlp.unique("live-all"), n=2)
        otlp.send(server, req)
        live.until(set(ids))
    finally:
        live.close()


@pytest.mark.parametrize("flt", ["service", "trace_id", "session"])
def test_live_filters(server, flt):
    u = uuid.uuid4().hex[:8]
    svc = f"live-{flt}-{u}"
    match_t, other_t = new_trace_id(), new_trace_id()
    match_s, other_s = new_span_id(), new_span_id()
    session = f"live-session-{u}"
    match_attrs = {"session.id": session} if flt == "session" else {}
    params = {"service": {"service": svc}, "trace_id": {"trace_id": match_t}, "session": {"session": session}}[flt]
    live = Live(server, **params)
    try:
        assert live.hello["type"] == "subscribed"
        assert live.hello[flt] == params[flt]
        # The non-matching span is committed first, so it would arrive first if it leaked.
        other_service = f"live-other-{u}" if flt == "service" else svc
        otlp.send(server, otlp.request([span(other_t, other_s, "not-for-you")], other_service))
        otlp.send(server, otlp.request([span(match_t, match_s, "for-you", attrs=match_attrs)], svc))
        seen = live.until({match_s})
        assert other_s not in {s["span_id"] for s in seen}, "a span outside the filter was delivered"
        for s in seen:
            if flt == "service":
                assert s["service_name"] == svc
            elif flt == "trace_id":
                assert s["trace_id"] == match_t
            else:
                assert s["session_id"] == session
    finally:
        live.close()
