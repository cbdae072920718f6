"""Bad, hostile and excessive input on the OTLP receivers.

Each case checks the exact HTTP status (or gRPC code), that the error body says what was wrong
in the encoding the client spoke (protobuf google.rpc.Status or JSON {"code", "message"}),
that the server is still up and ingesting afterwards, and, for batches that mix valid and
invalid spans, that the valid spans are stored while the answer reports the rejected ones as an
OTLP partial success."""

from __future__ import annotations

import gzip
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import requests

import otlp
from otlp import (
    INVALID_ARGUMENT, JSON, PROTOBUF, RESOURCE_EXHAUSTED, UNAVAILABLE, UNIMPLEMENTED,
    new_span_id, new_trace_id, now_ns, span,
)

MiB = 1 << 20


# --- helpers ------------------------------------------------------------------------------

def assert_up(server) -> None:
    """The process answers health checks and still ingests and serves a new span."""
    assert server.alive(), f"server died:\n{server.logs()}"
    assert requests.get(f"{server.api}/healthz", timeout=5).status_code == 200
    tid, sid = new_trace_id(), new_span_id()
    otlp.send(server, otlp.request([span(tid, sid, "still-alive")], otlp.unique("alive")))
    assert server.span(tid, sid)["name"] == "still-alive"


def assert_error(r: requests.Response, http_status: int, content_type: str | None, code: int, *words: str) -> str:
    """The response is an OTLP error with this status and code, whose message has `words`."""
    assert r.status_code == http_status, f"expected {http_status}, got {r.status_code}: {r.content[:500]!r}"
    got_code, message = otlp.error_status(r, content_type)
    assert got_code == code, f"google.rpc code {got_code} != {code} ({message!r})"
    assert message.strip(), "error message is empty"
    for w in words:
        assert w.lower() in message.lower(), f"{w!r} not in error message {message!r}"
    return message


def valid_request(service: str | None = None):
    tid, ids, req = otlp.simple_trace(service or otlp.unique("bad-input"), n=2)
    return tid, ids, req


def invalid_utf8_request() -> tuple[bytes, str, str, str]:
    """A well-formed protobuf with two spans, one of whose names holds bytes that are not
    UTF-8 (protobuf `string` fields must be UTF-8). Built by patching a same-length
    placeholder, so every length prefix stays correct. Returns (body, trace, good, bad)."""
    placeholder = "UTF8-PLACEHOLDER-0123456789"
    tid, good, bad_id = new_trace_id(), new_span_id(), new_span_id()
    req = otlp.request([span(tid, good, "clean"), span(tid, bad_id, placeholder, parent=good)], otlp.unique("utf8"))
    raw = req.SerializeToString()
    bad = (b"\xff\xfe\xc3\x28" * 10)[: len(placeholder)]
    assert raw.count(placeholder.encode()) == 1
    return raw.replace(placeholder.encode(), bad), tid, good, bad_id


def check_utf8_repaired(server, ps, tid, good, bad_id):
    """Invalid UTF-8 costs no span: it is stored with U+FFFD, and the sender is told."""
    assert ps.rejected_spans == 0, ps
    assert "utf-8" in ps.error_message.lower(), ps
    assert server.span(tid, good)["name"] == "clean"
    assert "\ufffd" in server.span(tid, bad_id)["name"]
    assert_up(server)


def truncated_request() -> bytes:
    _, _, req = valid_request()
    raw = req.SerializeToString()
    return raw[: len(raw) - 7]  # the outer length prefix now promises bytes that never come


# Not a protobuf message: a field with wire type 7 (there is none), then a varint that never ends.
GARBAGE = b"\xff\xff\xff\x01this is not protobuf\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"


def config(tmp_path, **keys) -> list[str]:
    text = "".join(f"{k} = {v}\n" for k, v in keys.items())
    return ["--config", str(otlp.config_file(tmp_path, text))]


# --- malformed bodies over OTLP/HTTP ------------------------------------------------------

def test_truncated_protobuf_is_400(server):
    r = otlp.post(server, truncated_request(), PROTOBUF)
    assert_error(r, 400, PROTOBUF, INVALID_ARGUMENT, "protobuf")
    assert_up(server)


def test_garbage_protobuf_is_400(server):
    r = otlp.post(server, GARBAGE, PROTOBUF)
    assert_error(r, 400, PROTOBUF, INVALID_ARGUMENT, "protobuf")
    assert_up(server)


