"""Guard checks: a text checked by Spyglass before the agent acts on it, without holding the agent.

    with spyglass.guard(policy={"block_categories": ["secret"]}, raise_on_block=True):
        pending = spyglass.check_input(user_message)     # returns at once
        plan = planner.draft(user_message)               # work goes on meanwhile
        pending.wait()                                   # raises GuardrailViolation on "block"

`check_input`, `check_output` and `check_tool_output` start a `guardrail` span (a child of the
span current at the call site) and hand the check to a small pool of daemon threads, which sends
`POST {api_url}/api/v1/guard/check` and ends the span with the decision. The caller gets a
`PendingVerdict` back immediately; `wait()` blocks for the `Verdict`.

When Spyglass cannot answer (unreachable, an error answer, the check's timeout, the SDK turned
off), the verdict's action is `error` and `fail_open` (default True) decides whether it counts as
allowed. The checked text is put on the span only when the guard found nothing sensitive in it,
or in the server's redacted form: a secret the guard found is never exported."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import os
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as _FutureTimeout
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable, Literal, Mapping, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from . import config as config_mod
from . import semconv
from .context import current_session_attributes
from .errors import logger, report_background_warning
from .runtime import state
from .serialize import cap_text
from .transport import USER_AGENT

Direction = Literal["input", "output", "tool_output"]
DIRECTIONS: tuple[str, ...] = ("input", "output", "tool_output")

# The policy fields the server accepts (`[guard]` section; each check may override any).
POLICY_FIELDS = frozenset({"block_categories", "max_trace_cost_usd", "max_session_cost_usd",
                           "max_loop_repeats"})
CATEGORIES = frozenset({"secret", "pii", "prompt_injection", "loop"})
# Findings of these categories mean the text holds something that must not be exported.
_SENSITIVE = frozenset({"secret", "pii"})

CHECK_PATH = "/api/v1/guard/check"
WORKERS = 4

# Attribute names of the guardrail span (`spyglass.*` is a namespace the server maps).
GUARD_DIRECTION = "spyglass.guard.direction"
GUARD_AGENT = "spyglass.guard.agent"
GUARD_ACTION = "spyglass.guard.action"
GUARD_SCORE = "spyglass.guard.score"
GUARD_DETECTORS = "spyglass.guard.detectors"
GUARD_CATEGORIES = "spyglass.guard.categories"
GUARD_REASONS = "spyglass.guard.reasons"
GUARD_ELAPSED_MS = "spyglass.guard.elapsed_ms"
GUARD_SERVER_ELAPSED_US = "spyglass.guard.server_elapsed_us"
GUARD_POLICY = "spyglass.guard.policy"
GUARD_FAIL_OPEN = "spyglass.guard.fail_open"
GUARD_ERROR = "spyglass.guard.error"


class GuardrailViolation(Exception):
    """Raised by `PendingVerdict.wait()` when the verdict blocks and `raise_on_block` was asked
    for. Not a `SpyglassError`: code that silences SDK errors must not silence a block."""

    def __init__(self, verdict: "Verdict") -> None:
        self.verdict = verdict
        why = "; ".join(verdict.reasons) or verdict.error or verdict.action
        super().__init__(f"guard {verdict.action} ({verdict.direction}): {why}")


class GuardTimeout(TimeoutError):
    """`PendingVerdict.wait(timeout=...)` ran out before the verdict arrived. The check goes on:
    its span still ends with the decision, and a later `wait()` can still get it."""


@dataclass(frozen=True)
class GuardFinding:
    """One detection (the server's `Finding`). `evidence` is masked by the server."""

    category: str
    detector: str
    severity: str
    score: float
    field: str
    start: int
    end: int
    evidence: str
    key: str | None = None
    vector: str | None = None
    encoding: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "GuardFinding":
        return cls(
            category=str(raw.get("category", "")), detector=str(raw.get("detector", "")),
            severity=str(raw.get("severity", "")), score=float(raw.get("score") or 0.0),
            field=str(raw.get("field", "")), start=int(raw.get("start") or 0),
            end=int(raw.get("end") or 0), evidence=str(raw.get("evidence", "")),
            key=raw.get("key"), vector=raw.get("vector"), encoding=raw.get("encoding"),
        )


@dataclass(frozen=True)
class Verdict:
    """What the guard decided about one text.

    `action` is `allow`, `flag` (let through, something was found), `block`, or `error` (no
    decision: Spyglass could not be asked; `error` says why and `fail_open` whether that counts
    as allowed)."""

    action: str
    direction: str
    score: float = 0.0
    findings: tuple[GuardFinding, ...] = ()
    reasons: tuple[str, ...] = ()
    # The text with what was found masked (`[REDACTED:openai_api_key]`); None when nothing was.
    redacted: str | None = None
    # The trace's usage so far and the session's cost, when the server knows them.
    trace: Mapping[str, Any] | None = None
    session_cost_usd: float | None = None
    # From the call to the verdict, as the caller saw it; and the server's own time.
    elapsed_ms: float = 0.0
    server_elapsed_ms: float | None = None
    error: str | None = None
    fail_open: bool = True
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def allowed(self) -> bool:
        """True for allow and flag, and for an error when failing open."""
        if self.action == "error":
            return self.fail_open
        return self.action != "block"

    @property
    def blocked(self) -> bool:
        return not self.allowed

    @property
    def detectors(self) -> tuple[str, ...]:
        """Detector ids of the findings, e.g. `secret.openai_api_key`, in order, no repeats."""
        return tuple(dict.fromkeys(f.detector for f in self.findings))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.category for f in self.findings))


