"""Shared helpers for building raw OTLP requests (protobuf and OTLP/JSON), sending them over
OTLP/HTTP and OTLP/gRPC, and reading the server's answers. Tests import these instead of
repeating request plumbing."""

from __future__ import annotations

import gzip as _gzip
import json
import select
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterable

import grpc
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# google.rpc.Code values the receivers use.
INVALID_ARGUMENT = 3
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
UNAVAILABLE = 14

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 1, 2, 3


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on the shared server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_trace_id() -> str:
    return uuid.uuid4().hex


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


def now_ns() -> int:
    return time.time_ns()


def _id(v: str | bytes | None) -> bytes:
    if v is None:
        return b""
    return bytes.fromhex(v) if isinstance(v, str) else v


# --- AnyValue / KeyValue ------------------------------------------------------------------

def any_value(v: Any) -> common_pb2.AnyValue:
    if isinstance(v, common_pb2.AnyValue):
        return v
    if isinstance(v, bool):
        return common_pb2.AnyValue(bool_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    if isinstance(v, str):
        return common_pb2.AnyValue(string_value=v)
    if isinstance(v, bytes):
        return common_pb2.AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(x) for x in v]))
    if isinstance(v, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=kvs(v)))
    raise TypeError(f"no AnyValue for {type(v)}")


def kv(key: str, value: Any) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=any_value(value))


def kvs(attrs: dict | Iterable[tuple[str, Any]] | None) -> list[common_pb2.KeyValue]:
    if not attrs:
        return []
    items = attrs.items() if isinstance(attrs, dict) else attrs
    return [kv(k, v) for k, v in items]


# Deeply nested values are hand-encoded: the Python protobuf runtime refuses to build or parse
# messages nested more than 100 levels (each AnyValue level is three messages deep).

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_value_bytes(levels: int, container: str = "kvlist", leaf: str = "bottom") -> bytes:
    """An encoded AnyValue: {"k": {"k": ... leaf}} (kvlist) or [[... leaf]] (array), `levels` deep."""
    v = _field(1, leaf.encode())  # AnyValue.string_value
    for _ in range(levels):
        if container == "kvlist":
            kv_ = _field(1, b"k") + _field(2, v)   # KeyValue{key, value}
            v = _field(6, _field(1, kv_))          # AnyValue.kvlist_value{values}
        else:
            v = _field(5, _field(1, v))            # AnyValue.array_value{values}
    return v


def request_bytes_with_raw_attributes(s: trace_pb2.Span, service: str, raw_attrs: dict[str, bytes]) -> bytes:
    """An encoded ExportTraceServiceRequest of one span plus attributes whose AnyValue is given
    encoded. Repeated fields may be appended to an encoded message, so the layers are built by
    appending fields to each serialized level."""
    span_bytes = s.SerializeToString() + b"".join(
        _field(9, _field(1, k.encode()) + _field(2, v)) for k, v in raw_attrs.items())  # Span.attributes
    rs = resource_spans([], service)
    scope = trace_pb2.ScopeSpans(scope=rs.scope_spans[0].scope).SerializeToString() + _field(2, span_bytes)
    res = trace_pb2.ResourceSpans(resource=rs.resource).SerializeToString() + _field(2, scope)
    return _field(1, res)


# --- Spans and requests -------------------------------------------------------------------

def span(
    trace_id: str | bytes,
    span_id: str | bytes,
    name: str = "op",
    start: int | None = None,
    end: int | None = None,
    parent: str | bytes | None = None,
    attrs: dict | None = None,
    status: int = STATUS_UNSET,
    status_message: str = "",
    kind: int = SPAN_KIND_INTERNAL,
    events: list[trace_pb2.Span.Event] | None = None,
    links: list[trace_pb2.Span.Link] | None = None,
) -> trace_pb2.Span:
    """One OTLP span. `start` defaults to one second ago, `end` to start + 100 ms; pass
    end=0 for a running span."""
    start = now_ns() - 1_000_000_000 if start is None else start
    end = start + 100_000_000 if end is None else end
    return trace_pb2.Span(
        trace_id=_id(trace_id),
        span_id=_id(span_id),
        parent_span_id=_id(parent),
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=kvs(attrs),
        status=trace_pb2.Status(code=status, message=status_message),
        events=events or [],
        links=links or [],
    )


def event(name: str, time_ns: int, attrs: dict | None = None) -> trace_pb2.Span.Event:
    return trace_pb2.Span.Event(name=name, time_unix_nano=time_ns, attributes=kvs(attrs))


def link(trace_id: str, span_id: str, attrs: dict | None = None) -> trace_pb2.Span.Link:
    return trace_pb2.Span.Link(trace_id=_id(trace_id), span_id=_id(span_id), attributes=kvs(attrs))


