"""Scale-out: the ingest, processor and api roles as separate processes, with a real Redis
(Debian's redis-server, AOF on, fsync always) between them and the real ClickHouse engine
(tests/chdb_server.py over chDB, or the server SPYGLASS_TEST_CLICKHOUSE_URL names) as the
store. Spans go in through the official OpenTelemetry exporters and come back through the API.

Fault tests stop Redis during a send, stop ClickHouse while spans flow and kill a processor
mid-batch; each ends with every acknowledged span present exactly once: once in its trace,
counted once in its summary, and once in the rollups.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
import websocket
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otlp
from conftest import Server, free_port

REPO = pathlib.Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("SPYGLASS_REQUIRE_SCALEOUT") == "1"


def need(what: str, ok: bool):
    if not ok:
        if REQUIRE:
            pytest.fail(f"{what} is required (SPYGLASS_REQUIRE_SCALEOUT=1)")
        pytest.skip(f"{what} is not installed")


def wait_port(port: int, timeout: float = 20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port} after {timeout}s")


class Redis:
    """A redis-server of the test's own; restarts keep its AOF."""

    def __init__(self, root: pathlib.Path):
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "Redis":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()


class ClickHouse:
    """tests/chdb_server.py on a fixed port and data directory, so a restart is the same server."""

    def __init__(self, root: pathlib.Path):
        self.external = os.environ.get("SPYGLASS_TEST_CLICKHOUSE_URL")
        self.dir = root / "clickhouse"
        self.port = free_port()
        self.proc = None
        self.database = f"sg_{uuid.uuid4().hex[:8]}"

    @property
    def url(self) -> str:
        base = self.external.rstrip("/") if self.external else f"http://127.0.0.1:{self.port}"
        return f"{base}/{self.database}"

    def start(self) -> "ClickHouse":
        if self.external:
            return self
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "chdb_server.py"), "--port", str(self.port),
             "--data", str(self.dir)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("LISTENING"), f"chdb_server did not start: {line!r}"
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path, fresh_server):
    need("redis-server", shutil.which("redis-server") is not None)
    if not os.environ.get("SPYGLASS_TEST_CLICKHOUSE_URL"):
        try:
            import chdb  # noqa: F401
        except ImportError:
            need("chdb (or SPYGLASS_TEST_CLICKHOUSE_URL)", False)
    c = Cluster(tmp_path, fresh_server)
    yield c
    c.close()


class Cluster:
    def __init__(self, root: pathlib.Path, fresh_server):
        self.root = root
        self.fresh_server = fresh_server
        self.redis = Redis(root).start()
        self.ch = ClickHouse(root).start()
        self.n = 0

    def role(self, role: str, via_env: bool = False, **env) -> Server:
        """A process of `role`, told its role, store and queue by flags, or (`via_env`) by the
        SPYGLASS_ROLE/STORE/QUEUE variables the deploy/ files use."""
        self.n += 1
        where = {"role": role, "store": self.ch.url, "queue": self.redis.url}
        args = [] if via_env else [a for k, v in where.items() for a in (f"--{k}", v)]
        if via_env:
            env.update({f"SPYGLASS_{k.upper()}": v for k, v in where.items()})
        srv = self.fresh_server(
            extra_args=args,
            env={"SPYGLASS_QUEUE__PARTITIONS": "4", "SPYGLASS_QUEUE__LEASE_MS": "2000",
                 "SPYGLASS_QUEUE__BLOCK_MS": "200", "SPYGLASS_QUEUE__ENQUEUE_TIMEOUT_MS": "1000",
                 "SPYGLASS_RETENTION__DAYS": "0", **env},
            data_dir=self.root / f"{role}{self.n}")
        return srv.start()

    def close(self):
        self.redis.stop()
        self.ch.stop()


def tracer(exporter, service: str):
    rec = otlp.Recording(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(rec, max_export_batch_size=100, schedule_delay_millis=20))
    return provider, provider.get_tracer("spyglass.tests.scaleout"), rec


def agent_runs(tracer, n: int, prefix: str, children: int = 3, pause: float = 0.0):
    for i in range(n):
        with tracer.start_as_current_span(f"{prefix}-agent-{i}", attributes={"gen_ai.agent.name": "planner"}):
            for c in range(children):
                with tracer.start_as_current_span(
                        f"{prefix}-llm-{i}-{c}", kind=otel_trace.SpanKind.CLIENT,
                        attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
                                    "gen_ai.usage.output_tokens": 5}):
                    pass
        if pause:
            time.sleep(pause)