# --- the guard context ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    policy: Mapping[str, Any] = field(default_factory=dict)
    agent: str | None = None
    raise_on_block: bool | None = None
    timeout: float | None = None
    fail_open: bool | None = None
    session_id: str | None = None

    def merged(self, inner: "_Settings") -> "_Settings":
        return _Settings(
            policy={**self.policy, **inner.policy},
            agent=inner.agent if inner.agent is not None else self.agent,
            raise_on_block=inner.raise_on_block if inner.raise_on_block is not None else self.raise_on_block,
            timeout=inner.timeout if inner.timeout is not None else self.timeout,
            fail_open=inner.fail_open if inner.fail_open is not None else self.fail_open,
            session_id=inner.session_id if inner.session_id is not None else self.session_id,
        )


_EMPTY = _Settings()
# The enclosing guard() blocks, innermost last, each already merged with the ones around it. A
# stack in a context variable (not a token list on the guard object): one guard object may be
# entered by many threads and asyncio tasks at once, each with a context of its own.
_stack: contextvars.ContextVar[tuple[_Settings, ...]] = contextvars.ContextVar("spyglass_guard", default=())


def _current() -> _Settings:
    stack = _stack.get()
    return stack[-1] if stack else _EMPTY


def _check_policy(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """Refused here, at the call, rather than as a 400 that a fail-open guard would let through."""
    if policy is None:
        return {}
    if not isinstance(policy, Mapping):
        raise TypeError(f"policy must be a mapping, got {type(policy).__name__}")
    unknown = set(policy) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown guard policy field(s): {', '.join(sorted(map(str, unknown)))}; "
                         f"use {', '.join(sorted(POLICY_FIELDS))}")
    out: dict[str, Any] = {}
    for key, value in policy.items():
        if value is None:
            continue
        if key == "block_categories":
            items = [value] if isinstance(value, str) else list(value)
            bad = [c for c in items if c not in CATEGORIES]
            if bad:
                raise ValueError(f"block_categories: unknown {bad!r}; use {', '.join(sorted(CATEGORIES))}")
            out[key] = items
        elif key == "max_loop_repeats":
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"max_loop_repeats must be a whole number >= 1, got {value!r}")
            out[key] = int(value)
        else:
            number = float(value)
            if isinstance(value, bool) or not (number > 0 and number != float("inf")):
                raise ValueError(f"{key} must be a positive number, got {value!r}")
            out[key] = number
    return out


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    return float(timeout)


