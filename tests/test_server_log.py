"""The server's own log, live, over WebSocket `/api/v1/logs`: a new subscriber gets the recent
entries (the startup lines among them), then new entries as they are logged; `?level=` keeps
that level and the more severe ones; secrets written into logged text never reach a
subscriber; an unknown level is a 400."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

import otlp
from conftest import Server
from otlp import PROTOBUF, new_span_id, new_trace_id, span

# Shaped like the credentials the server masks: a Spyglass API key, a bearer token, a password.
API_KEY = "sg_ingest_" + "ABCDEFGHIJKLMNOPQRSTUV123"
BEARER = "eyJhbGciOiJIUzI1NiJ9." + "bG9nLXN0cmVhbS10ZXN0" + ".c2lnbmF0dXJlLWxvZ3M"
PASSWORD = "hunter2-" + "Log-Stream-Horse"
SECRETS = {"api_key": API_KEY, "bearer": BEARER, "password": PASSWORD}
# What must not show either: the distinctive tail of each secret on its own.
FRAGMENTS = ["QRSTUV123", "bG9nLXN0cmVhbS10ZXN0", "Log-Stream-Horse"]

LEVELS = ["error", "warn", "info", "debug", "trace"]
ENTRY_KEYS = {"time_ns", "time", "level", "target", "message", "fields"}

# Sent with every request; empty while the server runs in open local mode. Admin credentials
# go here once the route requires them.
AUTH: dict[str, str] = {}

# An exporter that always fails at once, so sending a span produces a warning.
FORWARD_CONFIG = (
    "[[forward.exporters]]\n"
    "name = \"unreachable\"\n"
    "endpoint = \"http://127.0.0.1:9/v1/traces\"\n"
    "protocol = \"http\"\n"
    "max_attempts = 1\n"
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("server-log")
    cfg = root / "spyglass.toml"
    cfg.write_text(FORWARD_CONFIG)
    s = Server(root / "data", ["--config", str(cfg)]).start()
    yield s
    s.stop()


class LogStream:
    """One subscriber: every message received is kept, raw and parsed."""

    def __init__(self, srv: Server, query: str = ""):
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{srv.api_port}/api/v1/logs{query}", timeout=10,
                                              header=[f"{k}: {v}" for k, v in AUTH.items()])
        self.raw: list[str] = []
        self.messages: list[dict] = []
        self.hello = self._recv()
        assert self.hello["type"] == "hello", self.hello

    def _recv(self) -> dict:
        text = self.ws.recv()
        self.raw.append(text)
        msg = json.loads(text)
        self.messages.append(msg)
        return msg

    def entries(self) -> list[dict]:
        """Every entry so far: the hello's, then the streamed ones."""
        out = list(self.hello["entries"])
        out += [m["entry"] for m in self.messages[1:] if m["type"] == "entry"]
        return out

    def until(self, check, timeout: float = 30.0, what: str = "an entry") -> dict:
        """Reads until an entry satisfies `check` (already received ones count too)."""
        for e in self.entries():
            if check(e):
                return e
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.time()))
            try:
                msg = self._recv()
            except websocket.WebSocketTimeoutException:
                break
            if msg["type"] == "entry" and check(msg["entry"]):
                return msg["entry"]
        raise AssertionError(f"no {what} within {timeout}s; got {self.messages[1:]}")

    def drain(self, quiet: float = 1.5) -> None:
        """Reads until nothing has arrived for `quiet` seconds."""
        self.ws.settimeout(quiet)
        while True:
            try:
                self._recv()
            except websocket.WebSocketTimeoutException:
                return

    def close(self) -> None:
        self.ws.close()