def test_invalid_json_is_400(server):
    r = otlp.post(server, b'{"resourceSpans": [{"scopeSpans": [', JSON)
    assert_error(r, 400, JSON, INVALID_ARGUMENT, "json")
    assert_up(server)


@pytest.mark.parametrize("doc", [
    [],
    [{"resourceSpans": []}],
    [1, 2],
    "resourceSpans",
    42,
    None,
    {"resourceSpans": {"scopeSpans": []}},
    {"resourceSpans": [{"scopeSpans": [{"spans": "not a list"}]}]},
], ids=["empty-list", "list-of-request", "list-of-numbers", "string", "number", "null", "object-not-list", "spans-string"])
def test_json_that_is_not_an_otlp_request_is_400(server, doc):
    # Valid JSON, but an ExportTraceServiceRequest is a JSON object of the OTLP shape.
    r = otlp.post(server, json.dumps(doc).encode(), JSON)
    assert_error(r, 400, JSON, INVALID_ARGUMENT, "json")
    assert_up(server)


def test_wrong_content_type_is_415(server):
    _, _, req = valid_request()
    r = otlp.post(server, req.SerializeToString(), "text/plain")
    # The client's encoding is unknown, so the body is JSON.
    assert_error(r, 415, JSON, INVALID_ARGUMENT, "content type")
    assert_up(server)


def test_missing_content_type_is_415(server):
    _, _, req = valid_request()
    r = otlp.post(server, req.SerializeToString(), None)
    assert_error(r, 415, JSON, INVALID_ARGUMENT, "content type")


def test_unsupported_content_encoding_is_415(server):
    tid, ids, req = valid_request()
    r = otlp.post(server, req.SerializeToString(), PROTOBUF, headers={"Content-Encoding": "br"})
    assert_error(r, 415, PROTOBUF, UNIMPLEMENTED, "br")
    # Nothing of a refused request is stored.
    assert server.get(f"/api/v1/traces/{tid}").status_code == 404
    assert_up(server)


def test_corrupt_gzip_is_400(server):
    _, _, req = valid_request()
    body = gzip.compress(req.SerializeToString())
    corrupt = body[:10] + bytes(b ^ 0x5A for b in body[10:-8]) + body[-8:]
    r = otlp.post(server, corrupt, PROTOBUF, headers={"Content-Encoding": "gzip"})
    assert_error(r, 400, PROTOBUF, INVALID_ARGUMENT, "gzip")
    assert_up(server)