class guard:
    """Settings for the guard checks made inside: a `with` / `async with` block, or a decorator.

        with spyglass.guard(policy={"max_trace_cost_usd": 2.0}, agent="planner",
                            raise_on_block=True, timeout=1.0):
            spyglass.check_input(prompt).wait()

    - `policy`: server policy fields (`block_categories`, `max_trace_cost_usd`,
      `max_session_cost_usd`, `max_loop_repeats`); unset ones come from the server's `[guard]`.
    - `agent`: the agent asking, sent with the check and put on its span.
    - `raise_on_block`: `wait()` raises `GuardrailViolation` for a blocking verdict.
    - `timeout`: seconds one check may take, queueing included (default `guard_timeout_ms`).
    - `fail_open`: whether an `error` verdict (Spyglass unreachable...) counts as allowed
      (default True).
    - `session_id`: the session whose cost cap applies (default: the `spyglass.session`).

    Nested blocks inherit what they do not set; policies merge field by field."""

    def __init__(self, policy: Mapping[str, Any] | None = None, *, agent: str | None = None,
                 raise_on_block: bool | None = None, timeout: float | None = None,
                 fail_open: bool | None = None, session_id: str | None = None) -> None:
        self._settings = _Settings(policy=_check_policy(policy), agent=agent, raise_on_block=raise_on_block,
                                   timeout=_check_timeout(timeout), fail_open=fail_open,
                                   session_id=session_id)

    def _push(self) -> "contextvars.Token[tuple[_Settings, ...]]":
        stack = _stack.get()
        return _stack.set((*stack, (stack[-1] if stack else _EMPTY).merged(self._settings)))

    def __enter__(self) -> "guard":
        self._push()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        stack = _stack.get()
        if stack:
            _stack.set(stack[:-1])

    async def __aenter__(self) -> "guard":
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = self._push()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _stack.reset(token)
            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = self._push()
            try:
                return fn(*args, **kwargs)
            finally:
                _stack.reset(token)
        return run


# --- the pending verdict --------------------------------------------------------------------

class PendingVerdict:
    """A check on its way. `wait()` for the `Verdict` (or `await` it)."""

    __slots__ = ("direction", "trace_id", "span_id", "_future", "_raise_on_block")

    def __init__(self, direction: str, trace_id: str | None, span_id: str | None,
                 raise_on_block: bool) -> None:
        self.direction = direction
        # The guardrail span's ids (None when the SDK records nothing).
        self.trace_id = trace_id
        self.span_id = span_id
        self._raise_on_block = raise_on_block
        self._future: Future[Verdict] = Future()
        # Running, so an `await` that is cancelled cannot cancel the check itself.
        self._future.set_running_or_notify_cancel()

    def done(self) -> bool:
        return self._future.done()

    def _settle(self, verdict: Verdict) -> Verdict:
        if self._raise_on_block and verdict.blocked:
            raise GuardrailViolation(verdict)
        return verdict

    def wait(self, timeout: float | None = None) -> Verdict:
        """The verdict, waiting up to `timeout` seconds for it (None: until the check ends,
        which its own timeout bounds). Raises `GuardTimeout` when `timeout` runs out, and
        `GuardrailViolation` for a blocking verdict when `raise_on_block` was asked for."""
        try:
            verdict = self._future.result(timeout)
        except _FutureTimeout:
            raise GuardTimeout(f"guard check ({self.direction}) not answered within {timeout}s") from None
        return self._settle(verdict)

    async def wait_async(self, timeout: float | None = None) -> Verdict:
        """`wait` for asyncio code: does not block the event loop."""
        waiter = asyncio.shield(asyncio.wrap_future(self._future))
        try:
            verdict = await (asyncio.wait_for(waiter, timeout) if timeout is not None else waiter)
        except asyncio.TimeoutError:
            raise GuardTimeout(f"guard check ({self.direction}) not answered within {timeout}s") from None
        return self._settle(verdict)

    def __await__(self) -> Any:
        return self.wait_async().__await__()

    def __repr__(self) -> str:
        if self._future.done():
            return f"<PendingVerdict {self.direction}: {self._future.result().action}>"
        return f"<PendingVerdict {self.direction}: pending>"