def check_exactly_once(api: Server, acked: list, service: str, timeout: float = 60.0):
    """Every acknowledged span is in its trace once, summaries count each once, and so do the
    rollups."""
    by_trace: dict[str, set[str]] = {}
    for s in acked:
        by_trace.setdefault(format(s.context.trace_id, "032x"), set()).add(format(s.context.span_id, "016x"))
    deadline = time.time() + timeout
    pending = dict(by_trace)
    while pending and time.time() < deadline:
        for tid, want in list(pending.items()):
            r = api.get(f"/api/v1/traces/{tid}")
            if r.status_code == 200 and len(r.json()["spans"]) >= len(want):
                del pending[tid]
        if pending:
            time.sleep(0.3)
    assert not pending, f"{len(pending)} of {len(by_trace)} traces incomplete after {timeout}s:\n{api.logs()}"
    for tid, want in by_trace.items():
        t = api.trace(tid)
        got = [s["span_id"] for s in t["spans"]]
        assert sorted(got) == sorted(want), (tid, len(got), len(want))
        assert t["trace"]["span_count"] == len(want)
    total = sum(len(v) for v in by_trace.values())
    # Rollups are eventually merged by ClickHouse; the sums are exact at any time.
    ts = api.get_json("/api/v1/analytics/timeseries", metric="count", service=service, interval="1h",
                      **{"from": "6h"})
    counted = sum(p["value"] or 0 for s in ts["series"] for p in s["points"])
    assert counted == total, (counted, total)


def test_roles_end_to_end_with_both_exporters_and_live(cluster):
    processors = [cluster.role("processor"), cluster.role("processor")]
    ingest = cluster.role("ingest")
    api = cluster.role("api", via_env=True)

    # Each role serves what it is for.
    assert ingest.get("/api/v1/traces").status_code == 404
    assert processors[0].get("/api/v1/traces").status_code == 404
    for srv in (*processors, ingest, api):
        assert srv.get("/readyz").status_code == 200
        assert srv.get("/healthz").status_code == 200
    assert "spyglass_queue" in ingest.get("/metrics").text

    service = otlp.unique("scaleout")
    live = websocket.create_connection(f"ws://127.0.0.1:{api.api_port}/api/v1/live?service={service}", timeout=10)
    assert json.loads(live.recv())["type"] == "subscribed"

    http_provider, http_tracer, http_rec = tracer(HttpExporter(endpoint=f"{ingest.otlp_http}/v1/traces"), service)
    grpc_provider, grpc_tracer, grpc_rec = tracer(GrpcExporter(endpoint=ingest.otlp_grpc, insecure=True), service)
    agent_runs(http_tracer, 20, "http")
    agent_runs(grpc_tracer, 20, "grpc")
    assert http_provider.force_flush(30000) and grpc_provider.force_flush(30000)
    acked = http_rec.acked + grpc_rec.acked
    assert http_rec.failed == 0 and grpc_rec.failed == 0
    assert len(acked) == 40 * 4

    check_exactly_once(api, acked, service)
    t = api.trace(format(acked[-1].context.trace_id, "032x"))
    llm = [s for s in t["spans"] if s["kind"] == "llm"]
    assert llm and all(s["model"] == "gpt-4o" and s["cost_usd"] > 0 for s in llm), llm[:1]
    assert t["trace"]["tokens"]["input"] == 30

    # The live view of the api role sees what the processors committed.
    seen = set()
    deadline = time.time() + 15
    while len(seen) < len(acked) and time.time() < deadline:
        live.settimeout(max(0.1, deadline - time.time()))
        try:
            msg = json.loads(live.recv())
        except websocket.WebSocketTimeoutException:
            break
        if msg["type"] == "spans":
            seen.update(s["span_id"] for s in msg["spans"])
    live.close()
    assert len(seen) == len(acked), (len(seen), len(acked))
    http_provider.shutdown()
    grpc_provider.shutdown()


def refused(srv: Server) -> float:
    """Requests the ingest role refused because the queue was unavailable."""
    for line in srv.get("/metrics").text.splitlines():
        if line.startswith("spyglass_queue_enqueue_unavailable_total"):
            return float(line.split()[-1])
    raise AssertionError("no spyglass_queue_enqueue_unavailable_total metric")


def test_redis_down_means_503_then_recovery_and_nothing_lost(cluster):
    cluster.role("processor")
    ingest = cluster.role("ingest")
    api = cluster.role("api")
    service = otlp.unique("redis-down")

    cluster.redis.stop()
    # Straight from the receiver: 503 with Retry-After, within the enqueue timeout.
    tid, ids, req = otlp.simple_trace(service, n=2, name="while-down")
    started = time.time()
    r = requests.post(f"{ingest.otlp_http}/v1/traces", data=req.SerializeToString(),
                      headers={"Content-Type": otlp.PROTOBUF}, timeout=30)
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert time.time() - started < 10
    assert ingest.get("/readyz").status_code == 503

    # The SDK keeps sending: its exporter is refused (503) and retries until Redis is back.
    refused_before = refused(ingest)
    provider, tr, rec = tracer(HttpExporter(endpoint=f"{ingest.otlp_http}/v1/traces", timeout=60), service)
    sender = threading.Thread(target=agent_runs, args=(tr, 30, "outage"), kwargs={"pause": 0.05})
    sender.start()
    time.sleep(2)
    assert refused(ingest) > refused_before, "the exporter was never refused while Redis was down"
    cluster.redis.start()
    sender.join()
    assert provider.force_flush(60000)
    assert rec.failed == 0, rec.failed
    assert len(rec.acked) == 30 * 4
    check_exactly_once(api, rec.acked, service)
    provider.shutdown()


