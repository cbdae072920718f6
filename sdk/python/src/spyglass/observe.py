"""`@observe`: one span per call of a function, coroutine, generator or async generator.

This is on the application's hot path, so everything that can be worked out once per decorated
function (kind attributes, parameter names) is, and a call costs: one dict copy when there are
arguments to capture, the SDK's `start_span`, a context attach/detach, and `end`."""

from __future__ import annotations

import functools
import inspect
from typing import Any, AsyncGenerator, Awaitable, Callable, Generator, Mapping, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from . import semconv
from .errors import handle_sdk_error, logger
from .runtime import state
from .serialize import to_json_text

F = TypeVar("F", bound=Callable[..., Any])

_OK = Status(StatusCode.OK)
_set_span_in_context = trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach


def error_status(exc: BaseException) -> Status:
    message = str(exc)
    return Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def mark_ok(span: Span) -> None:
    """OK, unless the code inside already set a status (an error it handled, say): OK would
    overwrite it, as the only final status."""
    status = getattr(span, "status", None)
    if status is None or status.status_code is StatusCode.UNSET:
        span.set_status(_OK)


def record_error(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(error_status(exc))


def output_attributes(value: Any, max_bytes: int) -> dict[str, str]:
    text = to_json_text(value, max_bytes)
    mime = semconv.MIME_TEXT if isinstance(value, str) else semconv.MIME_JSON
    return {semconv.OUTPUT_VALUE: text, semconv.OUTPUT_MIME_TYPE: mime}


def resolve_kind(kind: str) -> str:
    """A valid kind; a wrong one is the caller's bug, reported without breaking the caller when
    fail-silently is on."""
    try:
        return semconv.check_kind(kind)
    except ValueError as exc:
        handle_sdk_error(exc, "kind")
        logger.warning("spyglass: %s; using chain", exc)
        return "chain"


class _Spec:
    """What is known about a decorated function before it is ever called."""

    __slots__ = ("name", "static_attributes", "capture_input", "capture_output", "positional",
                 "var_positional", "skip_first")

    def __init__(self, fn: Callable[..., Any], name: str | None, kind: str,
                 capture_input: bool | None, capture_output: bool | None,
                 attributes: Mapping[str, Any] | None) -> None:
        kind = resolve_kind(kind)
        qualname: str = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "function"
        # `Planner.plan`, not `main.<locals>.Planner.plan`: the enclosing function is noise.
        self.name = name or qualname.rsplit("<locals>.", 1)[-1]
        label: str = name or getattr(fn, "__name__", None) or self.name
        self.static_attributes: dict[str, Any] = {**semconv.kind_attributes(kind, label), **(attributes or {})}
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.positional: tuple[str, ...] = ()
        self.var_positional: str | None = None
        self.skip_first = False
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature: positional args by index
            params = []
        self.positional = tuple(p.name for p in params
                                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        self.var_positional = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        # `self` / `cls` say nothing about the call and are often not serializable.
        self.skip_first = bool(self.positional) and self.positional[0] in ("self", "cls")

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.positional
        bound: dict[str, Any] = {}
        extra: list[Any] = []
        for i, value in enumerate(args):
            if i < len(names):
                if i == 0 and self.skip_first:
                    continue
                bound[names[i]] = value
            else:
                extra.append(value)
        if extra:
            bound[self.var_positional or "args"] = extra
        if kwargs:
            bound.update(kwargs)
        return bound

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Span, object] | None:
        if not state.active:
            return None
        cfg = state.config
        attributes = self.static_attributes
        capture = cfg.capture_input if self.capture_input is None else self.capture_input
        if capture and (args or kwargs):
            bound = self.arguments(args, kwargs)
            if bound:
                attributes = dict(attributes)
                attributes[semconv.INPUT_VALUE] = to_json_text(bound, cfg.max_payload_bytes)
                attributes[semconv.INPUT_MIME_TYPE] = semconv.MIME_JSON
        span = state.tracer.start_span(self.name, attributes=attributes)
        return span, _attach(_set_span_in_context(span))

    def wants_output(self) -> bool:
        return state.config.capture_output if self.capture_output is None else self.capture_output

    def finish(self, span: Span, token: object, result: Any) -> None:
        try:
            _detach(token)  # type: ignore[arg-type]
            if result is not None and self.wants_output():
                span.set_attributes(output_attributes(result, state.config.max_payload_bytes))
            mark_ok(span)
            span.end()
        except Exception as exc:
            handle_sdk_error(exc, "observe")

    def fail(self, span: Span, token: object | None, exc: BaseException) -> None:
        try:
            if token is not None:
                _detach(token)  # type: ignore[arg-type]
            record_error(span, exc)
            span.end()
        except Exception as err:
            handle_sdk_error(err, "observe")


def _wrap_function(fn: Callable[..., Any], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def observed(*args: Any, **kwargs: Any) -> Any:
        try:
            started = spec.start(args, kwargs)
        except Exception as exc:
            handle_sdk_error(exc, "observe")
            started = None
        if started is None:
            return fn(*args, **kwargs)
        span, token = started
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            spec.fail(span, token, exc)
            raise
        spec.finish(span, token, result)
        return result

    return observed


def _wrap_coroutine(fn: Callable[..., Awaitable[Any]], spec: _Spec) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def observed(*args: Any, **kwargs: Any) -> Any:
        try:
            started = spec.start(args, kwargs)
        except Exception as exc:
            handle_sdk_error(exc, "observe")
            started = None
        if started is None:
            return await fn(*args, **kwargs)
        span, token = started
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            spec.fail(span, token, exc)
            raise
        spec.finish(span, token, result)
        return result

    return observed


class _Items:
    """Yielded values kept for the span's output, bounded so a long stream costs bounded memory."""

    __slots__ = ("values", "count", "limit")

    def __init__(self, limit: int) -> None:
        self.values: list[Any] = []
        self.count = 0
        self.limit = limit

    def add(self, value: Any) -> None:
        self.count += 1
        if len(self.values) < self.limit:
            self.values.append(value)

    def output(self) -> Any:
        if self.count > len(self.values):
            return [*self.values, f"… {self.count - len(self.values)} more items"]
        return self.values


_MAX_KEPT_ITEMS = 100


def _start_detached(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Span, Any] | None:
    """Start a span for a generator without leaving it attached: a generator runs in steps, in
    whatever context its consumer has, so the span is attached around each step only."""
    try:
        started = spec.start(args, kwargs)
    except Exception as exc:
        handle_sdk_error(exc, "observe")
        return None
    if started is None:
        return None
    span, token = started
    _detach(token)  # type: ignore[arg-type]
    return span, _set_span_in_context(span)


def _end_generator(spec: _Spec, span: Span, items: _Items | None, exc: BaseException | None) -> None:
    try:
        if exc is not None:
            record_error(span, exc)
        else:
            if items is not None and items.count:
                span.set_attributes(output_attributes(items.output(), state.config.max_payload_bytes))
            mark_ok(span)
        span.end()
    except Exception as err:
        handle_sdk_error(err, "observe")


def _wrap_generator(fn: Callable[..., Generator[Any, Any, Any]], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    def observed(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        started = _start_detached(spec, args, kwargs)
        if started is None:
            return (yield from gen)
        span, ctx = started
        items = _Items(_MAX_KEPT_ITEMS) if spec.wants_output() else None
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _attach(ctx)
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(to_send)
            except StopIteration as stop:
                _detach(token)
                _end_generator(spec, span, items, None)
                return stop.value
            except BaseException as exc:
                _detach(token)
                _end_generator(spec, span, items, exc)
                raise
            _detach(token)
            if items is not None:
                items.add(item)
            try:
                to_send = yield item
            except GeneratorExit:
                # The consumer stopped early (break, close): a normal end for a stream.
                token = _attach(ctx)
                try:
                    gen.close()
                finally:
                    _detach(token)
                    _end_generator(spec, span, items, None)
                raise
            except BaseException as exc:
                to_throw = exc

    return observed


def _wrap_async_generator(fn: Callable[..., AsyncGenerator[Any, Any]], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def observed(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        agen = fn(*args, **kwargs)
        started = _start_detached(spec, args, kwargs)
        if started is None:
            async for item in agen:
                yield item
            return
        span, ctx = started
        items = _Items(_MAX_KEPT_ITEMS) if spec.wants_output() else None
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _attach(ctx)
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                _detach(token)
                _end_generator(spec, span, items, None)
                return
            except BaseException as exc:
                _detach(token)
                _end_generator(spec, span, items, exc)
                raise
            _detach(token)
            if items is not None:
                items.add(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = _attach(ctx)
                try:
                    await agen.aclose()
                finally:
                    _detach(token)
                    _end_generator(spec, span, items, None)
                raise
            except BaseException as exc:
                to_throw = exc

    return observed


@overload
def observe(fn: F, /) -> F: ...


@overload
def observe(*, name: str | None = None, kind: semconv.SpanKindName | str = "chain",
            capture_input: bool | None = None, capture_output: bool | None = None,
            attributes: Mapping[str, Any] | None = None) -> Callable[[F], F]: ...


def observe(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
            kind: semconv.SpanKindName | str = "chain", capture_input: bool | None = None,
            capture_output: bool | None = None, attributes: Mapping[str, Any] | None = None) -> Any:
    """Trace every call of the decorated function as a span.

    `kind` is one of agent, chain (default), llm, tool, retriever, embedding, guardrail.
    `capture_input` / `capture_output` override the global options for this function.
    Exceptions are recorded on the span (status error) and re-raised unchanged."""
    if fn is None:
        return lambda f: _decorate(f, name, kind, capture_input, capture_output, attributes)
    return _decorate(fn, name, kind, capture_input, capture_output, attributes)


def _decorate(fn: Callable[..., Any], name: str | None, kind: str, capture_input: bool | None,
              capture_output: bool | None, attributes: Mapping[str, Any] | None) -> Callable[..., Any]:
    spec = _Spec(fn, name, kind, capture_input, capture_output, attributes)
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, spec)
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(fn, spec)
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, spec)
    return _wrap_function(fn, spec)