# --- the worker pool ------------------------------------------------------------------------

# Test hook: called on the worker thread before each request (e.g. to hold the pool).
_before_request: Callable[[], None] | None = None


@dataclass
class _Job:
    """One check, as captured at the call."""

    text: str
    direction: str
    payload: dict[str, Any]
    span: Span
    pending: PendingVerdict
    started: float
    deadline: float
    fail_open: bool
    api_url: str
    headers: dict[str, str]
    capture_input: bool
    max_payload_bytes: int
    disabled: bool


class _Pool:
    """A few daemon threads fed by a queue: a check never waits for a thread to start, and the
    process never waits for a check at exit."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._queue: "queue.SimpleQueue[_Job]" = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def submit(self, job: _Job) -> None:
        if len(self._threads) < self._workers:
            self._grow()
        self._queue.put(job)

    def _grow(self) -> None:
        with self._lock:
            while len(self._threads) < self._workers:
                t = threading.Thread(target=self._run, name=f"spyglass-guard-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)

    def reset_after_fork(self) -> None:
        self._queue = queue.SimpleQueue()
        self._threads = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.headers.update({"user-agent": USER_AGENT, "content-type": "application/json"})
            self._local.session = session
        return session

    def _run(self) -> None:
        # A context of its own, whatever context started the thread: the SDK's own HTTP calls
        # are not the application's, so instrumentations must not trace them.
        ctx = otel_context.Context()
        for name in ("_SUPPRESS_INSTRUMENTATION_KEY", "_SUPPRESS_HTTP_INSTRUMENTATION_KEY"):
            key = getattr(otel_context, name, None)
            if isinstance(key, str):
                ctx = otel_context.set_value(key, True, ctx)
        otel_context.attach(ctx)
        while True:
            job = self._queue.get()
            try:
                verdict = self._check(job)
            except BaseException as exc:  # never leave a caller waiting forever
                verdict = _error_verdict(job, f"{type(exc).__name__}: {exc}")
            _finish(job, verdict)

    def _check(self, job: _Job) -> Verdict:
        if job.disabled:
            return _error_verdict(job, "the Spyglass SDK is disabled")
        hook = _before_request
        if hook is not None:
            hook()
        remaining = job.deadline - time.monotonic()
        if remaining <= 0:
            return _error_verdict(job, "timed out before the check could be sent")
        import requests

        try:
            response = self._session().post(job.api_url + CHECK_PATH, json=job.payload, headers=job.headers,
                                            timeout=remaining)
        except requests.RequestException as exc:
            return _error_verdict(job, f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            detail = response.text[:300]
            try:
                detail = response.json()["error"]["message"]
            except Exception:
                pass
            return _error_verdict(job, f"HTTP {response.status_code}: {detail}")
        try:
            body = response.json()
            return Verdict(
                action=str(body["action"]),
                direction=job.direction,
                score=float(body.get("score") or 0.0),
                findings=tuple(GuardFinding.from_json(f) for f in body.get("findings") or ()),
                reasons=tuple(str(r) for r in body.get("reasons") or ()),
                redacted=body.get("redacted"),
                trace=body.get("trace"),
                session_cost_usd=body.get("session_cost_usd"),
                elapsed_ms=_elapsed_ms(job),
                server_elapsed_ms=(body["elapsed_us"] / 1000) if body.get("elapsed_us") is not None else None,
                fail_open=job.fail_open,
                trace_id=job.pending.trace_id,
                span_id=job.pending.span_id,
            )
        except (ValueError, KeyError, TypeError) as exc:
            return _error_verdict(job, f"unreadable answer: {exc}")


_pool = _Pool(WORKERS)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.reset_after_fork)


def _elapsed_ms(job: _Job) -> float:
    return (time.monotonic() - job.started) * 1000


def _error_verdict(job: _Job, detail: str) -> Verdict:
    report_background_warning("spyglass: guard check (%s) failed, failing %s: %s", job.direction,
                              "open" if job.fail_open else "closed", detail)
    return Verdict(action="error", direction=job.direction,
                   reasons=(f"guard unavailable: {detail}",), error=detail, elapsed_ms=_elapsed_ms(job),
                   fail_open=job.fail_open, trace_id=job.pending.trace_id, span_id=job.pending.span_id)


def _span_text(job: _Job, verdict: Verdict) -> str | None:
    """What of the checked text may go on the span: the redacted form, or the text itself when
    the guard looked at it and found nothing that must not leave the process."""
    if not job.capture_input or verdict.action == "error":
        return None
    if verdict.redacted is not None:
        return verdict.redacted
    if any(f.category in _SENSITIVE for f in verdict.findings):
        return None
    return job.text


def _finish(job: _Job, verdict: Verdict) -> None:
    span: Span = job.span
    try:
        if span.is_recording():
            attrs: dict[str, Any] = {
                GUARD_ACTION: verdict.action,
                GUARD_SCORE: float(verdict.score),
                GUARD_DETECTORS: list(verdict.detectors),
                GUARD_CATEGORIES: list(verdict.categories),
                GUARD_REASONS: list(verdict.reasons),
                GUARD_ELAPSED_MS: round(verdict.elapsed_ms, 3),
                GUARD_FAIL_OPEN: verdict.fail_open,
                semconv.OUTPUT_VALUE: verdict.action,
                semconv.OUTPUT_MIME_TYPE: semconv.MIME_TEXT,
            }
            if verdict.server_elapsed_ms is not None:
                attrs[GUARD_SERVER_ELAPSED_US] = int(round(verdict.server_elapsed_ms * 1000))
            if verdict.error is not None:
                attrs[GUARD_ERROR] = verdict.error
            text = _span_text(job, verdict)
            if text is not None:
                attrs[semconv.INPUT_VALUE] = cap_text(text, job.max_payload_bytes)
                attrs[semconv.INPUT_MIME_TYPE] = semconv.MIME_TEXT
            span.set_attributes(attrs)
            if verdict.blocked or verdict.action == "error":
                # A block is the guard doing its job, but it stopped the agent; an error means no
                # decision was made (even when failing open). Both are what a reader looks for.
                why = verdict.reasons[0] if verdict.reasons else verdict.action
                span.set_status(Status(StatusCode.ERROR, f"guard {verdict.action}: {why}"))
            else:
                span.set_status(Status(StatusCode.OK))
            span.end()
    except Exception as exc:
        report_background_warning("spyglass: guard span failed: %r", exc)
    try:
        job.pending._future.set_result(verdict)
    except Exception as exc:  # already settled: nothing to do
        logger.debug("spyglass: guard verdict set twice: %r", exc)


# --- the checks -----------------------------------------------------------------------------

def _config() -> config_mod.Config:
    """The options `init` resolved; before `init`, the environment's (api_url...)."""
    if state.pipeline is not None or state.provider is not None or not state.active:
        return state.config
    global _env_config
    if _env_config is None:
        try:
            _env_config = config_mod.load({})
        except Exception:
            _env_config = config_mod.Config()
    return _env_config