def resource_spans(
    spans: list[trace_pb2.Span], service: str | None = "tests", resource_attrs: dict | None = None, scope: str = "spyglass.tests"
) -> trace_pb2.ResourceSpans:
    attrs = dict(resource_attrs or {})
    if service is not None:
        attrs.setdefault("service.name", service)
    return trace_pb2.ResourceSpans(
        resource=resource_pb2.Resource(attributes=kvs(attrs)),
        scope_spans=[trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name=scope), spans=spans)],
    )


def request(
    spans: list[trace_pb2.Span], service: str | None = "tests", resource_attrs: dict | None = None
) -> trace_service_pb2.ExportTraceServiceRequest:
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[resource_spans(spans, service, resource_attrs)])


def request_of(*groups: trace_pb2.ResourceSpans) -> trace_service_pb2.ExportTraceServiceRequest:
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=list(groups))


def simple_trace(service: str, n: int = 1, name: str = "op", start: int | None = None) -> tuple[str, list[str], trace_service_pb2.ExportTraceServiceRequest]:
    """A trace of a root and n-1 children; returns (trace_id, span_ids, request)."""
    tid = new_trace_id()
    ids = [new_span_id() for _ in range(n)]
    start = now_ns() - 2_000_000_000 if start is None else start
    spans = [span(tid, ids[0], f"{name}-0", start, start + 1_000_000_000)]
    for i, sid in enumerate(ids[1:], 1):
        spans.append(span(tid, sid, f"{name}-{i}", start + i * 1_000_000, start + i * 1_000_000 + 500_000, parent=ids[0]))
    return tid, ids, request(spans, service)


# --- OTLP/JSON ----------------------------------------------------------------------------

def json_value(v: Any) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [json_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": json_attrs(v)}}
    raise TypeError(type(v))


def json_attrs(attrs: dict | None) -> list[dict]:
    return [{"key": k, "value": json_value(v)} for k, v in (attrs or {}).items()]


def json_span(trace_id: str, span_id: str, name: str = "op", start: int | None = None, end: int | None = None,
              parent: str = "", attrs: dict | None = None) -> dict:
    """An OTLP/JSON span: hex ids, 64-bit integers as strings (the OTLP/JSON encoding)."""
    start = now_ns() - 1_000_000_000 if start is None else start
    end = start + 100_000_000 if end is None else end
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": json_attrs(attrs),
    }


def json_request(spans: list[dict], service: str = "tests") -> dict:
    return {
        "resourceSpans": [{
            "resource": {"attributes": json_attrs({"service.name": service})},
            "scopeSpans": [{"scope": {"name": "spyglass.tests"}, "spans": spans}],
        }]
    }


# --- OTLP/HTTP ----------------------------------------------------------------------------

def post(server, body: bytes, content_type: str | None = PROTOBUF, headers: dict | None = None,
         path: str = "/v1/traces", timeout: float = 60) -> requests.Response:
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    return requests.post(f"{server.otlp_http}{path}", data=body, headers=h, timeout=timeout)


class RawResponse:
    """The parts of requests.Response the tests read, for answers read off a raw socket."""

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code = status_code
        self.headers = requests.structures.CaseInsensitiveDict(headers)
        self.content = content
        self.text = content.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


