"""Durability: an acknowledged span survives kill -9. The server answers an OTLP request only
after the spans are committed, so every span of every 200 must be readable after a SIGKILL and
a restart on the same data directory, with its fields intact; requests that were still in
flight may or may not have landed, but nothing that was never sent may appear."""

from __future__ import annotations

import random
import signal
import threading

import requests
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otlp
from otlp import STATUS_ERROR, STATUS_OK, new_span_id, new_trace_id, now_ns, span


def restart(fresh_server, srv):
    """A new server process on the same data directory."""
    return fresh_server(data_dir=srv.data_dir).start()


# --- raw OTLP/HTTP senders ------------------------------------------------------------------

class RawSender:
    """Threads that post batches of spans until stopped or the server goes away, recording
    what they sent and what was acknowledged."""

    def __init__(self, srv, service: str, threads: int, traces_per_request: int = 3, spans_per_trace: int = 10):
        self.srv, self.service = srv, service
        self.traces_per_request, self.spans_per_trace = traces_per_request, spans_per_trace
        self.lock = threading.Lock()
        self.sent: dict[str, dict[str, dict]] = {}   # trace id -> span id -> expected fields
        self.acked: dict[str, dict[str, dict]] = {}
        self.acked_spans = 0
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def batch(self, worker: int, n: int):
        spans, expected = [], {}
        base = now_ns() - 3600 * 10**9
        for t in range(self.traces_per_request):
            tid = new_trace_id()
            root = new_span_id()
            root_start = base + random.randrange(10**12)  # traces spread over ~15 minutes
            expected[tid] = {}
            for i in range(self.spans_per_trace):
                sid = root if i == 0 else new_span_id()
                start = root_start + i * 1_000_003
                end = start + (60_000_000 if i == 0 else 1_000_000)
                err = i % 7 == 3
                f = {
                    "name": f"raw-{worker}-{n}-{t}-{i}",
                    "parent_span_id": None if i == 0 else root,
                    "start_ns": start,
                    "end_ns": end,
                    "status": "error" if err else "ok",
                    "status_message": f"failure {worker}-{n}-{i}" if err else None,
                    "model": f"model-{i % 3}",
                    "input_tokens": worker * 100000 + n * 100 + i,
                    "seq": f"{worker}/{n}/{t}/{i}",
                }
                expected[tid][sid] = f
                spans.append(span(
                    tid, sid, f["name"], start, end, parent=f["parent_span_id"],
                    attrs={"gen_ai.request.model": f["model"], "gen_ai.usage.input_tokens": f["input_tokens"],
                           "test.seq": f["seq"]},
                    status=STATUS_ERROR if err else STATUS_OK, status_message=f["status_message"] or "",
                ))
        return otlp.request(spans, self.service), expected

    def run(self, worker: int):
        n = 0
        while not self.stop.is_set():
            req, expected = self.batch(worker, n)
            n += 1
            with self.lock:
                self.sent.update(expected)
            try:
                r = otlp.post_request(self.srv, req, timeout=30)
            except requests.RequestException:
                return  # the server is gone
            if r.status_code != 200:
                with self.lock:
                    self.errors.append(f"{r.status_code}: {r.content[:200]!r}")
                continue
            with self.lock:
                self.acked.update(expected)
                self.acked_spans += sum(len(v) for v in expected.values())

    def wait_for(self, spans: int, timeout: float = 60):
        otlp.wait_until(lambda: self.acked_spans >= spans or self.errors, timeout=timeout, what=f"{spans} acked spans")
        assert not self.errors, self.errors[:3]


