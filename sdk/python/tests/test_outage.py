"""Outage: the server is down while the agent runs; spans go to the spool; the server comes back
and every span arrives, exactly once in what the API shows."""

from __future__ import annotations

import threading
import time
from typing import Any

import spyglass
from conftest import Server


def test_spans_survive_an_outage_and_arrive_once(tmp_path: Any, configure: Any) -> None:
    server = Server(tmp_path / "data")  # not started: the outage comes first
    configure(endpoint=server.otlp_http, max_retries=1, retry_max_elapsed_ms=300)

    @spyglass.observe(kind="tool")
    def lookup(i: int) -> int:
        return i * 2

    @spyglass.observe(kind="llm")
    def think(i: int) -> str:
        return f"thought {i}"

    @spyglass.observe(kind="agent")
    def agent(i: int) -> str:
        return f"{think(i)} / {lookup(i)} / {lookup(i + 1)}"

    trace_ids = []
    for i in range(5):
        with spyglass.span(f"run {i}") as run:
            agent(i)
        trace_ids.append(run.trace_id)

    # A long agent span still open across exports: its running version is spooled too, and
    # later its finished version. Both are re-sent; the API must still show it once.
    release, started = threading.Event(), threading.Event()
    long_ids: dict[str, str] = {}

    def long_agent() -> None:
        with spyglass.agent("long") as a:
            long_ids["trace"], long_ids["span"] = a.trace_id, a.span_id
            started.set()
            release.wait(20)

    t = threading.Thread(target=long_agent)
    t.start()
    assert started.wait(5)
    deadline = time.time() + 10
    while spyglass.stats()["spool_spans"] < 26 and time.time() < deadline:
        spyglass.flush(timeout=0.1)  # 25 finished + the long one's running version
    release.set()
    t.join()
    spyglass.flush(timeout=0.3)
    stats = spyglass.stats()
    assert stats["exported_spans"] == 0 and stats["dropped_spans"] == 0
    assert stats["spool_spans"] >= 27, stats  # 25 + running + finished version of "long"

    server.start()
    try:
        assert spyglass.flush(timeout=30) is True, spyglass.stats()
        assert spyglass.stats()["spool_batches"] == 0
        for trace_id in trace_ids:
            tree = server.wait_for_trace(trace_id, spans=5)
            ids = [row["span_id"] for row in tree["spans"]]
            assert len(ids) == 5 == len(set(ids)), "every span once"
            assert [(r["depth"], r["name"]) for r in tree["spans"]][:2] == [(0, tree["trace"]["name"]), (1, "agent")]
            assert tree["trace"]["running_count"] == 0
        long_tree = server.wait_for_trace(long_ids["trace"], spans=1)
        assert len(long_tree["spans"]) == 1 and long_tree["trace"]["running_count"] == 0
        assert server.span(long_ids["trace"], long_ids["span"])["end_ns"] is not None
        listed = server.get_json("/api/v1/traces", limit=100)["items"]
        assert sorted(t["trace_id"] for t in listed) == sorted([*trace_ids, long_ids["trace"]])
        assert sum(t["span_count"] for t in listed) == 26
    finally:
        server.stop()
