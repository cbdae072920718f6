"""The client commands of the `spyglass` binary against a running server, and `spyglass demo`."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time


import otlp
from conftest import Server, free_port, spyglass_bin
from otlp import STATUS_ERROR, new_span_id, new_trace_id, now_ns, span

S = 10**9
MS = 10**6


def agent_trace(service: str, error: str | None = None, model: str = "gpt-cli", tokens=(1234, 56)):
    """root agent → llm (model, tokens) → tool (failed with `error`, if given)."""
    tid, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    t0 = now_ns() - 120 * S
    spans = [
        span(tid, root, "cli-agent-run", t0, t0 + 2 * S,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "cli-agent", "test.tag": service}),
        span(tid, llm, "cli-llm-call", t0 + 10 * MS, t0 + 900 * MS, parent=root,
             attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": tokens[0], "gen_ai.usage.output_tokens": tokens[1]}),
        span(tid, tool, "cli-tool-call", t0 + 1 * S, t0 + 1500 * MS, parent=root,
             attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"},
             status=STATUS_ERROR if error else 0, status_message=error or ""),
    ]
    return tid, otlp.request(spans, service)


# --- traces list / show -----------------------------------------------------------------------

def test_traces_list(server):
    svc = otlp.unique("cli-list")
    ok_t, req = agent_trace(svc)
    otlp.send(server, req)
    err_t, req = agent_trace(svc, error="boom")
    otlp.send(server, req)

    out = server.cli("traces", "list", "--service", svc).stdout
    assert "TRACE" in out.splitlines()[0]
    lines = {l.split()[0]: l for l in out.splitlines()[1:] if l.strip()}
    assert set(lines) == {ok_t, err_t}, out
    assert "✗ error" in lines[err_t] and "✗" not in lines[ok_t]
    assert "cli-agent-run" in lines[ok_t] and "1,234→56" in lines[ok_t]

    out = server.cli("traces", "list", "--service", svc, "--status", "error").stdout
    assert err_t in out and ok_t not in out

    out = server.cli("traces", "list", "--service", svc, "--json").stdout
    page = json.loads(out)
    assert {t["trace_id"] for t in page["items"]} == {ok_t, err_t}
    assert all(t["span_count"] == 3 and t["tokens"]["input"] == 1234 for t in page["items"])

    out = server.cli("traces", "list", "--service", svc, "--attr", f"test.tag={svc}", "--model", "gpt-cli",
                     "--since", "15m", "--json").stdout
    assert {t["trace_id"] for t in json.loads(out)["items"]} == {ok_t, err_t}

    out = server.cli("traces", "list", "--service", svc, "--since", "1s").stdout
    assert "no traces match" in out


def test_traces_list_bad_filter_fails_clearly(server):
    p = server.cli("traces", "list", "--status", "sideways", check=False)
    assert p.returncode != 0
    assert "status" in (p.stderr + p.stdout)


def test_traces_show_waterfall(server):
    svc = otlp.unique("cli-show")
    tid, req = agent_trace(svc, error="quota exceeded", model="gpt-waterfall", tokens=(1234, 56))
    otlp.send(server, req)
    out = server.cli("traces", "show", tid).stdout
    for name in ["cli-agent-run", "cli-llm-call", "cli-tool-call"]:
        assert name in out, out
    assert tid in out.splitlines()[0]
    assert "gpt-waterfall" in out
    assert "1,234" in out and "56" in out
    assert "1 error(s)" in out
    assert "quota exceeded" in out
    tool_line = next(l for l in out.splitlines() if "cli-tool-call" in l)
    assert "✗ quota exceeded" in tool_line
    llm_line = next(l for l in out.splitlines() if "cli-llm-call" in l)
    assert llm_line.startswith("  "), "children are indented under their parent"
    assert "1,234→56" in llm_line
    assert f"service {svc}" in out

    body = json.loads(server.cli("traces", "show", tid, "--json").stdout)
    assert body["trace"]["trace_id"] == tid and len(body["spans"]) == 3


def test_traces_show_unknown_trace_fails(server):
    p = server.cli("traces", "show", new_trace_id(), check=False)
    assert p.returncode != 0
    assert "not found" in (p.stderr + p.stdout)


# --- tail -----------------------------------------------------------------------------------

class Tail:
    """`spyglass tail` as a subprocess, with its output read line by line."""

    def __init__(self, server, *args: str):
        env = {**os.environ, "SPYGLASS_URL": server.api, "NO_COLOR": "1"}
        self.proc = subprocess.Popen([spyglass_bin(), "tail", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, q in [(self.proc.stdout, self.out), (self.proc.stderr, self.err)]:
            threading.Thread(target=lambda s=stream, q=q: [q.put(line) for line in s], daemon=True).start()

    def wait_err(self, text: str, timeout: float = 10) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.err.get(timeout=0.1)
            except queue.Empty:
                assert self.proc.poll() is None, f"tail exited with {self.proc.returncode}"
                continue
            if text in line:
                return line
        raise AssertionError(f"tail never printed {text!r}")

    def lines_until(self, names: set[str], timeout: float = 10) -> list[str]:
        got, deadline = [], time.time() + timeout
        while not all(any(n in l for l in got) for n in names):
            if time.time() > deadline:
                raise AssertionError(f"tail printed {got}, missing some of {names}")
            try:
                got.append(self.out.get(timeout=0.1))
            except queue.Empty:
                assert self.proc.poll() is None, f"tail exited with {self.proc.returncode}"
        return got

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_tail_prints_spans_as_they_arrive(server):
    svc = otlp.unique("cli-tail")
    tail = Tail(server, "--service", svc)
    try:
        tail.wait_err("following")  # subscribed: spans sent from now on are delivered
        # A span of another service first: the filter keeps it out.
        otlp.send(server, otlp.request([span(new_trace_id(), new_span_id(), "tail-not-mine")], otlp.unique("cli-tail-other")))
        tid, req = agent_trace(svc, error="tail failure", model="gpt-tail")
        otlp.send(server, req)
        lines = tail.lines_until({"cli-agent-run", "cli-llm-call", "cli-tool-call"})
        assert not any("tail-not-mine" in l for l in lines)
        llm = next(l for l in lines if "cli-llm-call" in l)
        assert tid[:8] in llm and "gpt-tail" in llm and "1,234→56" in llm
        assert "✗ tail failure" in next(l for l in lines if "cli-tool-call" in l)
    finally:
        tail.stop()


# --- doctor ---------------------------------------------------------------------------------

def test_doctor_checks_every_stage(server):
    p = server.cli("doctor")
    out = p.stdout
    for stage in ["api ready", "live subscribed", "received + stored", "queryable", "live delivered"]:
        line = next((l for l in out.splitlines() if stage in l), None)
        assert line is not None, f"stage {stage!r} missing:\n{out}"
        assert "✓" in line, line
    assert "all stages ok" in out
    # The probe trace it names is really there.
    probe = out.strip().split()[-1].rstrip(")")
    assert server.trace(probe)["spans"][0]["name"] == "spyglass doctor probe"


def test_doctor_without_a_server_fails(server, tmp_path):
    env = {**os.environ, "SPYGLASS_URL": f"http://127.0.0.1:{free_port()}", "NO_COLOR": "1"}
    p = subprocess.run([spyglass_bin(), "doctor", "--timeout-secs", "2"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0
    assert "✗ api ready" in p.stdout


# --- demo -----------------------------------------------------------------------------------

class DemoServer(Server):
    """`spyglass demo` on free ports, like Server runs `spyglass serve`."""

    def args(self) -> list[str]:
        a = super().args()
        assert a[1] == "serve"
        return [a[0], "demo", *a[2:]]


def test_demo_loads_varied_sample_traces(tmp_path):
    srv = DemoServer(tmp_path / "demo-data").start()
    try:
        def loaded():
            page = srv.get_json("/api/v1/traces", limit=1000)
            services = {s for t in page["items"] for s in t["services"]}
            errors = srv.get_json("/api/v1/traces", status="error")["items"]
            running = srv.get_json("/api/v1/traces", status="running")["items"]
            sessions = srv.get_json("/api/v1/sessions")["items"]
            assert len(services) >= 3, services
            assert errors, "no error trace"
            assert running, "no running trace"
            assert any(s["trace_count"] >= 3 for s in sessions), sessions
            return page, errors, running, sessions

        page, errors, running, sessions = otlp.wait_until(loaded, timeout=30, what="demo traces")
        # The sample traces are realistic: models, tokens, a failed span with a message.
        assert any(t["models"] and t["tokens"]["input"] for t in page["items"])
        err = srv.trace(errors[0]["trace_id"])
        assert any(s["status"] == "error" and s["status_message"] for s in err["spans"])
        run = srv.trace(running[0]["trace_id"])
        assert run["trace"]["running_count"] >= 1
        assert any(s["end_ns"] is None for s in run["spans"])
        sess = max(sessions, key=lambda s: s["trace_count"])
        detail = srv.get_json(f"/api/v1/sessions/{sess['session_id']}")
        starts = [t["start_ns"] for t in detail["traces"]]
        assert len(starts) == sess["trace_count"] and starts == sorted(starts)
        # The CLI lists them too.
        out = srv.cli("traces", "list", "--limit", "50").stdout
        assert len([l for l in out.splitlines()[1:] if l.strip()]) >= 5
    finally:
        srv.stop()