def check_traces(srv, expected: dict[str, dict[str, dict]], sent: dict[str, dict[str, dict]] | None = None,
                 sample_attributes: int = 100):
    """Every expected span is in its trace with the fields it was sent with; the trace holds
    nothing that was never sent."""
    sent = sent or expected
    missing = []
    for tid, spans in expected.items():
        r = srv.get(f"/api/v1/traces/{tid}")
        if r.status_code != 200:
            missing.append((tid, "trace", r.status_code))
            continue
        rows = {row["span_id"]: row for row in r.json()["spans"]}
        assert len(rows) == len(r.json()["spans"]), f"duplicate span rows in {tid}"
        assert set(rows) <= set(sent[tid]), f"trace {tid} has spans never sent: {set(rows) - set(sent[tid])}"
        for sid, f in spans.items():
            row = rows.get(sid)
            if row is None:
                missing.append((tid, sid, f["name"]))
                continue
            got = {
                "name": row["name"], "parent_span_id": row["parent_span_id"], "start_ns": row["start_ns"],
                "end_ns": row["end_ns"], "status": row["status"], "status_message": row["status_message"],
                "model": row["model"], "input_tokens": row["tokens"]["input"],
            }
            want = {k: f[k] for k in got}
            assert got == want, f"span {sid} of {tid} changed: {got} != {want}"
    assert not missing, f"{len(missing)} acknowledged spans lost, e.g. {missing[:5]}"
    # The full span (attributes, service) for a sample.
    flat = [(tid, sid, f) for tid, spans in expected.items() for sid, f in spans.items()]
    for tid, sid, f in random.sample(flat, min(sample_attributes, len(flat))):
        s = srv.span(tid, sid)
        assert s["attributes"]["test.seq"] == f["seq"], s["attributes"]
        assert s["duration_ns"] == f["end_ns"] - f["start_ns"]


def kill9_mid_send_and_restart(fresh_server, srv, sender: RawSender, at_least: int, sample_attributes: int = 100):
    """Kills the server once `at_least` spans are acknowledged, while the senders are still
    posting (some requests are in flight right now), restarts it on the same directory and
    checks every acknowledged span. Returns the restarted server."""
    sender.wait_for(at_least, timeout=120)
    srv.kill9()
    sender.join()
    with sender.lock:
        acked = dict(sender.acked)
        sent = dict(sender.sent)
    assert sum(len(v) for v in acked.values()) >= at_least
    assert len(sent) > len(acked), "no request was in flight at the kill"
    srv2 = restart(fresh_server, srv)
    check_traces(srv2, acked, sent, sample_attributes=sample_attributes)
    return srv2


def test_raw_acknowledged_spans_survive_kill9_with_requests_in_flight(fresh_server):
    srv = fresh_server().start()
    sender = RawSender(srv, otlp.unique("durable-raw"), threads=6).start()
    srv2 = kill9_mid_send_and_restart(fresh_server, srv, sender, 3000)
    # The restarted server takes new spans.
    tid, ids, req = otlp.simple_trace("after-restart", n=3)
    otlp.send(srv2, req)
    assert srv2.trace(tid)["trace"]["span_count"] == 3


def test_acknowledged_spans_survive_kill9_under_sustained_load(fresh_server):
    """The same under sustained load: a dozen senders of 200-span requests keep the server
    busy (group commits, checkpoints, rollups) for tens of thousands of spans before the kill."""
    srv = fresh_server().start()
    sender = RawSender(srv, otlp.unique("durable-load"), threads=12, traces_per_request=10,
                       spans_per_trace=20).start()
    kill9_mid_send_and_restart(fresh_server, srv, sender, 40_000, sample_attributes=300)


# --- the real OpenTelemetry SDK exporter ------------------------------------------------------