def post_raw(server, body: bytes, content_type: str, chunked: bool = False, path: str = "/v1/traces",
             timeout: float = 60) -> RawResponse:
    """POSTs over a raw socket and stops sending as soon as the server answers. A server that
    refuses an oversized body answers before reading it and then closes the connection; an
    ordinary client would see that as a broken pipe instead of the answer."""
    host, port = server.otlp_http.removeprefix("http://").rsplit(":", 1)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Type: {content_type}", "Connection: close"]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        pieces = [b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]) for i in range(0, len(body), 65536)]
        payload = b"".join(pieces) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    data = memoryview(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    deadline = time.time() + timeout
    try:
        sent = 0
        while sent < len(data) and time.time() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break  # the answer is here: stop sending
            if writable:
                try:
                    sent += sock.send(data[sent:sent + 262144])
                except (BrokenPipeError, ConnectionResetError):
                    break
        buf = b""
        while time.time() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head_bytes, _, rest = buf.partition(b"\r\n\r\n")
                length = [l for l in head_bytes.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= int(length[0].split(b":")[1]):
                    break
    finally:
        sock.close()
    assert b"\r\n\r\n" in buf, f"no HTTP answer (sent {sent} of {len(data)} bytes): {buf[:200]!r}"
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(l.split(":", 1) for l in lines[1:] if ":" in l)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if "content-length" in {k.lower() for k in headers}:
        n = int(requests.structures.CaseInsensitiveDict(headers)["Content-Length"])
        rest = rest[:n]
    return RawResponse(status, headers, rest)


def post_request(server, req: trace_service_pb2.ExportTraceServiceRequest, gzip: bool = False,
                 timeout: float = 60, session: requests.Session | None = None) -> requests.Response:
    body = req.SerializeToString()
    headers = {"Content-Type": PROTOBUF}
    if gzip:
        body = _gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    poster = session.post if session is not None else requests.post
    return poster(f"{server.otlp_http}/v1/traces", data=body, headers=headers, timeout=timeout)


def post_json(server, doc: Any, timeout: float = 60) -> requests.Response:
    return post(server, json.dumps(doc).encode(), JSON, timeout=timeout)


def send(server, req: trace_service_pb2.ExportTraceServiceRequest) -> trace_service_pb2.ExportTraceServiceResponse:
    """Posts a request that must be accepted whole (200, no partial success)."""
    r = post_request(server, req)
    assert r.status_code == 200, f"export -> {r.status_code}: {r.content[:500]!r}"
    resp = export_response(r)
    assert not resp.HasField("partial_success"), f"unexpected partial success: {resp.partial_success}"
    return resp


def export_response(r: requests.Response) -> trace_service_pb2.ExportTraceServiceResponse:
    """The ExportTraceServiceResponse of a 200 answer to a protobuf request."""
    assert r.headers.get("Content-Type", "").startswith(PROTOBUF), r.headers
    return trace_service_pb2.ExportTraceServiceResponse.FromString(r.content)


def error_status(r: requests.Response, request_content_type: str | None) -> tuple[int, str]:
    """(code, message) of an OTLP/HTTP error body: a protobuf google.rpc.Status for protobuf
    requests, JSON {"code", "message"} otherwise. Asserts the body's encoding matches."""
    ct = r.headers.get("Content-Type", "")
    if request_content_type == PROTOBUF:
        assert ct.startswith(PROTOBUF), f"error body should be protobuf, got {ct!r}: {r.content[:300]!r}"
        st = status_pb2.Status.FromString(r.content)
        return st.code, st.message
    assert ct.startswith(JSON), f"error body should be JSON, got {ct!r}: {r.content[:300]!r}"
    doc = r.json()
    assert set(doc) >= {"code", "message"}, doc
    return int(doc["code"]), doc["message"]


# --- OTLP/gRPC ----------------------------------------------------------------------------

def grpc_channel(server) -> grpc.Channel:
    # Let big test messages through the client; the server's own limit is what is tested.
    return grpc.insecure_channel(
        server.otlp_grpc,
        options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
    )


def grpc_method(channel: grpc.Channel, path: str = TRACE_EXPORT):
    """A unary method that sends raw bytes (so malformed messages can be sent) and decodes
    the ExportTraceServiceResponse."""
    return channel.unary_unary(
        path,
        request_serializer=lambda b: b,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )


def grpc_export(server, body: bytes | trace_service_pb2.ExportTraceServiceRequest, path: str = TRACE_EXPORT,
                timeout: float = 30) -> trace_service_pb2.ExportTraceServiceResponse:
    """Calls Export; raises grpc.RpcError on a non-OK status."""
    if not isinstance(body, bytes):
        body = body.SerializeToString()
    with grpc_channel(server) as ch:
        return grpc_method(ch, path)(body, timeout=timeout)


def grpc_error(server, body: bytes | trace_service_pb2.ExportTraceServiceRequest, path: str = TRACE_EXPORT) -> grpc.RpcError:
    try:
        resp = grpc_export(server, body, path)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"expected a gRPC error, got OK: {resp}")


def retry_info(err: grpc.RpcError) -> error_details_pb2.RetryInfo | None:
    """The google.rpc.RetryInfo carried in grpc-status-details-bin, if any."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(value)
            for d in st.details:
                if d.type_url.endswith("google.rpc.RetryInfo"):
                    info = error_details_pb2.RetryInfo()
                    d.Unpack(info)
                    return info
    return None


# --- Waiting ------------------------------------------------------------------------------

def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Polls `check` until it returns a truthy value; returns it."""
    deadline = time.time() + timeout
    last_exc = None
    while time.time() < deadline:
        try:
            v = check()
            if v:
                return v
        except AssertionError as e:  # checks may assert; keep polling until the deadline
            last_exc = e
        time.sleep(interval)
    if last_exc:
        raise AssertionError(f"timed out waiting for {what}: {last_exc}")
    raise AssertionError(f"timed out waiting for {what}")


def config_file(tmp_path, text: str):
    """A spyglass TOML config file; pass ["--config", str(path)] to the server."""
    path = tmp_path / f"spyglass-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text)
    return path


class Recording(SpanExporter):
    """Wraps an OTLP exporter and keeps the spans whose export returned SUCCESS (which the
    exporters report only for a 2xx / OK answer)."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.acked = []
        self.failed = 0

    def export(self, spans):
        result = self.inner.export(spans)
        with self.lock:
            if result == SpanExportResult.SUCCESS:
                self.acked.extend(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
