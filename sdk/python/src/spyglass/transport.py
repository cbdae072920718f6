"""Send one encoded OTLP request and classify the answer the way the OTLP specification does.

The transports do not retry; `retry.py` decides what happens next from the `Outcome`."""

from __future__ import annotations

import gzip
import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Mapping, Protocol

from ._version import __version__

# OTLP/HTTP: "429, 502, 503 and 504 are retryable"; everything else that is not 2xx is not.
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})

USER_AGENT = f"spyglass-sdk-python/{__version__}"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    # The server's own wait hint (Retry-After / RetryInfo), seconds.
    retry_after: float | None = None
    detail: str = ""
    # OTLP partial success: spans the server refused, and why.
    rejected_spans: int = 0


class Transport(Protocol):
    def send(self, body: bytes, timeout: float) -> Outcome: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(when.timestamp() - time.time(), 0.0)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _partial_success(body: bytes) -> tuple[int, str]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    if not body:
        return 0, ""
    try:
        response = ExportTraceServiceResponse.FromString(body)
    except Exception:
        return 0, ""
    partial = response.partial_success
    return int(partial.rejected_spans), partial.error_message


class HttpTransport:
    """OTLP/HTTP with protobuf bodies, over one pooled `requests` session."""

    def __init__(self, url: str, headers: Mapping[str, str], compression: str) -> None:
        import requests

        self._url = url
        self._gzip = compression == "gzip"
        self._session = requests.Session()
        self._session.headers.update({
            "content-type": "application/x-protobuf",
            "user-agent": USER_AGENT,
            **({"content-encoding": "gzip"} if self._gzip else {}),
            **headers,
        })

    def send(self, body: bytes, timeout: float) -> Outcome:
        import requests

        data = gzip.compress(body, compresslevel=6) if self._gzip else body
        try:
            response = self._session.post(self._url, data=data, timeout=max(timeout, 0.001))
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Not reaching the server at all is transient by nature (the server restarting, a
            # network blip): retry, and spool if it lasts.
            return Outcome(False, retryable=True, detail=f"{type(exc).__name__}: {exc}")
        except requests.RequestException as exc:
            return Outcome(False, retryable=False, detail=f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            rejected, message = _partial_success(response.content)
            return Outcome(True, detail=message, rejected_spans=rejected)
        retryable = status in RETRYABLE_HTTP
        return Outcome(
            False,
            retryable=retryable,
            retry_after=parse_retry_after(response.headers.get("retry-after")) if retryable else None,
            detail=f"HTTP {status}: {response.text[:300]}",
        )

    def close(self) -> None:
        self._session.close()


class GrpcTransport:
    """OTLP/gRPC through the official generated stub (`grpc` extra)."""

    # The OTLP specification's retryable codes. RESOURCE_EXHAUSTED only when the server says
    # when to come back (RetryInfo), i.e. it is a temporary overload and not a hard limit.
    _RETRYABLE = frozenset({"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE",
                            "UNAVAILABLE", "DATA_LOSS"})

    def __init__(self, target: str, headers: Mapping[str, str], compression: str, insecure: bool = True) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        self._grpc = grpc
        options = [("grpc.primary_user_agent", USER_AGENT)]
        self._compression = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        if insecure:
            self._channel = grpc.insecure_channel(target, options=options, compression=self._compression)
        else:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options,
                                                compression=self._compression)
        self._export = self._channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        del trace_service_pb2_grpc  # imported only to fail early when the extra is missing
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())

    def send(self, body: bytes, timeout: float) -> Outcome:
        grpc = self._grpc
        try:
            response = self._export(body, timeout=max(timeout, 0.001), metadata=self._metadata)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            retry_after = _grpc_retry_delay(exc)
            retryable = name in self._RETRYABLE or (name == "RESOURCE_EXHAUSTED" and retry_after is not None)
            details = exc.details() if hasattr(exc, "details") else str(exc)
            return Outcome(False, retryable=retryable, retry_after=retry_after if retryable else None,
                           detail=f"gRPC {name}: {details}")
        rejected, message = _partial_success(response)
        return Outcome(True, detail=message, rejected_spans=rejected)

    def close(self) -> None:
        self._channel.close()


def _grpc_retry_delay(exc: BaseException) -> float | None:
    """RetryInfo from the `grpc-status-details-bin` trailer, as the spec asks clients to honour."""
    trailers = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        try:
            from google.rpc import error_details_pb2, status_pb2

            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        except Exception:
            return None
    return None


def make_transport(protocol: str, endpoint: str, headers: Mapping[str, str], compression: str) -> Transport:
    if protocol == "grpc":
        scheme, _, target = endpoint.partition("://")
        return GrpcTransport(target, headers, compression, insecure=scheme != "https")
    return HttpTransport(endpoint, headers, compression)
