"""Session and user context, and carrying context into threads.

The session lives in the OpenTelemetry context (not a module global), so it follows the current
span wherever OpenTelemetry's context goes: into asyncio tasks (which copy contextvars), and into
threads and thread pools once `propagate_threads` has patched them."""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from types import TracebackType
from typing import Any, Callable

from opentelemetry import context as otel_context

from .errors import handle_sdk_error

SESSION_KEY = otel_context.create_key("spyglass-session")


class _SessionInfo:
    __slots__ = ("attributes",)

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes


def current_session_attributes(parent_context: otel_context.Context | None) -> dict[str, str] | None:
    info = otel_context.get_value(SESSION_KEY, parent_context)
    return info.attributes if isinstance(info, _SessionInfo) else None


class session:
    """Every span started inside carries `session.id` (and `user.id`), including the spans of
    auto-instrumented frameworks. Use as `with`, `async with`, or a decorator::

        with spyglass.session("conv-42", user_id="u-7"):
            agent.run(question)
    """

    def __init__(self, session_id: str | None, user_id: str | None = None, **attributes: str) -> None:
        from . import semconv

        attrs: dict[str, str] = {}
        if session_id:
            attrs[semconv.SESSION_ID] = str(session_id)
        if user_id:
            attrs[semconv.USER_ID] = str(user_id)
        attrs.update({k: str(v) for k, v in attributes.items()})
        self._attributes = attrs
        self._tokens: list[object] = []

    def __enter__(self) -> "session":
        try:
            outer = otel_context.get_value(SESSION_KEY)
            merged = {**outer.attributes, **self._attributes} if isinstance(outer, _SessionInfo) else self._attributes
            self._tokens.append(otel_context.attach(otel_context.set_value(SESSION_KEY, _SessionInfo(merged))))
        except Exception as exc:
            self._tokens.append(None)
            handle_sdk_error(exc, "session enter")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        token = self._tokens.pop() if self._tokens else None
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    async def __aenter__(self) -> "session":
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with session(None, **self._attributes_for_copy()):
                    return await fn(*args, **kwargs)
            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with session(None, **self._attributes_for_copy()):
                return fn(*args, **kwargs)
        return run

    def _attributes_for_copy(self) -> dict[str, str]:
        # A fresh session object per call, so concurrent calls do not share the token stack.
        return dict(self._attributes)


# --- threads ------------------------------------------------------------------------------

_patch_lock = threading.Lock()
_original: dict[str, Any] = {}


def _thread_start(self: threading.Thread) -> None:
    # Captured in the parent at start(), as OpenTelemetry's threading instrumentation does, so a
    # thread created earlier but started inside a span is still that span's child.
    self._spyglass_context = contextvars.copy_context()  # type: ignore[attr-defined]
    _original["start"](self)


def _thread_bootstrap_inner(self: threading.Thread) -> None:
    # `_bootstrap_inner` (not `run`) is what the new thread executes, so subclasses that override
    # `run` are covered too.
    ctx = getattr(self, "_spyglass_context", None)
    if ctx is None:
        _original["bootstrap_inner"](self)
        return
    ctx.run(_original["bootstrap_inner"], self)


def _pool_submit(self: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /,
                 *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
    ctx = contextvars.copy_context()
    return _original["submit"](self, ctx.run, fn, *args, **kwargs)


def propagate_into_threads() -> None:
    """Make `threading.Thread` and `ThreadPoolExecutor.submit` (hence `map` and asyncio's
    `run_in_executor`) run in a copy of the caller's context. Idempotent."""
    with _patch_lock:
        if _original:
            return
        _original["start"] = threading.Thread.start
        _original["bootstrap_inner"] = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
        _original["submit"] = concurrent.futures.ThreadPoolExecutor.submit
        threading.Thread.start = _thread_start  # type: ignore[method-assign]
        threading.Thread._bootstrap_inner = _thread_bootstrap_inner  # type: ignore[attr-defined]
        concurrent.futures.ThreadPoolExecutor.submit = _pool_submit  # type: ignore[method-assign,assignment]


def stop_propagating_into_threads() -> None:
    with _patch_lock:
        if not _original:
            return
        threading.Thread.start = _original.pop("start")  # type: ignore[method-assign]
        threading.Thread._bootstrap_inner = _original.pop("bootstrap_inner")  # type: ignore[attr-defined]
        concurrent.futures.ThreadPoolExecutor.submit = _original.pop("submit")  # type: ignore[method-assign]