_env_config: config_mod.Config | None = None


def _check(text: str, direction: str, policy: Mapping[str, Any] | None, agent: str | None,
           raise_on_block: bool | None, timeout: float | None, fail_open: bool | None,
           session_id: str | None) -> PendingVerdict:
    if not isinstance(text, str):
        raise TypeError(f"the text to check must be a str, got {type(text).__name__}")
    settings = _current().merged(_Settings(
        policy=_check_policy(policy), agent=agent, raise_on_block=raise_on_block,
        timeout=_check_timeout(timeout), fail_open=fail_open, session_id=session_id))
    started = time.monotonic()
    cfg = _config()
    open_ = True if settings.fail_open is None else bool(settings.fail_open)
    limit = settings.timeout if settings.timeout is not None else cfg.guard_timeout_ms / 1000

    parent = otel_context.get_current()
    session = settings.session_id
    if session is None:
        session = (current_session_attributes(parent) or {}).get(semconv.SESSION_ID)

    start_attrs: dict[str, Any] = {semconv.OPENINFERENCE_SPAN_KIND: "GUARDRAIL", GUARD_DIRECTION: direction}
    if settings.agent:
        start_attrs[GUARD_AGENT] = settings.agent
    if settings.policy:
        start_attrs[GUARD_POLICY] = json.dumps(settings.policy, sort_keys=True, separators=(",", ":"))
    active = state.active and cfg.enabled
    try:
        span = state.tracer.start_span(f"guard.check_{direction}", context=parent, attributes=start_attrs) \
            if active else trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    except Exception as exc:
        logger.debug("spyglass: guard span start failed", exc_info=exc)
        span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    span_ctx = span.get_span_context()
    if not span_ctx.is_valid:
        span_ctx = trace.get_current_span(parent).get_span_context()
    trace_id = format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None
    span_id = format(span.get_span_context().span_id, "016x") if span.get_span_context().is_valid else None

    payload: dict[str, Any] = {"text": text, "direction": direction}
    if trace_id:
        payload["trace_id"] = trace_id
    if session:
        payload["session_id"] = str(session)
    if settings.agent:
        payload["agent"] = settings.agent
    if settings.policy:
        payload["policy"] = dict(settings.policy)
    headers = {"authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}

    pending = PendingVerdict(direction, trace_id, span_id, bool(settings.raise_on_block))
    job = _Job(text=text, direction=direction, payload=payload, span=span, pending=pending, started=started,
               deadline=started + limit, fail_open=open_, api_url=cfg.api_url, headers=headers,
               capture_input=cfg.capture_input, max_payload_bytes=cfg.max_payload_bytes,
               disabled=not active)
    _pool.submit(job)
    return pending


def check_input(text: str, *, policy: Mapping[str, Any] | None = None, agent: str | None = None,
                raise_on_block: bool | None = None, timeout: float | None = None,
                fail_open: bool | None = None, session_id: str | None = None) -> PendingVerdict:
    """Check a prompt on its way to a model (direct prompt injection, secrets, PII, the trace's
    and session's caps). Returns at once; keyword arguments override the enclosing `guard()`."""
    return _check(text, "input", policy, agent, raise_on_block, timeout, fail_open, session_id)


def check_output(text: str, *, policy: Mapping[str, Any] | None = None, agent: str | None = None,
                 raise_on_block: bool | None = None, timeout: float | None = None,
                 fail_open: bool | None = None, session_id: str | None = None) -> PendingVerdict:
    """Check a model's answer on its way out (secrets and personal data it may leak)."""
    return _check(text, "output", policy, agent, raise_on_block, timeout, fail_open, session_id)


def check_tool_output(text: str, *, policy: Mapping[str, Any] | None = None, agent: str | None = None,
                      raise_on_block: bool | None = None, timeout: float | None = None,
                      fail_open: bool | None = None, session_id: str | None = None) -> PendingVerdict:
    """Check content the agent read (a tool result, a document, a web page) before it enters a
    prompt (indirect prompt injection, secrets, PII)."""
    return _check(text, "tool_output", policy, agent, raise_on_block, timeout, fail_open, session_id)


__all__: Sequence[str] = (
    "GuardFinding", "GuardTimeout", "GuardrailViolation", "PendingVerdict", "Verdict", "check_input",
    "check_output", "check_tool_output", "guard",
)
