"""Projects, API keys, users and roles through the real binary with authentication on.

Spans are sent with the official OpenTelemetry exporters carrying keys in their headers (gRPC
metadata and HTTP headers), as an instrumented agent would.
"""

from __future__ import annotations

import os
import pathlib
import time
import uuid

import grpc
import pytest
import requests
import websocket
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

import otlp
from conftest import Server

ADMIN_PASSWORD = "first-admin-password"
SECRET = "AKIAQ3EGRK7Z2XJ5MNPW"


def secured(fresh_server, **env) -> Server:
    return fresh_server(env={
        "SPYGLASS_AUTH__ENABLED": "true",
        "SPYGLASS_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD,
        **env,
    }).start()


class Client:
    """A signed-in browser session (cookie + CSRF token) or a key, against one server."""

    def __init__(self, srv: Server, key: str | None = None, project: str | None = None):
        self.srv = srv
        self.s = requests.Session()
        self.project = project
        if key:
            self.s.headers["authorization"] = f"Bearer {key}"

    def login(self, username: str, password: str) -> "Client":
        r = self.s.post(f"{self.srv.api}/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.s.headers["x-csrf-token"] = r.json()["csrf_token"]
        return self

    def call(self, method: str, path: str, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        if self.project:
            headers.setdefault("x-spyglass-project", self.project)
        return self.s.request(method, f"{self.srv.api}{path}", headers=headers, timeout=30, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw):
        r = self.call(method, path, **kw)
        assert r.status_code == status, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None


def admin(srv: Server) -> Client:
    return Client(srv).login("admin", ADMIN_PASSWORD)


def make_project(adm: Client, pid: str) -> dict[str, str]:
    """A project with one key of each scope."""
    adm.ok("POST", "/api/v1/projects", 201, json={"id": pid, "name": pid.title()})
    keys = {}
    for scope in ("ingest", "read", "admin"):
        body = adm.ok("POST", "/api/v1/keys", 201, json={"name": f"{pid}-{scope}", "scope": scope},
                      headers={"x-spyglass-project": pid})
        assert body["key"].startswith(f"sg_{scope}_") and body["prefix"] in body["key"]
        keys[scope] = body["key"]
        keys[f"{scope}_id"] = body["id"]
    return keys


def send(srv: Server, key: str, *, via: str = "http", header: str = "authorization", session: str | None = None,
         user: str | None = None, agent: str | None = None, text: str = "hello") -> str:
    """One trace through the official exporter with the key in a header; its trace id."""
    value = f"Bearer {key}" if header == "authorization" else key
    if via == "http":
        exporter = HttpExporter(endpoint=f"{srv.otlp_http}/v1/traces", headers={header: value})
    else:
        exporter = GrpcExporter(endpoint=srv.otlp_grpc, insecure=True, headers=((header, value),))
    tp = TracerProvider(resource=Resource.create({"service.name": "auth-test"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("auth-test")
    with tracer.start_as_current_span(agent or "run") as root:
        if agent:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("gen_ai.agent.name", agent)
        if session:
            root.set_attribute("session.id", session)
        if user:
            root.set_attribute("user.id", user)
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.prompt", text)
        trace_id = format(root.get_span_context().trace_id, "032x")
    tp.shutdown()
    return trace_id


def export_status(srv: Server, key: str | None, via: str) -> object:
    """What the server answers one export with this key: an HTTP status or a gRPC code."""
    req = otlp.request([otlp.span(otlp.new_trace_id(), otlp.new_span_id(), "x")], service="auth-test")
    if via == "http":
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return otlp.post(srv, req.SerializeToString(), headers=headers).status_code
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    with grpc.insecure_channel(srv.otlp_grpc) as ch:
        stub = trace_service_pb2_grpc.TraceServiceStub(ch)
        try:
            stub.Export(req, metadata=[("x-api-key", key)] if key else [], timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()


def wait_trace(c: Client, trace_id: str, spans: int = 2) -> dict:
    deadline = time.time() + 10
    while time.time() < deadline:
        r = c.call("GET", f"/api/v1/traces/{trace_id}")
        if r.status_code == 200 and len(r.json()["spans"]) >= spans:
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} not readable: {r.status_code} {r.text}")


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory):
    """A secured server with projects `acme` and `globex`, each with keys and one trace."""
    srv = Server(tmp_path_factory.mktemp("auth") / "data", env={
        "SPYGLASS_AUTH__ENABLED": "true",
        "SPYGLASS_AUTH__ADMIN_PASSWORD": ADMIN_PASSWORD,
    }).start()
    adm = admin(srv)
    keys = {p: make_project(adm, p) for p in ("acme", "globex")}
    acme = Client(srv, keys["acme"]["read"])
    ids = {
        "session": f"sess-{uuid.uuid4().hex[:8]}",
        "user": f"user-{uuid.uuid4().hex[:8]}",
        "agent": f"agent-{uuid.uuid4().hex[:8]}",
    }
    ids["trace"] = send(srv, keys["acme"]["ingest"], via="http", session=ids["session"], user=ids["user"],
                        agent=ids["agent"], text=f"my key is {SECRET}")
    trace = wait_trace(acme, ids["trace"])
    ids["span"] = trace["spans"][0]["span_id"]
    ids["rule"] = Client(srv, keys["acme"]["admin"]).ok(
        "POST", "/api/v1/alerts/rules", 201,
        json={"template": "error_rate", "param": 0.5, "name": "acme errors"})["rule"]["id"]
    yield srv, adm, keys, ids
    srv.stop()


def test_keys_map_spans_to_their_project_over_http_and_grpc(two_tenants):
    srv, _, keys, ids = two_tenants
    # gRPC metadata and the X-API-Key header work as well as Authorization: Bearer.
    g = send(srv, keys["globex"]["ingest"], via="grpc", header="x-api-key")
    h = send(srv, keys["globex"]["ingest"], via="http", header="x-api-key")
    g2 = send(srv, keys["globex"]["ingest"], via="grpc", header="authorization")
    globex = Client(srv, keys["globex"]["read"])
    acme = Client(srv, keys["acme"]["read"])
    for t in (g, h, g2):
        wait_trace(globex, t)
        assert acme.call("GET", f"/api/v1/traces/{t}").status_code == 404
    listed = {t["trace_id"] for t in globex.ok("GET", "/api/v1/traces", params={"from": "1h"})["items"]}
    assert {g, h, g2} <= listed and ids["trace"] not in listed
    acme_listed = {t["trace_id"] for t in acme.ok("GET", "/api/v1/traces", params={"from": "1h"})["items"]}
    assert ids["trace"] in acme_listed and not acme_listed & {g, h, g2}


def fill(path: str, ids: dict, keys: dict) -> str:
    return (path.replace("{trace_id}", ids["trace"]).replace("{span_id}", ids["span"])
            .replace("{session_id}", ids["session"]).replace("{user_id}", ids["user"])
            .replace("{name}", ids["agent"]).replace("{id}", ids.get("id", "")))


# Every route of the spec that names a thing by id, with what stands in for the id. A route
# added without an entry here fails `test_every_route_with_another_projects_ids_answers_404`.
PROJECT_ROUTES_WITH_IDS = {
    ("get", "/api/v1/traces/{trace_id}"): {},
    ("get", "/api/v1/traces/{trace_id}/outline"): {},
    ("delete", "/api/v1/traces/{trace_id}"): {},
    ("get", "/api/v1/traces/{trace_id}/spans/{span_id}"): {},
    ("get", "/api/v1/traces/{trace_id}/export"): {},
    ("get", "/api/v1/sessions/{session_id}"): {},
    ("delete", "/api/v1/sessions/{session_id}"): {},
    ("delete", "/api/v1/users/{user_id}"): {},
    ("get", "/api/v1/agents/{name}"): {},
    ("get", "/api/v1/alerts/rules/{id}"): {"id": "rule"},
    ("put", "/api/v1/alerts/rules/{id}"): {"id": "rule"},
    ("delete", "/api/v1/alerts/rules/{id}"): {"id": "rule"},
    ("delete", "/api/v1/keys/{id}"): {"id": "key"},
}
# Server-wide things, not a project's: only server admins reach them (tested below).
SERVER_ROUTES_WITH_IDS = {
    ("delete", "/api/v1/projects/{id}"),
    ("patch", "/api/v1/accounts/{id}"),
    ("delete", "/api/v1/accounts/{id}"),
}


def spec_routes(srv: Server) -> set[tuple[str, str]]:
    spec = requests.get(f"{srv.api}/api/openapi.json", timeout=10).json()
    return {(m, p) for p, item in spec["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")}


def test_every_route_with_another_projects_ids_answers_404(two_tenants):
    srv, adm, keys, ids = two_tenants
    with_ids = {r for r in spec_routes(srv) if "{" in r[1]}
    assert with_ids == set(PROJECT_ROUTES_WITH_IDS) | SERVER_ROUTES_WITH_IDS, \
        f"routes with ids not covered: {with_ids ^ (set(PROJECT_ROUTES_WITH_IDS) | SERVER_ROUTES_WITH_IDS)}"

    # Globex's admin key may do anything in globex, and nothing to acme's things. A globex
    # member signed in by password gets the same answers.
    adm.ok("POST", "/api/v1/accounts", 201, json={"username": "globex-member", "password": "globex-member-pw",
                                                  "roles": {"globex": "member"}})
    callers = {
        "globex admin key": Client(srv, keys["globex"]["admin"]),
        "globex member": Client(srv).login("globex-member", "globex-member-pw"),
    }
    rule_body = {"template": "error_rate", "param": 0.5, "name": "x"}
    for who, c in callers.items():
        for (method, path), subst in PROJECT_ROUTES_WITH_IDS.items():
            if who == "globex member" and path.startswith("/api/v1/keys") or \
                    who == "globex member" and path == "/api/v1/users/{user_id}":
                continue  # members may not manage keys or erase users at all (403, below)
            local = dict(ids, id={"rule": ids["rule"], "key": keys["acme"]["ingest_id"]}.get(subst.get("id"), ""))
            url = fill(path, local, keys)
            r = c.call(method.upper(), url, json=rule_body if method == "put" else None)
            assert r.status_code == 404, f"{who}: {method} {url} -> {r.status_code}: {r.text}"
            assert r.json()["error"]["code"] == "not_found"
        # Naming acme as the project is answered like a project that does not exist.
        for path in ("/api/v1/traces", f"/api/v1/traces/{ids['trace']}", "/api/v1/findings"):
            r = c.call("GET", path, headers={"x-spyglass-project": "acme"})
            assert r.status_code == 404, f"{who}: {path} as acme -> {r.status_code}"
            r = c.call("GET", path, params={"project": "acme"})
            assert r.status_code == 404, f"{who}: {path}?project=acme -> {r.status_code}"
    member = callers["globex member"]
    assert member.call("DELETE", f"/api/v1/keys/{keys['acme']['ingest_id']}").status_code == 403
    assert member.call("DELETE", f"/api/v1/users/{ids['user']}").status_code == 403

    # Lists in globex show none of acme's data.
    c = callers["globex admin key"]
    for path in ("/api/v1/traces", "/api/v1/sessions", "/api/v1/findings", "/api/v1/agents", "/api/v1/topology",
                 "/api/v1/alerts/rules", "/api/v1/keys", "/api/v1/facets"):
        body = c.ok("GET", path, params={"from": "1h"} if "rules" not in path and "keys" not in path
                    and "audit" not in path else None)
        text = str(body)
        for v in (ids["trace"], ids["session"], ids["agent"], ids["rule"], keys["acme"]["ingest_id"], ids["user"]):
            assert v not in text, f"{path} shows acme's {v}"
    # Globex's audit log records the attempts, as globex's.
    assert {e["project_id"] for e in c.ok("GET", "/api/v1/audit")} == {"globex"}

    # Nothing of acme's was deleted by the attempts.
    acme = Client(srv, keys["acme"]["admin"])
    wait_trace(acme, ids["trace"])
    acme.ok("GET", f"/api/v1/sessions/{ids['session']}")
    acme.ok("GET", f"/api/v1/alerts/rules/{ids['rule']}")
    assert export_status(srv, keys["acme"]["ingest"], "http") == 200
    assert any(f["trace_id"] == ids["trace"] for f in acme.ok("GET", "/api/v1/findings", params={"from": "1h"})["items"])


def test_an_ingest_key_cannot_read_and_a_read_key_cannot_write(two_tenants):
    srv, _, keys, ids = two_tenants
    ingest = Client(srv, keys["acme"]["ingest"])
    reader = Client(srv, keys["acme"]["read"])
    gets = sorted(p for m, p in spec_routes(srv) if m == "get" and p.startswith("/api/v1/")
                  and p not in ("/api/v1/auth/me", "/api/v1/projects"))
    assert len(gets) > 25
    for p in gets:
        r = ingest.call("GET", fill(p, dict(ids, id=ids["rule"]), keys))
        assert r.status_code == 403, f"ingest key GET {p} -> {r.status_code}: {r.text}"
    # The read key reads, and cannot send spans or change anything.
    reader.ok("GET", f"/api/v1/traces/{ids['trace']}")
    assert export_status(srv, keys["acme"]["read"], "http") == 403
    assert export_status(srv, keys["acme"]["read"], "grpc") == grpc.StatusCode.PERMISSION_DENIED
    writes = [
        ("POST", "/api/v1/alerts/rules", {"template": "error_rate", "param": 0.5, "name": "x"}),
        ("DELETE", f"/api/v1/traces/{ids['trace']}", None),
        ("PUT", "/api/v1/prices/overrides", {"models": {}}),
        ("POST", "/api/v1/keys", {"name": "k", "scope": "admin"}),
        ("POST", "/api/v1/guard/check", {"text": "hi", "direction": "input"}),
    ]
    for method, path, body in writes:
        r = reader.call(method, path, json=body)
        assert r.status_code == 403, f"read key {method} {path} -> {r.status_code}: {r.text}"
    # The ingest key may ask the guard (the SDK does, with the key it sends spans with).
    assert ingest.call("POST", "/api/v1/guard/check", json={"text": "hi", "direction": "input"}).status_code == 200
    # The live stream needs a read key too.
    ws_url = srv.api.replace("http", "ws") + "/api/v1/live"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url, header=[f"authorization: Bearer {keys['acme']['ingest']}"], timeout=5)
    assert e.value.status_code == 403
    ws = websocket.create_connection(ws_url, header=[f"authorization: Bearer {keys['acme']['read']}"], timeout=5)
    ws.close()


def test_roles_viewer_member_admin(two_tenants):
    srv, adm, keys, ids = two_tenants
    for name, role in (("viewer", "viewer"), ("member", "member"), ("padmin", "admin")):
        adm.ok("POST", "/api/v1/accounts", 201,
               json={"username": f"acme-{name}", "password": f"acme-{name}-password", "roles": {"acme": role}})
    viewer = Client(srv).login("acme-viewer", "acme-viewer-password")
    member = Client(srv).login("acme-member", "acme-member-password")
    padmin = Client(srv).login("acme-padmin", "acme-padmin-password")
    rule = {"template": "error_rate", "param": 0.9, "name": "r"}
    # Without naming a project, a user works in the first project they have a role in.
    viewer.ok("GET", f"/api/v1/traces/{ids['trace']}")
    assert viewer.call("POST", "/api/v1/keys", json={"name": "v", "scope": "read"}).status_code == 403
    assert viewer.call("POST", "/api/v1/alerts/rules", json=rule).status_code == 403
    assert viewer.call("GET", "/api/v1/keys").status_code == 403
    member.ok("POST", "/api/v1/alerts/rules", 201, json=rule)
    assert member.call("POST", "/api/v1/keys", json={"name": "m", "scope": "read"}).status_code == 403
    assert member.call("GET", "/api/v1/audit").status_code == 403
    created = padmin.ok("POST", "/api/v1/keys", 201, json={"name": "p", "scope": "read"})
    assert created["project_id"] == "acme"
    padmin.ok("GET", "/api/v1/audit")
    # Only server admins manage projects and accounts, and read the server log.
    for c in (viewer, member, padmin):
        assert c.call("POST", "/api/v1/projects", json={"id": "nope"}).status_code == 403
        assert c.call("GET", "/api/v1/accounts").status_code == 403
        assert c.call("DELETE", "/api/v1/projects/globex").status_code == 403
        assert c.call("GET", "/api/v1/logs").status_code == 403
    # Each sees only their own projects.
    assert [p["id"] for p in viewer.ok("GET", "/api/v1/projects")] == ["acme"]
    me = viewer.ok("GET", "/api/v1/auth/me")
    assert me["mode"] == "secured" and me["username"] == "acme-viewer" and not me["admin"]
    # The audit log names who did what.
    actions = {(e["action"], e["actor"]) for e in padmin.ok("GET", "/api/v1/audit")}
    assert ("key.create", "user:acme-padmin") in actions
    assert ("alert.rule.create", "user:acme-member") in actions or \
        any(a[1] == "user:acme-member" for a in actions), actions


def test_revoked_keys_stop_at_once_and_stay_revoked_after_a_restart(fresh_server):
    srv = secured(fresh_server)
    adm = admin(srv)
    keys = make_project(adm, "initech")
    reader = Client(srv, keys["read"])
    assert export_status(srv, keys["ingest"], "http") == 200
    assert export_status(srv, keys["ingest"], "grpc") == grpc.StatusCode.OK
    reader.ok("GET", "/api/v1/traces")
    a = Client(srv, keys["admin"])
    for kid in (keys["ingest_id"], keys["read_id"]):
        assert a.ok("DELETE", f"/api/v1/keys/{kid}")["revoked_ns"] > 0
    # The very next request is refused.
    assert export_status(srv, keys["ingest"], "http") == 401
    assert export_status(srv, keys["ingest"], "grpc") == grpc.StatusCode.UNAUTHENTICATED
    r = reader.call("GET", "/api/v1/traces")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    listed = {k["id"]: k for k in a.ok("GET", "/api/v1/keys")}
    assert listed[keys["ingest_id"]]["revoked_ns"] and not listed[keys["admin_id"]]["revoked_ns"]
    # No key is stored, only salted digests: the data directory never contains one.
    srv.stop()
    blob = b"".join(p.read_bytes() for p in pathlib.Path(srv.data_dir).rglob("*") if p.is_file())
    for scope in ("ingest", "read", "admin"):
        assert keys[scope].encode() not in blob
        assert keys[scope][-32:].encode() not in blob
    assert ADMIN_PASSWORD.encode() not in blob
    srv.start()
    assert export_status(srv, keys["ingest"], "http") == 401
    Client(srv, keys["admin"]).ok("GET", "/api/v1/keys")
    # Sessions survive a restart too.
    adm.ok("GET", "/api/v1/auth/me")


def test_sign_in_sessions_csrf_and_origin(fresh_server):
    srv = secured(fresh_server)
    r = requests.get(f"{srv.api}/api/v1/traces", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert requests.get(f"{srv.api}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{srv.api}/", timeout=10).status_code == 200, "the dashboard loads to show its sign-in"
    bad = requests.post(f"{srv.api}/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
    assert bad.status_code == 401
    nobody = requests.post(f"{srv.api}/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert nobody.status_code == 401 and nobody.json() == bad.json()
    # A form post cannot sign in (no CORS-free cross-site JSON).
    form = requests.post(f"{srv.api}/api/v1/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert form.status_code in (400, 415)

    c = Client(srv)
    r = c.s.post(f"{srv.api}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    csrf = r.json()["csrf_token"]
    # A change without the CSRF token, or with another, is refused; reads need none.
    assert c.call("POST", "/api/v1/projects", json={"id": "p1"}).status_code == 403
    assert c.call("POST", "/api/v1/projects", json={"id": "p1"}, headers={"x-csrf-token": "0" * 32}).status_code == 403
    assert c.call("GET", "/api/v1/projects").status_code == 200
    assert c.call("POST", "/api/v1/projects", json={"id": "p1"}, headers={"x-csrf-token": csrf}).status_code == 201
    # Another site's page cannot use the cookie, even for a read (WebSocket hijacking).
    r = c.call("GET", "/api/v1/traces", headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert c.call("GET", "/api/v1/traces", headers={"origin": srv.api}).status_code == 200
    # Behind a proxy that rewrites Host, the forwarded host is the browser's.
    assert c.call("GET", "/api/v1/traces", headers={"origin": "https://spyglass.example",
                                                     "x-forwarded-host": "spyglass.example"}).status_code == 200
    # Signing out ends the session for good.
    assert c.call("POST", "/api/v1/auth/logout", headers={"x-csrf-token": csrf}).status_code == 204
    c.s.cookies.clear()
    c.s.headers["cookie"] = cookie.split(";")[0]
    assert c.call("GET", "/api/v1/projects").status_code == 401

    # Changing a password signs out the other sessions and keeps this one.
    adm = admin(srv)
    other = admin(srv)
    adm.ok("PUT", "/api/v1/auth/password", 204,
           json={"current_password": ADMIN_PASSWORD, "new_password": "a-new-admin-password"})
    adm.ok("GET", "/api/v1/auth/me")
    assert other.call("GET", "/api/v1/auth/me").status_code == 401
    bad = adm.call("PUT", "/api/v1/auth/password", json={"current_password": "wrong", "new_password": "x" * 20})
    assert bad.status_code == 401
    # The last server admin stays.
    me = adm.ok("GET", "/api/v1/auth/me")
    assert adm.call("DELETE", f"/api/v1/accounts/{me['user_id']}").status_code == 409


def test_rate_limits_answer_429_with_retry_after(fresh_server):
    srv = secured(fresh_server, SPYGLASS_AUTH__RATE_LIMIT_PER_SECOND="0.5", SPYGLASS_AUTH__RATE_LIMIT_BURST="8",
                  SPYGLASS_AUTH__LOGINS_PER_MINUTE="3")
    adm = admin(srv)
    keys = make_project(adm, "hooli")
    reader = Client(srv, keys["read"])
    codes = [reader.call("GET", "/api/v1/traces").status_code for _ in range(10)]
    assert codes[:8] == [200] * 8 and codes[8:] == [429, 429], codes
    r = reader.call("GET", "/api/v1/traces")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "rate_limited"
    # Each key has its own bucket; OTLP is limited the same way.
    statuses = [export_status(srv, keys["ingest"], "http") for _ in range(10)]
    assert statuses[:8] == [200] * 8 and 429 in statuses[8:], statuses
    assert export_status(srv, keys["ingest"], "grpc") == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Password guessing is slowed per username.
    tries = [requests.post(f"{srv.api}/api/v1/auth/login", json={"username": "victim", "password": "guess"}).status_code
             for _ in range(5)]
    assert tries[:2] == [401, 401] and tries[-1] == 429, tries
    assert srv.alive()


def test_local_mode_is_unchanged_and_manages_nothing(fresh_server):
    srv = fresh_server().start()
    me = srv.get_json("/api/v1/auth/me")
    assert me["mode"] == "local" and me["kind"] == "local" and me["admin"]
    assert [p["id"] for p in me["projects"]] == ["default"]
    for path, body in (("/api/v1/keys", {"name": "k", "scope": "ingest"}), ("/api/v1/projects", {"id": "p"}),
                       ("/api/v1/accounts", {"username": "u", "password": "long-enough-password"})):
        r = requests.post(f"{srv.api}{path}", json=body, timeout=10)
        assert r.status_code == 409 and "enabled = true" in r.json()["error"]["message"], (path, r.text)
    # Nothing was created that would switch authentication on at the next start.
    srv.stop()
    srv.start()
    assert srv.get_json("/api/v1/auth/me")["mode"] == "local"
    assert export_status(srv, None, "http") == 200
    # Another project does not exist in local mode.
    assert requests.get(f"{srv.api}/api/v1/traces", headers={"x-spyglass-project": "other"}).status_code == 404


def test_generated_first_admin_password_is_written_for_the_owner_only(fresh_server):
    srv = fresh_server(env={"SPYGLASS_AUTH__ENABLED": "true"}).start()
    f = pathlib.Path(srv.data_dir) / "initial-admin-password"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    password = f.read_text().strip()
    assert len(password) >= 20
    Client(srv).login("admin", password)
    assert password not in srv.logs()


def test_deleting_a_project_deletes_its_data_and_keys(two_tenants):
    srv, adm, _, _ = two_tenants
    keys = make_project(adm, "umbrella")
    t = send(srv, keys["ingest"], via="grpc")
    wait_trace(Client(srv, keys["read"]), t)
    report = adm.ok("DELETE", "/api/v1/projects/umbrella")
    assert report["traces"] == 1 and report["spans"] == 2
    assert export_status(srv, keys["ingest"], "http") == 401
    assert "umbrella" not in [p["id"] for p in adm.ok("GET", "/api/v1/projects")]
    assert adm.call("DELETE", "/api/v1/projects/default").status_code == 400
    # Created again, it is empty.
    adm.ok("POST", "/api/v1/projects", 201, json={"id": "umbrella"})
    assert adm.call("GET", f"/api/v1/traces/{t}", headers={"x-spyglass-project": "umbrella"}).status_code == 404


def test_cli_manages_projects_keys_and_accounts(fresh_server):
    srv = secured(fresh_server)
    as_admin = {"SPYGLASS_USERNAME": "admin", "SPYGLASS_PASSWORD": ADMIN_PASSWORD}
    srv.cli_env(as_admin, "projects", "create", "wayne", "--name", "Wayne Enterprises")
    assert "wayne" in srv.cli_env(as_admin, "projects", "list").stdout
    made = srv.cli_env(as_admin, "keys", "create", "--project", "wayne", "--name", "deploy", "--scope", "admin")
    admin_key = made.stdout.strip()
    assert admin_key.startswith("sg_admin_") and "shown only now" in made.stderr
    # An admin key manages its own project's keys.
    as_key = {"SPYGLASS_API_KEY": admin_key}
    ingest = srv.cli_env(as_key, "keys", "create", "--name", "agents", "--scope", "ingest").stdout.strip()
    listed = srv.cli_env(as_key, "keys", "list").stdout
    assert ingest[:18] in listed and ingest not in listed and admin_key not in listed
    sent = send(srv, ingest, via="grpc")
    kid = ingest[len("sg_ingest_"):len("sg_ingest_") + 8]
    assert "revoked" in srv.cli_env(as_key, "keys", "revoke", kid).stdout
    assert export_status(srv, ingest, "grpc") == grpc.StatusCode.UNAUTHENTICATED
    # Traces read with the key see the project's trace.
    assert sent in srv.cli_env(as_key, "traces", "list", "--since", "1h").stdout
    # Accounts: created with a role; the password comes from the environment only.
    srv.cli_env({**as_admin, "SPYGLASS_NEW_PASSWORD": "robin-password-1"}, "accounts", "create", "robin",
                "--role", "wayne=viewer")
    accounts = srv.cli_env(as_admin, "accounts", "list", "--json").stdout
    assert '"wayne": "viewer"' in accounts and "robin-password-1" not in accounts
    viewer = {"SPYGLASS_USERNAME": "robin", "SPYGLASS_PASSWORD": "robin-password-1"}
    denied = srv.cli_env(viewer, "keys", "create", "--name", "x", "--scope", "read", check=False)
    assert denied.returncode != 0 and "403" in denied.stderr
    wrong = srv.cli_env({"SPYGLASS_USERNAME": "robin", "SPYGLASS_PASSWORD": "nope-nope-nope"}, "projects", "list",
                        check=False)
    assert wrong.returncode != 0 and "401" in wrong.stderr
