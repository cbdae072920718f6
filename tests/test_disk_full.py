"""Disk full: when the data directory's filesystem fills during ingest, a request whose batch
cannot be committed answers 503 with Retry-After (nothing acknowledged is lost, nothing
committed is corrupted), the server stays up, and ingest works again once space returns,
without a restart. After a restart every acknowledged span is there, exactly once.

Needs root (it mounts a small tmpfs as the data directory's filesystem); skipped otherwise."""

from __future__ import annotations

import os
import pathlib
import subprocess
import time

import grpc
import pytest
import requests

import otlp
from otlp import new_span_id, new_trace_id, now_ns, span

TMPFS_SIZE = "48m"


@pytest.fixture
def small_fs(tmp_path):
    """A 48 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip() or p.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_bytes(path: pathlib.Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: pathlib.Path, leave: int) -> pathlib.Path:
    """A filler file taking all but `leave` bytes of the filesystem."""
    filler = path / "filler"
    size = max(free_bytes(path) - leave, 0)
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, size) if size else None
    return filler


def top_up(path: pathlib.Path) -> pathlib.Path:
    """A second filler that takes every byte still free."""
    filler = path / "filler2"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def post_rule(srv) -> requests.Response:
    return requests.post(f"{srv.api}/api/v1/alerts/rules", timeout=30, json={
        "name": "Spend", "metric": "cost", "threshold": 5, "window_s": 300, "severity": "critical"})


class Ledger:
    """What was sent, and which traces the server acknowledged."""

    def __init__(self):
        self.acked: dict[str, set[str]] = {}
        self.refused = 0
        self.n = 0

    def batch(self, traces: int = 4, spans: int = 8):
        out, groups = [], {}
        payload = "x" * 2000  # big spans fill the disk faster
        for _ in range(traces):
            tid, root = new_trace_id(), new_span_id()
            start = now_ns() - 5_000_000_000
            ids = [root] + [new_span_id() for _ in range(spans - 1)]
            for i, sid in enumerate(ids):
                out.append(span(tid, sid, f"df-{self.n}-{i}", start + i * 1000, start + i * 1000 + 500,
                                parent=None if i == 0 else root, attrs={"payload": payload, "i": i}))
            groups[tid] = set(ids)
        self.n += 1
        return otlp.request(out, "disk-full"), groups

    def send(self, srv, **kw) -> requests.Response:
        req, groups = self.batch(**kw)
        r = otlp.post_request(srv, req, timeout=30)
        if r.status_code == 200:
            self.acked.update(groups)
        else:
            assert r.status_code == 503, f"unexpected {r.status_code}: {r.text[:300]}"
            assert r.headers.get("Retry-After"), "a 503 must say when to retry"
            self.refused += 1
        return r


def check_all_acked(srv, ledger: Ledger):
    for tid, ids in ledger.acked.items():
        doc = srv.trace(tid)
        got = [s["span_id"] for s in doc["spans"]]
        assert len(got) == len(set(got)), f"trace {tid} has duplicate spans"
        assert set(got) == ids, f"trace {tid}: {len(ids)} spans acknowledged, {len(got)} stored"


@pytest.mark.timeout(120)
def test_disk_full_answers_503_and_recovers(fresh_server, small_fs, tmp_path):
    data = small_fs / "data"
    # A small WAL threshold: checkpoints (which also need space) happen during the test.
    cfg = otlp.config_file(tmp_path, '[store.duckdb]\ncheckpoint_threshold = "1MB"\nmemory_limit = "256MB"\n')
    srv = fresh_server(data_dir=data, extra_args=["--config", str(cfg)]).start()
    ledger = Ledger()
    for _ in range(5):
        assert ledger.send(srv).status_code == 200

    # Leave ~2 MB, then send until commits fail.
    filler = fill(small_fs, 2 * 1024 * 1024)
    deadline = time.time() + 30
    while ledger.refused < 3 and time.time() < deadline:
        ledger.send(srv)
    assert ledger.refused >= 3, f"no request was refused with the disk full ({free_bytes(small_fs)} bytes free)"
    assert srv.alive(), srv.logs()

    # gRPC refuses the same way: UNAVAILABLE (retryable), not acknowledged.
    req, _ = ledger.batch()
    err = otlp.grpc_error(srv, req)
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err

    # An API write is refused the same way (503, unavailable, Retry-After).
    filler2 = top_up(small_fs)
    r = post_rule(srv)
    assert r.status_code == 503, f"alert rule with the disk full -> {r.status_code}: {r.text}"
    assert r.json()["error"]["code"] == "unavailable" and r.headers.get("Retry-After"), r.text

    # Up, and says it cannot write.
    assert srv.get("/healthz").status_code == 200
    ready = srv.get("/readyz")
    assert ready.status_code == 503, f"/readyz -> {ready.status_code} with the disk full"
    metrics = srv.get("/metrics").text
    errors = [l for l in metrics.splitlines() if l.startswith("spyglass_store_write_errors_total")]
    assert errors and float(errors[0].split()[-1]) > 0, errors
    assert "spyglass_store_writable 0" in metrics

    # What was acknowledged is readable while the disk is full.
    check_all_acked(srv, ledger)

    # Space returns: ingest works again without a restart.
    filler.unlink()
    filler2.unlink()
    deadline = time.time() + 20
    while True:
        r = ledger.send(srv)
        if r.status_code == 200:
            break
        assert time.time() < deadline, f"ingest did not recover: {srv.logs()}"
        time.sleep(0.5)
    for _ in range(5):
        assert ledger.send(srv).status_code == 200
    otlp.wait_until(lambda: srv.get("/readyz").status_code == 200, timeout=10, what="/readyz 200 again")
    assert post_rule(srv).status_code == 201
    check_all_acked(srv, ledger)

    # After a restart, everything acknowledged is still there, exactly once.
    assert srv.stop() == 0, srv.logs()
    srv2 = fresh_server(data_dir=data).start()
    check_all_acked(srv2, ledger)