def test_truncated_gzip_is_400(server):
    _, _, req = valid_request()
    body = gzip.compress(req.SerializeToString())
    r = otlp.post(server, body[: len(body) // 2], PROTOBUF, headers={"Content-Encoding": "gzip"})
    assert_error(r, 400, PROTOBUF, INVALID_ARGUMENT, "gzip")


def test_valid_gzip_is_accepted(server):
    # The control case for the gzip tests above.
    tid, ids, req = valid_request()
    r = otlp.post_request(server, req, gzip=True)
    assert r.status_code == 200, r.content
    assert server.trace(tid)["trace"]["span_count"] == 2


def test_gzip_bomb_is_413(server):
    # ~65 KB of gzip that inflates to 65 MiB, past the default 64 MiB request limit.
    bomb = gzip.compress(b"\0" * (65 * MiB), compresslevel=9)
    assert len(bomb) < 200_000
    r = otlp.post(server, bomb, PROTOBUF, headers={"Content-Encoding": "gzip"})
    assert_error(r, 413, PROTOBUF, RESOURCE_EXHAUSTED, "exceeds")
    assert_up(server)


def test_spans_past_max_spans_per_request_are_rejected_as_partial_success(fresh_server, tmp_path):
    srv = fresh_server(["--config", str(otlp.config_file(tmp_path, "[limits]\nmax_spans_per_request = 10\n"))]).start()
    tid = new_trace_id()
    ids = [new_span_id() for _ in range(25)]
    req = otlp.request([span(tid, sid, f"op-{i}") for i, sid in enumerate(ids)])
    r = otlp.post(srv, req.SerializeToString(), PROTOBUF)
    assert r.status_code == 200, r.text
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 15 and "max_spans_per_request (10)" in ps.error_message, ps
    stored = srv.wait_for_trace(tid, spans=10)
    assert sorted(s["span_id"] for s in stored["spans"]) == sorted(ids[:10])


def test_oversized_bodies_are_413(fresh_server, tmp_path):
    srv = fresh_server(config(tmp_path, max_request_bytes=MiB)).start()
    body = b"\x00" * (MiB + 1)
    # With a Content-Length over the limit.
    r = otlp.post_raw(srv, body, PROTOBUF)
    assert_error(r, 413, PROTOBUF, RESOURCE_EXHAUSTED, "limit")
    # Chunked, so the size is only known while reading.
    r = otlp.post_raw(srv, body, PROTOBUF, chunked=True)
    assert_error(r, 413, PROTOBUF, RESOURCE_EXHAUSTED, "limit")
    # A small gzip body that inflates past the limit.
    bomb = gzip.compress(b"\0" * (2 * MiB))
    r = otlp.post(srv, bomb, JSON, headers={"Content-Encoding": "gzip"})
    assert_error(r, 413, JSON, RESOURCE_EXHAUSTED)
    # Just under the limit is accepted, and the server is up.
    tid, sid = new_trace_id(), new_span_id()
    pad = MiB - len(otlp.request([span(tid, sid, "near-limit", attrs={"pad": ""})], "oversize").SerializeToString()) - 64
    req = otlp.request([span(tid, sid, "near-limit", attrs={"pad": "p" * pad})], "oversize")
    assert MiB - 128 < len(req.SerializeToString()) <= MiB
    r = otlp.post_request(srv, req)
    assert r.status_code == 200, r.content[:300]
    assert srv.span(tid, sid)["name"] == "near-limit"
    assert_up(srv)


def test_body_over_default_64mib_is_413(server):
    r = otlp.post_raw(server, b"\x00" * (64 * MiB + 1), PROTOBUF)
    assert_error(r, 413, PROTOBUF, RESOURCE_EXHAUSTED, "limit")
    assert_up(server)


def test_invalid_utf8_is_repaired_and_reported(server):
    body, tid, good, bad_id = invalid_utf8_request()
    r = otlp.post(server, body, PROTOBUF)
    assert r.status_code == 200, r.content
    check_utf8_repaired(server, otlp.export_response(r).partial_success, tid, good, bad_id)


def test_invalid_utf8_over_grpc_is_repaired_and_reported(server):
    body, tid, good, bad_id = invalid_utf8_request()
    check_utf8_repaired(server, otlp.grpc_export(server, body).partial_success, tid, good, bad_id)


# --- per-span validation: the rest of the batch is kept ---------------------------------

def test_bad_ids_reject_only_their_spans(server):
    svc = otlp.unique("ids")
    tid = new_trace_id()
    good_a, good_b = new_span_id(), new_span_id()
    spans = [
        span(tid, good_a, "good-a"),
        span(bytes.fromhex(tid)[:15], new_span_id(), "short-trace-id"),
        span("00" * 16, new_span_id(), "zero-trace-id"),
        span(tid, bytes.fromhex(new_span_id()) + b"\x01", "long-span-id"),
        span(tid, "00" * 8, "zero-span-id"),
        span(tid, b"", "no-span-id"),
        span(tid, good_b, "good-b", parent=good_a),
    ]
    r = otlp.post_request(server, otlp.request(spans, svc))
    assert r.status_code == 200, r.content
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 5, ps
    assert "rejected 5 span" in ps.error_message and "trace_id" in ps.error_message and "span_id" in ps.error_message, ps
    t = server.trace(tid)
    assert sorted(s["name"] for s in t["spans"]) == ["good-a", "good-b"]
    assert server.span(tid, good_b)["parent_span_id"] == good_a
    # Nothing was stored under the all-zero trace id.
    assert server.get(f"/api/v1/traces/{'00' * 16}").status_code in (400, 404)
    assert_up(server)


def test_bad_parent_id_rejects_the_span(server):
    tid, good, bad = new_trace_id(), new_span_id(), new_span_id()
    spans = [span(tid, good, "good"), span(tid, bad, "bad-parent", parent=b"\x01\x02\x03")]
    r = otlp.post_request(server, otlp.request(spans, otlp.unique("parent")))
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 1 and "parent_span_id" in ps.error_message, ps
    assert [s["name"] for s in server.trace(tid)["spans"]] == ["good"]


def test_bad_ids_in_json_reject_only_their_spans(server):
    svc = otlp.unique("json-ids")
    tid, good = new_trace_id(), new_span_id()
    doc = otlp.json_request([
        otlp.json_span(tid, good, "good"),
        otlp.json_span("nothex", new_span_id(), "not-hex"),
        otlp.json_span(tid[:30], new_span_id(), "short"),
        otlp.json_span("0" * 32, new_span_id(), "zero"),
        otlp.json_span(tid, "0" * 16, "zero-span"),
    ], svc)
    r = otlp.post_json(server, doc)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith(JSON)
    ps = r.json()["partialSuccess"]
    assert int(ps["rejectedSpans"]) == 4, ps
    assert "trace_id" in ps["errorMessage"] and "span_id" in ps["errorMessage"], ps
    assert [s["name"] for s in server.trace(tid)["spans"]] == ["good"]
    assert_up(server)


def test_absurd_timestamps_reject_only_their_spans(server):
    svc = otlp.unique("times")
    tid = new_trace_id()
    now = now_ns()
    good, soon = new_span_id(), new_span_id()
    spans = [
        span(tid, good, "good", now - 5_000_000_000, now - 4_000_000_000),
        span(tid, new_span_id(), "start-zero", 0, now),
        span(tid, new_span_id(), "epoch-plus-1s", 1_000_000_000, 2_000_000_000),
        span(tid, new_span_id(), "far-future", now + 30 * 86400 * 10**9, now + 31 * 86400 * 10**9),
        span(tid, new_span_id(), "end-before-start", now - 1_000_000_000, now - 2_000_000_000),
        span(tid, new_span_id(), "beyond-2262", 2**63 + 5, 2**63 + 6),
        span(tid, new_span_id(), "year-1999", 946_684_799_000_000_000, 946_684_799_500_000_000),
        # An hour ahead is clock skew, within the default allowance of a day: kept.
        span(tid, soon, "slightly-ahead", now + 3600 * 10**9, now + 3601 * 10**9),
    ]
    r = otlp.post_request(server, otlp.request(spans, svc))
    assert r.status_code == 200, r.content
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 6, ps
    msg = ps.error_message
    for words in ["missing", "before 2000", "future", "before start_time", "and 1 more"]:
        assert words in msg, f"{words!r} not in {msg!r}"
    names = sorted(s["name"] for s in server.trace(tid)["spans"])
    assert names == ["good", "slightly-ahead"]
    assert server.span(tid, good)["start_ns"] == now - 5_000_000_000
    assert_up(server)


# --- caps: accepted, cut visibly, sender told ---------------------------------------------

def test_ten_thousand_attributes_are_capped_at_1024(server):
    tid, sid = new_trace_id(), new_span_id()
    attrs = {f"test.a{i:05d}": i for i in range(10_000)}
    r = otlp.post_request(server, otlp.request([span(tid, sid, "many-attrs", attrs=attrs)], otlp.unique("attrs")))
    assert r.status_code == 200, r.content
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 0, ps
    assert "truncat" in ps.error_message and "8976" in ps.error_message, ps
    got = server.span(tid, sid)["attributes"]
    assert got["spyglass.dropped_attributes_count"] == 10_000 - 1024
    kept = [k for k in got if k.startswith("test.a")]
    assert len(kept) == 1024, len(kept)
    assert "test.a01023" in got and "test.a01024" not in got
    assert got["test.a00000"] == 0
    assert_up(server)


def test_huge_attribute_value_is_cut_with_marker(server):
    tid, sid = new_trace_id(), new_span_id()
    value = "x" * MiB
    r = otlp.post_request(server, otlp.request([span(tid, sid, "huge-value", attrs={"test.big": value, "test.small": "s"})],
                                               otlp.unique("huge")))
    assert r.status_code == 200
    ps = otlp.export_response(r).partial_success
    assert ps.rejected_spans == 0 and ps.error_message, "the sender is told about the cut"
    got = server.span(tid, sid)["attributes"]
    cut = got["test.big"]
    assert cut.startswith("x" * 65536)
    assert "…[truncated" in cut
    assert cut == "x" * 65536 + f"…[truncated {MiB - 65536} bytes]"
    assert got["test.small"] == "s"
    assert_up(server)


def test_huge_input_payload_is_capped(server):
    # input.value (OpenInference) becomes the canonical input, capped at 256 KiB by default.
    tid, sid = new_trace_id(), new_span_id()
    r = otlp.post_request(server, otlp.request([span(tid, sid, "big-input", attrs={"input.value": "é" * MiB})],
                                               otlp.unique("payload")))
    assert r.status_code == 200
    s = server.span(tid, sid)
    assert s["input"].startswith("é" * 1000)
    assert "…[truncated" in s["input"]
    assert len(s["input"].encode()) < 262144 + 64


def _depth(v, key: str) -> tuple[int, object]:
    n = 0
    while isinstance(v, (dict, list)):
        v = v[key] if isinstance(v, dict) else v[0]
        n += 1
    return n, v


@pytest.mark.parametrize("container,levels", [("kvlist", 25), ("kvlist", 50), ("array", 40), ("array", 50)])
def test_deeply_nested_values_are_cut_at_the_depth_limit(server, container, levels):
    # 50 levels of kvlist is 150 nested protobuf messages: a legal OTLP request, which the
    # server must accept and cut at its own depth cap rather than refuse whole.
    tid, sid = new_trace_id(), new_span_id()
    s = span(tid, sid, "deep", attrs={"test.shallow": {"a": {"b": "c"}}})
    body = otlp.request_bytes_with_raw_attributes(s, otlp.unique("deep"), {
        "test.deep": otlp.nested_value_bytes(levels, container),
    })
    r = otlp.post(server, body, PROTOBUF)
    assert r.status_code == 200, r.content[:300]
    assert otlp.export_response(r).partial_success.rejected_spans == 0
    attrs = server.span(tid, sid)["attributes"]
    # max_value_depth = 16: sixteen levels are kept, the seventeenth becomes the marker.
    kept, leaf = _depth(attrs["test.deep"], "k")
    assert leaf == "[depth limit]" and kept == 16, (kept, leaf)
    assert attrs["test.shallow"] == {"a": {"b": "c"}}
    assert_up(server)


def test_depth_cut_is_reported_in_partial_success(server):
    # spyglass.example.toml: excess is cut "never silently, and the sender is told in the
    # OTLP partial-success message".
    tid, sid = new_trace_id(), new_span_id()
    body = otlp.request_bytes_with_raw_attributes(span(tid, sid, "deep"), otlp.unique("deep-told"),
                                                  {"test.deep": otlp.nested_value_bytes(25)})
    r = otlp.post(server, body, PROTOBUF)
    assert r.status_code == 200
    ps = otlp.export_response(r).partial_success
    assert server.span(tid, sid)["attributes"]["test.deep"], "the span is stored"
    assert ps.error_message, "a value cut at the depth limit must be reported in partial_success.error_message"
    assert "depth" in ps.error_message.lower(), ps


# --- OTLP/gRPC ------------------------------------------------------------------------------

def test_grpc_mixed_batch_is_a_partial_success(server):
    svc = otlp.unique("grpc-mixed")
    tid, a, b = new_trace_id(), new_span_id(), new_span_id()
    now = now_ns()
    spans = [
        span(tid, a, "grpc-good-a"),
        span(tid, "00" * 8, "zero-span-id"),
        span(tid, new_span_id(), "start-zero", 0, now),
        span(tid, new_span_id(), "future", now + 10 * 86400 * 10**9, now + 11 * 86400 * 10**9),
        span(tid, b, "grpc-good-b", parent=a),
    ]
    resp = otlp.grpc_export(server, otlp.request(spans, svc))
    assert resp.partial_success.rejected_spans == 3, resp
    assert "span_id" in resp.partial_success.error_message and "future" in resp.partial_success.error_message
    assert sorted(s["name"] for s in server.trace(tid)["spans"]) == ["grpc-good-a", "grpc-good-b"]
    # A clean request gets no partial success at all.
    t2, ids2, req2 = valid_request(svc)
    assert not otlp.grpc_export(server, req2).HasField("partial_success")
    assert server.trace(t2)["trace"]["span_count"] == 2
    assert_up(server)


@pytest.mark.parametrize("body", ["truncated", "garbage"])
def test_grpc_malformed_message_is_invalid_argument(server, body):
    raw = {"truncated": truncated_request, "garbage": lambda: GARBAGE}[body]()
    e = otlp.grpc_error(server, raw)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (e.code(), e.details())
    assert "protobuf" in e.details().lower(), e.details()
    assert_up(server)


@pytest.mark.parametrize("size", [int(1.5 * MiB), 4 * MiB], ids=["1.5x-limit", "4x-limit"])
def test_grpc_oversized_message_is_resource_exhausted(fresh_server, tmp_path, size):
    srv = fresh_server(config(tmp_path, max_request_bytes=MiB)).start()
    req = otlp.request([span(new_trace_id(), new_span_id(), "big", attrs={"pad": "p" * size})], "grpc-big")
    e = otlp.grpc_error(srv, req)
    # RESOURCE_EXHAUSTED, which OTLP exporters do not retry (OUT_OF_RANGE they retry forever).
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (e.code(), e.details())
    assert "limit" in e.details(), e.details()
    assert_up(srv)


# --- logs and metrics are not supported -----------------------------------------------------

@pytest.mark.parametrize("signal", ["logs", "metrics"])
@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_http_logs_and_metrics_are_501(server, signal, content_type):
    body = b"" if content_type == PROTOBUF else b"{}"
    r = otlp.post(server, body, content_type, path=f"/v1/{signal}")
    assert_error(r, 501, content_type, UNIMPLEMENTED, signal, "not supported")


@pytest.mark.parametrize("path,signal", [(otlp.LOGS_EXPORT, "logs"), (otlp.METRICS_EXPORT, "metrics")])
def test_grpc_logs_and_metrics_are_unimplemented(server, path, signal):
    e = otlp.grpc_error(server, b"", path=path)
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
    assert signal in e.details() and "not supported" in e.details(), e.details()
    assert_up(server)


# --- overload: refuse with a retry delay, never lose an acknowledged span -------------------

def _overload_request(service: str, n: int = 8):
    """~2 KiB of spans: more than a whole 1 KiB in-flight budget, so two cannot overlap."""
    tid = new_trace_id()
    ids = [new_span_id() for _ in range(n)]
    spans = [span(tid, sid, f"overload-{i}", attrs={"test.pad": "p" * 200}) for i, sid in enumerate(ids)]
    return tid, ids, otlp.request(spans, service)


def _check_acknowledged(srv, acked: list[tuple[str, list[str]]]) -> None:
    for tid, ids in acked:
        got = {s["span_id"] for s in srv.trace(tid)["spans"]}
        assert got == set(ids), f"acknowledged spans of {tid} lost: {set(ids) - got}"


def test_http_overload_is_503_with_retry_after_and_loses_nothing(fresh_server, tmp_path):
    srv = fresh_server(config(tmp_path, max_in_flight_bytes=1024)).start()
    svc = otlp.unique("overload-http")
    acked: list[tuple[str, list[str]]] = []
    refused: list[requests.Response] = []
    lock = threading.Lock()

    def one(_):
        tid, ids, req = _overload_request(svc)
        r = otlp.post_request(srv, req, timeout=30)
        with lock:
            if r.status_code == 200:
                acked.append((tid, ids))
            else:
                refused.append(r)
        return r.status_code

    rounds = 0
    while rounds < 15 and not (refused and acked):
        with ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(one, range(96)))
        assert set(statuses) <= {200, 503}, statuses
        rounds += 1
    assert refused, "no request was refused with a 1 KiB in-flight budget"
    assert acked, "no request was accepted"
    for r in refused:
        assert r.status_code == 503
        retry = r.headers.get("Retry-After")
        assert retry is not None and retry.isdigit() and int(retry) >= 1, r.headers
        assert_error(r, 503, PROTOBUF, UNAVAILABLE, "retry")
    _check_acknowledged(srv, acked)
    assert_up(srv)


def test_grpc_overload_is_unavailable_with_retry_info_and_loses_nothing(fresh_server, tmp_path):
    srv = fresh_server(config(tmp_path, max_in_flight_bytes=1024)).start()
    svc = otlp.unique("overload-grpc")
    acked: list[tuple[str, list[str]]] = []
    refused: list[grpc.RpcError] = []
    with otlp.grpc_channel(srv) as ch:
        export = otlp.grpc_method(ch)
        rounds = 0
        while rounds < 15 and not (refused and acked):
            batch = [_overload_request(svc) for _ in range(64)]
            futures = [(tid, ids, export.future(req.SerializeToString(), timeout=30)) for tid, ids, req in batch]
            for tid, ids, f in futures:
                try:
                    f.result()
                    acked.append((tid, ids))
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
                    refused.append(e)
            rounds += 1
    assert refused, "no call was refused with a 1 KiB in-flight budget"
    assert acked, "no call was accepted"
    for e in refused:
        assert "retry" in e.details().lower(), e.details()
        info = otlp.retry_info(e)
        assert info is not None, f"no google.rpc.RetryInfo in grpc-status-details-bin: {e.trailing_metadata()}"
        assert info.retry_delay.seconds >= 1 or info.retry_delay.nanos > 0
    _check_acknowledged(srv, acked)
    assert_up(srv)