def test_sdk_exported_spans_survive_kill9(fresh_server):
    srv = fresh_server().start()
    service = otlp.unique("durable-sdk")
    rec = otlp.Recording(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces", timeout=30))
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(rec, max_export_batch_size=200, schedule_delay_millis=20))
    tracer = provider.get_tracer("spyglass.tests.durability")
    threads, traces_per_thread, children = 4, 30, 9

    def work(w: int):
        for t in range(traces_per_thread):
            with tracer.start_as_current_span(f"sdk-root-{w}-{t}", attributes={"test.seq": f"{w}/{t}"}):
                for c in range(children):
                    with tracer.start_as_current_span(
                        f"sdk-llm-{w}-{t}-{c}",
                        kind=otel_trace.SpanKind.CLIENT,
                        attributes={"gen_ai.request.model": "gpt-test", "gen_ai.usage.input_tokens": c + 1,
                                    "gen_ai.usage.output_tokens": 2 * c, "test.seq": f"{w}/{t}/{c}"},
                    ) as s:
                        if c == 4:
                            s.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "sdk failure"))

    ts = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert provider.force_flush(30000)
    total = threads * traces_per_thread * (children + 1)
    assert rec.failed == 0 and len(rec.acked) == total, (rec.failed, len(rec.acked))
    srv.kill9()
    provider.shutdown()

    srv2 = restart(fresh_server, srv)
    by_trace: dict[str, list] = {}
    for s in rec.acked:
        by_trace.setdefault(format(s.context.trace_id, "032x"), []).append(s)
    for tid, spans in by_trace.items():
        t = srv2.trace(tid)
        rows = {r["span_id"]: r for r in t["spans"]}
        assert len(rows) == len(spans) == children + 1, (tid, len(rows))
        assert t["trace"]["service_name"] == service
        assert t["trace"]["tokens"]["input"] == sum(range(1, children + 1))
        assert t["trace"]["error_count"] == 1
        for s in spans:
            row = rows[format(s.context.span_id, "016x")]
            assert row["name"] == s.name
            assert row["start_ns"] == s.start_time and row["end_ns"] == s.end_time
            want_parent = format(s.parent.span_id, "016x") if s.parent else None
            assert row["parent_span_id"] == want_parent
            if s.name.startswith("sdk-llm"):
                assert row["kind"] == "llm" and row["model"] == "gpt-test"
                assert row["tokens"]["input"] == s.attributes["gen_ai.usage.input_tokens"]
    for s in random.sample(rec.acked, 50):
        got = srv2.span(format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"))
        assert got["attributes"]["test.seq"] == s.attributes["test.seq"]
        assert got["otel_kind"] == ("client" if s.name.startswith("sdk-llm") else "internal")
        assert got["scope_name"] == "spyglass.tests.durability"


# --- clean shutdown ---------------------------------------------------------------------------

def test_sigterm_drains_and_keeps_everything(fresh_server):
    srv = fresh_server().start()
    sender = RawSender(srv, otlp.unique("durable-term"), threads=4).start()
    sender.wait_for(1000)
    code = srv.stop(signal.SIGTERM)
    sender.join()
    assert code == 0, f"spyglass exited with {code} on SIGTERM:\n{srv.logs()}"
    with sender.lock:
        acked, sent = dict(sender.acked), dict(sender.sent)
    srv2 = restart(fresh_server, srv)
    check_traces(srv2, acked, sent)
    # And again, with nothing in flight: a second clean restart changes nothing.
    some = dict(random.sample(sorted(acked.items()), 20))
    assert srv2.stop(signal.SIGTERM) == 0
    srv3 = restart(fresh_server, srv2)
    check_traces(srv3, some, sent)


# --- running spans --------------------------------------------------------------------------

def test_running_span_is_replaced_by_its_finished_version(fresh_server):
    srv = fresh_server().start()
    svc = otlp.unique("running")
    tid, root, child = new_trace_id(), new_span_id(), new_span_id()
    start = now_ns() - 10_000_000_000

    def versions(finished: bool):
        end_root = start + 3_000_000_000 if finished else 0
        end_child = start + 2_000_000_000 if finished else 0
        return otlp.request([
            span(tid, root, "agent-run", start, end_root, attrs={"test.version": "done" if finished else "running"}),
            span(tid, child, "llm-call", start + 1_000_000, end_child, parent=root,
                 attrs={"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 7 if finished else 1}),
        ], svc)

    def running_ids():
        return {t["trace_id"] for t in srv.get_json("/api/v1/traces", service=svc, status="running")["items"]}

    otlp.send(srv, versions(False))
    t = srv.trace(tid)
    assert t["trace"]["running_count"] == 2 and t["trace"]["end_ns"] is None
    assert all(s["end_ns"] is None and s["duration_ns"] is None for s in t["spans"])
    assert srv.span(tid, root)["attributes"]["test.version"] == "running"
    assert running_ids() == {tid}

    otlp.send(srv, versions(True))

    def finished(server):
        t = server.trace(tid)
        assert t["trace"]["span_count"] == 2, t["trace"]
        assert t["trace"]["running_count"] == 0
        assert t["trace"]["duration_ns"] == 3_000_000_000
        assert t["trace"]["tokens"]["input"] == 7
        rows = {s["span_id"]: s for s in t["spans"]}
        assert rows[root]["end_ns"] == start + 3_000_000_000
        assert rows[child]["duration_ns"] == 2_000_000_000 - 1_000_000
        assert server.span(tid, root)["attributes"]["test.version"] == "done"

    finished(srv)
    assert running_ids() == set()
    # A late retry of the running version does not undo the finished one.
    otlp.send(srv, versions(False))
    finished(srv)

    srv.kill9()
    srv = restart(fresh_server, srv)
    finished(srv)
    assert running_ids() == set()
