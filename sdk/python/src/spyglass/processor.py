"""The span processor Spyglass adds to the TracerProvider.

On the application thread it does the least it can: stamp session attributes on a starting span,
and queue finished spans (plus, for agent, chain and root spans, a marker that the span started)
into the OpenTelemetry SDK's own BatchSpanProcessor. Everything else, including deciding whether a
started span is still running and worth sending as "running", happens on the export thread."""

from __future__ import annotations

from typing import Any, Callable

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import semconv
from .context import SESSION_KEY


class RunningMarker:
    """Queued when a long-lived span starts. The exporter turns it into a snapshot with no end
    time (which the server stores as running) only if the span is still open by then, so spans
    that finish within one batch delay cost nothing extra on the wire."""

    __slots__ = ("span", "context")

    def __init__(self, span: Span) -> None:
        self.span = span
        # BatchSpanProcessor.on_end reads `.context` to check sampling.
        self.context = span.context


def running_snapshot(span: Span) -> ReadableSpan | None:
    """A copy of a live span as it is now, without an end time; None if it has ended."""
    if span.end_time is not None:
        return None
    # The span's own lock is what set_attribute holds, so the copy is consistent.
    lock = getattr(span, "_lock", None)
    if lock is not None:
        with lock:
            if span.end_time is not None:
                return None
            attributes = dict(span.attributes or {})
            events = tuple(span.events)
    else:
        attributes = dict(span.attributes or {})
        events = tuple(span.events)
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=tuple(span.links),
        kind=span.kind,
        start_time=span.start_time,
        end_time=None,
        instrumentation_scope=span.instrumentation_scope,
    )


def _kind_at_start(span: Span) -> str | None:
    attributes = span.attributes
    kind = attributes.get(semconv.OPENINFERENCE_SPAN_KIND) if attributes else None
    return kind if isinstance(kind, str) else None


class SpyglassSpanProcessor(SpanProcessor):
    def __init__(self, batcher: BatchSpanProcessor, running_spans: bool) -> None:
        self._batcher = batcher
        self._running_spans = running_spans

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        info: Any = otel_context.get_value(SESSION_KEY, parent_context)
        if info is not None:
            span.set_attributes(info.attributes)
        if self._running_spans and (
            span.parent is None
            or _kind_at_start(span) in semconv.RUNNING_KINDS
        ):
            self._batcher.on_end(RunningMarker(span))  # type: ignore[arg-type]

    def on_end(self, span: ReadableSpan) -> None:
        self._batcher.on_end(span)

    def shutdown(self) -> None:
        self._batcher.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._batcher.force_flush(timeout_millis)


class Router(SpanProcessor):
    """Added to a TracerProvider once; forwards to the current pipeline. A TracerProvider cannot
    drop a processor, so re-running `init` swaps what this points at instead of adding more."""

    def __init__(self, shutdown_hook: Callable[[], None]) -> None:
        self.target: SpanProcessor | None = None
        # The application shutting its provider down must run Spyglass's orderly shutdown
        # (stop retry waits, spool the rest), not just the batch processor's.
        self._shutdown_hook = shutdown_hook

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        target = self.target
        if target is not None:
            try:
                target.on_start(span, parent_context)
            except Exception:
                # A processor error must not fail the application's span; export health is
                # reported from the export thread.
                pass

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is not None:
            try:
                target.on_end(span)
            except Exception:
                pass

    def shutdown(self) -> None:
        if self.target is not None:
            self._shutdown_hook()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        target = self.target
        return target.force_flush(timeout_millis) if target is not None else True
