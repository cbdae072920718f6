"""Fixtures for the SDK tests.

- `server`: the real `spyglass` binary, started by the repository's black-box harness
  (tests/conftest.py at the repository root: `Server`, binary from $SPYGLASS_BIN).
- `sink`: a local OTLP/HTTP receiver that records every request exactly as it left the process
  and answers what the test scripts (e.g. 503 with Retry-After), for what the server cannot show.
- `configure`: `spyglass.init` with fast test settings and a spool of the test's own; the SDK is
  shut down after each test.

One process holds one global TracerProvider, so every test shares the provider the first `init`
created; each `init` swaps in a fresh export pipeline."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pathlib
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import spyglass

REPO = pathlib.Path(__file__).resolve().parents[3]


def _load_harness() -> Any:
    spec = importlib.util.spec_from_file_location("spyglass_blackbox_harness", REPO / "tests" / "conftest.py")
    assert spec and spec.loader, "the repository's black-box harness (tests/conftest.py) is missing"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
Server = harness.Server
free_port = harness.free_port

SERVICE = "sdk-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = Server(tmp_path_factory.mktemp("server") / "data").start()
    yield srv
    srv.stop()


# --- the sink ---------------------------------------------------------------------------------

def _any_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


@dataclass
class SinkSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    start_ns: int
    end_ns: int
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]


@dataclass
class Received:
    raw: bytes  # the body exactly as sent (compressed or not)
    body: bytes  # decompressed protobuf
    headers: dict[str, str]
    at: float
    request: ExportTraceServiceRequest = field(repr=False, default_factory=ExportTraceServiceRequest)

    def spans(self) -> list[SinkSpan]:
        out = []
        for rs in self.request.resource_spans:
            resource = {kv.key: _any_value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(SinkSpan(
                        name=s.name, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        attributes={kv.key: _any_value(kv.value) for kv in s.attributes},
                        status_code=s.status.code, status_message=s.status.message,
                        start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                        events=[(e.name, {kv.key: _any_value(kv.value) for kv in e.attributes}) for e in s.events],
                        resource=resource))
        return out


class Sink:
    """OTLP/HTTP receiver on a free port. `respond` queues answers; when none is queued it
    answers 200 with an empty ExportTraceServiceResponse."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: "queue.Queue[tuple[int, dict[str, str]]]" = queue.Queue()
        self._cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                body = gzip.decompress(raw) if self.headers.get("content-encoding") == "gzip" else raw
                try:
                    status, headers = sink._answers.get_nowait()
                except queue.Empty:
                    status, headers = 200, {}
                received = Received(raw, body, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                received.request.ParseFromString(body)
                with sink._cond:
                    sink.requests.append(received)
                    sink._cond.notify_all()
                payload = ExportTraceServiceResponse().SerializeToString() if status == 200 else b"refused"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            self._answers.put((status, headers or {}))

    def spans(self) -> list[SinkSpan]:
        with self._cond:
            return [s for r in self.requests for s in r.spans()]

    def finished(self) -> list[SinkSpan]:
        return [s for s in self.spans() if s.end_ns]

    def wait_for(self, predicate: Callable[["Sink"], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"sink: condition not met in {timeout}s; got {len(self.requests)} requests")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


# --- a local OpenAI-compatible API ----------------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-9x7Yz",
    "object": "chat.completion",
    "created": 1_731_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_0ba0d124f1",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "Paris is 14°C and sunny.", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 16, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    },
}


class MockOpenAI:
    """Answers POST /v1/chat/completions like the OpenAI API does, and records the requests.
    `script` queues the completions to return (then COMPLETION for every later call)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[dict[str, Any]] = []
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                mock.requests.append({"path": self.path, "body": body,
                                      "authorization": self.headers.get("authorization")})
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                payload = json.dumps(mock.script.pop(0) if mock.script else COMPLETION).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("x-request-id", "req_123")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mock_openai() -> Iterator[MockOpenAI]:
    m = MockOpenAI()
    yield m
    m.close()


# --- the SDK ----------------------------------------------------------------------------------

@pytest.fixture
def configure(tmp_path: pathlib.Path) -> Iterator[Callable[..., bool]]:
    """`configure(endpoint=..., **options)`: init with fast test settings."""

    def init(**options: Any) -> bool:
        settings: dict[str, Any] = {
            "service_name": SERVICE,
            "batch_delay_ms": 50,
            "spool_path": str(tmp_path / "spool.sqlite3"),
            "retry_initial_backoff_ms": 50,
            "retry_max_backoff_ms": 500,
            "retry_max_elapsed_ms": 3000,
            "timeout_ms": 3000,
            "fail_silently": False,
        }
        settings.update(options)
        return spyglass.init(**settings)

    yield init
    spyglass.shutdown()


def by_name(spans: list[Any], name: str) -> Any:
    matches = [s for s in spans if s.name == name] if spans and hasattr(spans[0], "name") else \
        [s for s in spans if s["name"] == name]
    assert len(matches) == 1, f"expected one span named {name!r}, found {len(matches)}"
    return matches[0]
