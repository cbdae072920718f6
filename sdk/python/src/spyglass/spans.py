"""Context managers for code that is not one function: `span(...)` and `agent(...)`.

Both work with `with` and `async with`, make the span current inside the block, record an
exception escaping the block (status error) and let it propagate."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

from . import semconv
from .errors import handle_sdk_error
from .observe import mark_ok, output_attributes, record_error, resolve_kind
from .runtime import state
from .serialize import to_json_text


class SpanHandle:
    """What a `with` block gets: setters for input, output and attributes of its span."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        return format(self.span.get_span_context().span_id, "016x")

    def set_input(self, value: Any) -> None:
        try:
            self.span.set_attributes({
                semconv.INPUT_VALUE: to_json_text(value, state.config.max_payload_bytes),
                semconv.INPUT_MIME_TYPE: semconv.MIME_TEXT if isinstance(value, str) else semconv.MIME_JSON,
            })
        except Exception as exc:
            handle_sdk_error(exc, "set_input")

    def set_output(self, value: Any) -> None:
        try:
            self.span.set_attributes(output_attributes(value, state.config.max_payload_bytes))
        except Exception as exc:
            handle_sdk_error(exc, "set_output")

    def set_attribute(self, key: str, value: Any) -> None:
        try:
            self.span.set_attribute(key, value)
        except Exception as exc:
            handle_sdk_error(exc, "set_attribute")

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        try:
            self.span.set_attributes(attributes)
        except Exception as exc:
            handle_sdk_error(exc, "set_attributes")

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        try:
            self.span.add_event(name, dict(attributes or {}))
        except Exception as exc:
            handle_sdk_error(exc, "add_event")

    def set_error(self, message: str) -> None:
        """Mark the span failed without an exception (e.g. a guardrail that blocked)."""
        try:
            self.span.set_status(Status(StatusCode.ERROR, message))
        except Exception as exc:
            handle_sdk_error(exc, "set_error")


class _SpanBlock:
    """Shared machinery of the context managers: start on enter, end on exit."""

    _handle_type: type[SpanHandle] = SpanHandle

    def __init__(self, name: str, attributes: dict[str, Any], otel_kind: SpanKind = SpanKind.INTERNAL) -> None:
        self._name = name
        self._attributes = attributes
        self._otel_kind = otel_kind
        self._span: Span | None = None
        self._token: object | None = None

    def _start(self) -> SpanHandle:
        try:
            if not state.active:
                span: Span = NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
            else:
                span = state.tracer.start_span(self._name, kind=self._otel_kind, attributes=self._attributes)
                self._token = otel_context.attach(trace.set_span_in_context(span))
            self._span = span
        except Exception as exc:
            handle_sdk_error(exc, "span start")
            self._span = NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
        return self._handle_type(self._span)

    def _end(self, exc: BaseException | None) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        try:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
            if span is None or not span.is_recording():
                return
            if exc is not None:
                record_error(span, exc)
            else:
                mark_ok(span)
            span.end()
        except Exception as err:
            handle_sdk_error(err, "span end")

    def __enter__(self) -> Any:
        return self._start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._end(exc)

    async def __aenter__(self) -> Any:
        return self._start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._end(exc)


class span(_SpanBlock):
    """A span around a block::

        with spyglass.span("retrieve", kind="retriever", input=query) as s:
            docs = index.search(query)
            s.set_output(docs)
    """

    def __init__(self, name: str, *, kind: semconv.SpanKindName | str = "chain", input: Any = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        kind = resolve_kind(kind)
        attrs: dict[str, Any] = {**semconv.kind_attributes(kind, name), **(attributes or {})}
        if input is not None:
            attrs[semconv.INPUT_VALUE] = to_json_text(input, state.config.max_payload_bytes)
            attrs[semconv.INPUT_MIME_TYPE] = semconv.MIME_TEXT if isinstance(input, str) else semconv.MIME_JSON
        super().__init__(name, attrs)


class agent(_SpanBlock):
    """An agent run, named as the OpenTelemetry GenAI conventions name it
    (`invoke_agent {name}`, `gen_ai.operation.name = invoke_agent`, `gen_ai.agent.name`).
    Sent as "running" when it starts, so a long run shows up before it ends."""

    def __init__(self, name: str, *, agent_id: str | None = None, description: str | None = None,
                 input: Any = None, attributes: Mapping[str, Any] | None = None) -> None:
        attrs: dict[str, Any] = semconv.kind_attributes("agent", name)
        if agent_id:
            attrs[semconv.GEN_AI_AGENT_ID] = agent_id
        if description:
            attrs[semconv.GEN_AI_AGENT_DESCRIPTION] = description
        if input is not None:
            attrs[semconv.INPUT_VALUE] = to_json_text(input, state.config.max_payload_bytes)
            attrs[semconv.INPUT_MIME_TYPE] = semconv.MIME_TEXT if isinstance(input, str) else semconv.MIME_JSON
        attrs.update(attributes or {})
        super().__init__(f"invoke_agent {name}", attrs)


def current_span() -> SpanHandle:
    """The span active here (a non-recording one outside any span)."""
    return SpanHandle(trace.get_current_span())
