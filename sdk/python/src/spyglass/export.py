"""The exporter behind the BatchSpanProcessor: running snapshots, scrubbing, encoding with the
official OTLP protobuf encoder, sending with retries, and spooling what could not be sent.

Runs on the batch processor's worker thread (or the caller of force_flush), never raises."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .errors import report_background_error, report_background_warning
from .processor import RunningMarker, running_snapshot
from .retry import RetryPolicy, send_with_retry
from .scrub import Scrubber
from .spool import Replayer, Spool
from .transport import Transport


class SpyglassExporter(SpanExporter):
    def __init__(self, transport: Transport, policy: RetryPolicy, timeout: float,
                 scrubber: Scrubber | None, spool: Spool | None, replayer: Replayer | None) -> None:
        self._transport = transport
        self._policy = policy
        self._timeout = timeout
        self._scrubber = scrubber
        self._spool = spool
        self._replayer = replayer
        # Set at shutdown: stop waiting between retries and spool straight away.
        self.stopping = threading.Event()
        self.exported_spans = 0
        self.spooled_spans = 0
        self.dropped_spans = 0

    def _resolve(self, items: Sequence[Any]) -> list[ReadableSpan]:
        spans: list[ReadableSpan] = []
        for item in items:
            if isinstance(item, RunningMarker):
                snapshot = running_snapshot(item.span)
                if snapshot is not None:
                    spans.append(snapshot)
            else:
                spans.append(item)
        return spans

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            return self._export(spans)
        except Exception as exc:  # the worker thread must survive anything
            report_background_error("spyglass: export failed unexpectedly", exc=exc)
            return SpanExportResult.FAILURE

    def _export(self, items: Sequence[Any]) -> SpanExportResult:
        spans = self._resolve(items)
        if not spans:
            return SpanExportResult.SUCCESS
        if self._scrubber is not None:
            spans = self._scrubber.scrub_spans(spans)
        body = encode_spans(spans).SerializeToString()
        if self._spool is not None and self._spool.pending:
            # A backlog exists: join the queue behind it so the server receives batches oldest
            # first, and do not hold the worker thread retrying what the replayer is already
            # probing.
            return self._to_spool(body, len(spans), None)
        outcome = send_with_retry(self._transport, body, self._policy, self._timeout, self.stopping)
        if outcome.ok:
            self.exported_spans += len(spans)
            if outcome.rejected_spans:
                report_background_warning("spyglass: the server rejected %d of %d spans: %s",
                                          outcome.rejected_spans, len(spans), outcome.detail)
            return SpanExportResult.SUCCESS
        if outcome.retryable and self._spool is not None:
            report_background_warning("spyglass: export failed (%s); %d spans spooled to %s",
                                      outcome.detail, len(spans), self._spool.path)
            return self._to_spool(body, len(spans), outcome.retry_after)
        self.dropped_spans += len(spans)
        report_background_error("spyglass: export failed, %d spans dropped: %s", len(spans), outcome.detail)
        return SpanExportResult.FAILURE

    def _to_spool(self, body: bytes, count: int, retry_after: float | None) -> SpanExportResult:
        assert self._spool is not None
        try:
            self._spool.append(body, count)
        except Exception as exc:
            self.dropped_spans += count
            report_background_error("spyglass: could not spool %d spans", count, exc=exc)
            return SpanExportResult.FAILURE
        self.spooled_spans += count
        if self._replayer is not None:
            self._replayer.notify(retry_after)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.stopping.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
