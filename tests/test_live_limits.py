"""Live subscribers are bounded and a slow one never slows ingest: past `max_live_subscribers`
the live endpoint answers 503 with Retry-After; a subscriber that stops reading while spans
pour in is skipped ahead and told how much it missed, and every span is still stored."""

from __future__ import annotations

import json
import socket
import time

import requests
import websocket

import otlp
from otlp import new_span_id, new_trace_id, span


def connect(srv, query: str = "", sockopt: tuple = ()) -> websocket.WebSocket:
    ws = websocket.create_connection(f"ws://127.0.0.1:{srv.api_port}/api/v1/live{query}", timeout=10,
                                     sockopt=sockopt)
    assert json.loads(ws.recv())["type"] == "subscribed"
    return ws


def metric(srv, name: str) -> float:
    for line in srv.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_subscribers_past_the_limit_get_503_with_retry_after(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text("max_live_subscribers = 2\n")
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    a, b = connect(srv), connect(srv)
    r = requests.get(f"{srv.api}/api/v1/live", timeout=10, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5"
    assert "max_live_subscribers" in r.json()["error"]["message"]
    assert metric(srv, "spyglass_live_subscribers") == 2
    assert metric(srv, "spyglass_live_refused_total") == 1
    a.close()
    deadline = time.time() + 5
    while metric(srv, "spyglass_live_subscribers") > 1 and time.time() < deadline:
        time.sleep(0.05)
    c = connect(srv)  # the freed slot is taken again
    b.close()
    c.close()


def test_a_subscriber_that_stops_reading_never_slows_ingest(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text("live_backlog_batches = 8\n")
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    service = otlp.unique("slow-reader")
    # A tiny receive window, set before connecting so the kernel does not grow it.
    stalled = connect(srv, f"?service={service}", sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    sent = []
    started = time.time()
    # ~13 MB of live messages (each span carries a 300-character input preview): more than the
    # socket buffers hold, so the server's sends to the reader stall and the reader falls more
    # than the live backlog behind.
    for i in range(150):
        tid = new_trace_id()
        spans = [span(tid, new_span_id(), f"flood {i} {j}", attrs={"input.value": "x" * 2000}) for j in range(100)]
        otlp.send(srv, otlp.request(spans, service))
        sent.append(tid)
    elapsed = time.time() - started
    assert elapsed < 60, f"ingest took {elapsed:.1f}s with a stalled subscriber"
    for tid in (sent[0], sent[-1]):
        assert len(srv.trace(tid)["spans"]) == 100
    # Reading now: the stream skipped ahead and said so.
    kinds = set()
    stalled.settimeout(10)
    deadline = time.time() + 60
    while time.time() < deadline and "dropped" not in kinds:
        try:
            kinds.add(json.loads(stalled.recv())["type"])
        except websocket.WebSocketTimeoutException:
            break
    stalled.close()
    assert "dropped" in kinds, kinds