def test_clickhouse_down_spans_wait_in_the_stream_then_arrive(cluster):
    if cluster.ch.external:
        pytest.skip("stops the ClickHouse test server; a real server is not ours to stop")
    cluster.role("processor")
    ingest = cluster.role("ingest")
    service = otlp.unique("ch-down")
    provider, tr, rec = tracer(HttpExporter(endpoint=f"{ingest.otlp_http}/v1/traces"), service)
    agent_runs(tr, 5, "before")
    assert provider.force_flush(30000)

    cluster.ch.stop()
    # Ingest still acknowledges: the spans are in Redis, waiting.
    agent_runs(tr, 25, "during", pause=0.02)
    assert provider.force_flush(30000)
    assert rec.failed == 0 and len(rec.acked) == 30 * 4
    time.sleep(1.5)
    pending = sum(int(cluster.redis.cli("XLEN", f"spyglass:spans:{p}") or 0) for p in range(4))
    assert pending > 0, "nothing waited in the streams while ClickHouse was down"

    cluster.ch.start()
    api = cluster.role("api")
    check_exactly_once(api, rec.acked, service, timeout=90)
    provider.shutdown()


def test_a_killed_processors_entries_are_reclaimed(cluster):
    victim = cluster.role("processor")
    survivor = cluster.role("processor")
    ingest = cluster.role("ingest")
    api = cluster.role("api")
    service = otlp.unique("kill-processor")
    provider, tr, rec = tracer(HttpExporter(endpoint=f"{ingest.otlp_http}/v1/traces"), service)
    sender = threading.Thread(target=agent_runs, args=(tr, 60, "kill"), kwargs={"pause": 0.02})
    sender.start()
    time.sleep(1.0)
    victim.kill9()
    sender.join()
    assert provider.force_flush(30000)
    assert rec.failed == 0 and len(rec.acked) == 60 * 4
    check_exactly_once(api, rec.acked, service, timeout=90)
    m = survivor.get("/metrics").text
    assert survivor.alive()
    provider.shutdown()
    # The survivor took over partitions the victim held.
    owned = [line for line in m.splitlines() if line.startswith("spyglass_queue_partitions_owned")]
    assert owned and float(owned[0].split()[-1]) == 4, owned


def test_keys_made_on_the_api_role_reach_the_ingest_role(cluster):
    """The roles share projects, keys and sessions through ClickHouse: a key created or revoked
    through an api role is taken or refused by an ingest role within seconds, without a
    restart; only the api role creates the first admin."""
    secured = {"SPYGLASS_AUTH__ENABLED": "true", "SPYGLASS_AUTH__ADMIN_PASSWORD": "scale-out-admin-pw"}
    api = cluster.role("api", **secured)
    cluster.role("processor", **secured)
    ingest = cluster.role("ingest", **secured)
    s = requests.Session()
    r = s.post(f"{api.api}/api/v1/auth/login", json={"username": "admin", "password": "scale-out-admin-pw"})
    assert r.status_code == 200, r.text
    s.headers["x-csrf-token"] = r.json()["csrf_token"]
    accounts = s.get(f"{api.api}/api/v1/accounts").json()
    assert [a["username"] for a in accounts if a["admin"]] == ["admin"], accounts

    tid, ids, req = otlp.simple_trace(otlp.unique("keys"), n=2, name="keyed")
    body = req.SerializeToString()

    def post(key):
        return requests.post(f"{ingest.otlp_http}/v1/traces", data=body, timeout=30,
                             headers={"Content-Type": otlp.PROTOBUF, "Authorization": f"Bearer {key}"})

    assert post("sg_ingest_nope").status_code == 401
    created = s.post(f"{api.api}/api/v1/keys", json={"name": "ingest", "scope": "ingest"},
                     headers={"x-spyglass-project": "default"})
    assert created.status_code == 201, created.text
    key, kid = created.json()["key"], created.json()["id"]
    deadline = time.time() + 15
    while (code := post(key).status_code) != 200 and time.time() < deadline:
        assert code == 401, code
        time.sleep(0.5)
    assert code == 200, "the ingest role never accepted a key made on the api role"
    got = s.get(f"{api.api}/api/v1/traces/{tid}", headers={"x-spyglass-project": "default"})
    deadline = time.time() + 30
    while got.status_code != 200 and time.time() < deadline:
        time.sleep(0.3)
        got = s.get(f"{api.api}/api/v1/traces/{tid}", headers={"x-spyglass-project": "default"})
    assert got.status_code == 200 and len(got.json()["spans"]) == 2

    assert s.delete(f"{api.api}/api/v1/keys/{kid}").status_code == 200
    deadline = time.time() + 15
    while (code := post(key).status_code) != 401 and time.time() < deadline:
        time.sleep(0.5)
    assert code == 401, "a key revoked on the api role still works on the ingest role"
