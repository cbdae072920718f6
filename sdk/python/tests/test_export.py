"""Export that never hurts the agent: retries only what OTLP calls retryable, honours
Retry-After, spools what could not be delivered (bounded, oldest first) and re-sends it."""

from __future__ import annotations

import logging
import pathlib
import time
from typing import Any

import pytest

import spyglass
from conftest import Sink
from spyglass.retry import RetryPolicy, send_with_retry
from spyglass.spool import Spool
from spyglass.transport import HttpTransport, parse_retry_after


def _emit(name: str) -> None:
    with spyglass.span(name):
        pass


def test_retry_after_is_honoured(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)
    sink.respond(503, {"Retry-After": "1"})
    _emit("patient")
    spyglass.flush()
    sink.wait_for(lambda s: len(s.requests) >= 2)
    first, second = sink.requests[:2]
    assert second.at - first.at >= 0.95, "the retry waited for Retry-After, not the 50 ms backoff"
    assert second.body == first.body, "a retry re-sends the same request"
    assert spyglass.stats()["exported_spans"] >= 1 and spyglass.stats()["spool_batches"] == 0


@pytest.mark.parametrize("status", [429, 502, 504])
def test_retryable_statuses(sink: Sink, configure: Any, status: int) -> None:
    configure(endpoint=sink.url)
    sink.respond(status, times=2)
    _emit("retried")
    spyglass.flush()
    sink.wait_for(lambda s: len(s.requests) >= 3)
    assert [r.body for r in sink.requests[:3]] == [sink.requests[0].body] * 3
    assert spyglass.stats()["exported_spans"] >= 1


@pytest.mark.parametrize("status", [400, 401, 413, 500])
def test_non_retryable_statuses_are_not_retried(sink: Sink, configure: Any, status: int,
                                                caplog: pytest.LogCaptureFixture) -> None:
    configure(endpoint=sink.url, fail_silently=False)
    sink.respond(status)
    with caplog.at_level(logging.ERROR, logger="spyglass"):
        _emit("refused")
        spyglass.flush()
        time.sleep(0.3)
    assert len(sink.requests) == 1
    stats = spyglass.stats()
    assert stats["dropped_spans"] == 1 and stats["spool_batches"] == 0
    assert any(f"HTTP {status}" in r.getMessage() for r in caplog.records), "fail_silently=false shows the error"


def test_fail_silently_hides_export_errors(sink: Sink, configure: Any, caplog: pytest.LogCaptureFixture) -> None:
    configure(endpoint=sink.url, fail_silently=True)
    sink.respond(400)
    with caplog.at_level(logging.WARNING, logger="spyglass"):
        _emit("quiet")
        spyglass.flush()
        time.sleep(0.2)
    assert len(sink.requests) == 1 and not caplog.records


def test_spooled_after_retries_then_replayed_in_order(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url, max_retries=1)
    # The first batch fails its try and its one retry, the second refusal asking for a second's
    # pause: it is spooled, and the replayer waits that second before re-sending.
    sink.respond(503)
    sink.respond(503, {"Retry-After": "1"})
    _emit("first")
    spyglass.flush(timeout=0.1)
    assert spyglass.stats()["spool_batches"] == 1
    _emit("second")  # the backlog exists: queued behind it, not sent ahead of it
    spyglass.flush(timeout=0.1)
    assert spyglass.stats()["spool_batches"] == 2
    assert spyglass.flush(timeout=10) is True
    assert spyglass.stats()["spool_batches"] == 0 and spyglass.stats()["replayed_batches"] == 2
    names = [s.name for s in sink.spans()]
    assert names[:2] == ["first", "first"], "two refused attempts"
    assert names[2:] == ["first", "second"], "replayed oldest first"
    assert sink.requests[2].at - sink.requests[1].at >= 0.95, "the replay honoured Retry-After"


def test_connection_refused_spools(tmp_path: pathlib.Path, configure: Any) -> None:
    from conftest import free_port

    configure(endpoint=f"http://127.0.0.1:{free_port()}", max_retries=2, retry_max_elapsed_ms=500)
    _emit("nobody home")
    spyglass.flush(timeout=0.5)
    stats = spyglass.stats()
    assert stats["spool_spans"] == 1 and stats["dropped_spans"] == 0


def test_retry_policy_gives_up_within_budget() -> None:
    class Refusing:
        calls = 0

        def send(self, body: bytes, timeout: float) -> Any:
            from spyglass.transport import Outcome

            self.calls += 1
            return Outcome(False, retryable=True, retry_after=5.0)

        def close(self) -> None:
            pass

    import threading

    t = Refusing()
    start = time.monotonic()
    outcome = send_with_retry(t, b"x", RetryPolicy(max_retries=5, max_elapsed=1.0), 1.0, threading.Event())
    # Retry-After of 5 s exceeds the 1 s budget: give up at once (to the spool) instead of blocking.
    assert not outcome.ok and t.calls == 1 and time.monotonic() - start < 0.5
    assert RetryPolicy(initial_backoff=0.5, max_backoff=4, jitter=0).delay(5, None) == 4
    assert RetryPolicy(initial_backoff=0.5, jitter=0).delay(2, None) == 2.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") < 1  # a date in the past


def test_spool_is_bounded_and_oldest_first(tmp_path: pathlib.Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"), max_bytes=1000, max_batches=3)
    for i in range(5):
        spool.append(bytes([i]) * 100, spans=2)
    assert spool.stats().batches == 3 and spool.dropped_batches == 2 and spool.dropped_spans == 4
    row = spool.oldest()
    assert row is not None and row[1] == bytes([2]) * 100, "the oldest were dropped, the oldest kept comes first"
    spool.append(b"z" * 950, spans=1)  # over the byte bound: older batches go
    assert spool.stats().bytes <= 1000 and spool.oldest()[1] == b"z" * 950  # type: ignore[index]
    spool.close()
    reopened = Spool(str(tmp_path / "s.sqlite3"), max_bytes=1000, max_batches=3)
    assert reopened.pending == 1, "the spool survives the process"
    reopened.close()


def test_leftover_spool_is_replayed_by_the_next_run(sink: Sink, configure: Any, tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "left.sqlite3")
    spool = Spool(path, max_bytes=10_000_000, max_batches=100)
    # A batch an earlier run could not deliver: the encoded request as that run spooled it.
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    ctx = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    spool.append(encode_spans([ReadableSpan(name="from last run", context=ctx, start_time=1, end_time=2)])
                 .SerializeToString(), spans=1)
    spool.close()
    configure(endpoint=sink.url, spool_path=path)
    sink.wait_for(lambda s: any(x.name == "from last run" for x in s.spans()))
    assert spyglass.flush(timeout=5)


def test_http_transport_classifies(sink: Sink) -> None:
    t = HttpTransport(sink.url + "/v1/traces", {"authorization": "Bearer k"}, "gzip")
    sink.respond(503, {"Retry-After": "7"})
    refused = t.send(b"", 2)
    assert not refused.ok and refused.retryable and refused.retry_after == 7.0
    assert t.send(b"", 2).ok
    assert sink.requests[0].headers["authorization"] == "Bearer k"
    assert sink.requests[0].headers["content-encoding"] == "gzip"
    t.close()