def create_rule(srv: Server, name: str) -> None:
    """Creating an alert rule logs `alert rule created` at info with the rule's name."""
    r = requests.post(f"{srv.api}/api/v1/alerts/rules", json={"template": "no_data", "name": name}, headers=AUTH,
                      timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["rule"]["name"] == name


def rule_created(marker: str):
    return lambda e: e["message"] == "alert rule created" and marker in e["fields"].get("name", "")


def send_span(srv: Server, headers: dict | None = None) -> None:
    """A span the failing exporter cannot forward: a warning a moment later."""
    req = otlp.request([span(new_trace_id(), new_span_id(), "log probe")], otlp.unique("serverlog"))
    r = otlp.post(srv, req.SerializeToString(), PROTOBUF, headers={**AUTH, **(headers or {})})
    assert r.status_code == 200, r.text


def export_failed(e: dict) -> bool:
    return e["level"] == "warn" and e["message"] == "export failed; dropped the batch"


def test_a_new_subscriber_gets_the_recent_log_first(srv):
    stream = LogStream(srv)
    try:
        entries = stream.hello["entries"]
        assert 0 < len(entries) <= 100
        for e in entries:
            assert set(e) == ENTRY_KEYS, e
            assert e["level"] in LEVELS, e
            assert isinstance(e["time_ns"], int) and e["time"].endswith("Z"), e
            assert all(isinstance(v, str) for v in e["fields"].values()), e
        assert [e["time_ns"] for e in entries] == sorted(e["time_ns"] for e in entries)
        # Logged before the API listens, so always in the backlog.
        assert "engine ready" in [e["message"] for e in entries], entries
        # Logged just after the API starts listening: in the backlog, or streamed right after it.
        running = stream.until(lambda e: e["message"] == "Spyglass is running", timeout=10,
                               what="'Spyglass is running' entry")
        assert running["level"] == "info" and running["target"].startswith("spyglass"), running
        assert str(srv.api_port) in running["fields"]["api"], running
        # Only info and above are kept by default.
        assert {e["level"] for e in entries} <= {"error", "warn", "info"}
    finally:
        stream.close()


def test_new_entries_stream_with_secrets_masked(srv):
    stream = LogStream(srv)
    try:
        marker = otlp.unique("leaky")
        # The rule's name goes into the log line as a field; it carries all three secrets.
        create_rule(srv, f"{marker} Bearer {BEARER} key {API_KEY} password={PASSWORD}")
        entry = stream.until(rule_created(marker), what="'alert rule created' entry")
        assert entry["level"] == "info"
        assert entry["fields"]["name"].startswith(f"{marker} Bearer [redacted]"), entry
        assert entry["fields"]["name"].count("[redacted]") == 3, entry
        # Secrets in request headers, through a path that logs (the exporter's warning).
        send_span(srv, headers={"Authorization": f"Bearer {API_KEY}", "X-API-Key": API_KEY,
                                "Cookie": f"session={BEARER}"})
        stream.until(export_failed, what="forwarding warning")
        stream.drain()
        # A later subscriber gets the same entry, masked, in its hello.
        later = LogStream(srv)
        later.close()
        assert any(rule_created(marker)(e) for e in later.hello["entries"])
        for text in stream.raw + later.raw:
            leaked = [name for name, v in SECRETS.items() if v in text] + [f for f in FRAGMENTS if f in text]
            assert not leaked, f"secrets {leaked} in {text}"
    finally:
        stream.close()


def test_the_level_filter_keeps_that_level_and_above(srv):
    everything, warn, error = LogStream(srv), LogStream(srv, "?level=warn"), LogStream(srv, "?level=ERROR")
    try:
        assert {e["level"] for e in warn.hello["entries"]} <= {"warn", "error"}
        assert {e["level"] for e in error.hello["entries"]} <= {"error"}
        assert any(e["level"] == "info" for e in everything.hello["entries"])
        # An info line and a warning, logged after all three subscribed.
        marker = otlp.unique("level-probe")
        create_rule(srv, marker)
        send_span(srv)
        everything.until(rule_created(marker), what="info entry")
        since = max((e["time_ns"] for e in everything.hello["entries"]), default=0)
        warned = everything.until(lambda e: export_failed(e) and e["time_ns"] > since, what="warning entry")
        warn.until(lambda e: export_failed(e) and e["time_ns"] == warned["time_ns"], what="warning on ?level=warn")
        for s in (warn, error):
            s.drain()
        assert {e["level"] for e in warn.entries()} <= {"warn", "error"}, warn.entries()
        assert not [e for e in warn.entries() if rule_created(marker)(e)]
        assert {e["level"] for e in error.entries()} <= {"error"}, error.entries()
        assert all(m["type"] in ("hello", "entry", "lagged") for s in (everything, warn, error) for m in s.messages)
    finally:
        for s in (everything, warn, error):
            s.close()


@pytest.mark.parametrize("query", ["level=loud", "level=", "lvl=warn"])
def test_a_bad_level_is_a_400(srv, query):
    r = requests.get(f"{srv.api}/api/v1/logs?{query}", timeout=10, headers={
        **AUTH, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(f"ws://127.0.0.1:{srv.api_port}/api/v1/logs?{query}", timeout=10,
                                    header=[f"{k}: {v}" for k, v in AUTH.items()])
    assert err.value.status_code == 400


def test_the_endpoint_is_in_the_openapi_spec(srv):
    op = srv.get_json("/api/openapi.json")["paths"]["/api/v1/logs"]["get"]
    assert "ops" in op["tags"]
    assert "level" in {p["name"] for p in op["parameters"]}
