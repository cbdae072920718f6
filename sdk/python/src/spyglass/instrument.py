"""Auto-instrumentation of agent frameworks through the maintained OpenInference instrumentors.

Each framework is an optional extra (`pip install "spyglass-sdk[openai,langchain]"`). Asking for
a framework that is not installed, or that Spyglass does not know, logs a message saying what to
install and returns a status: it never raises into the application."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass
from typing import Any

from .errors import logger


@dataclass(frozen=True)
class Framework:
    name: str
    library: str  # the framework's import name: its absence means there is nothing to instrument
    module: str  # the OpenInference instrumentor
    instrumentor: str
    extra: str


FRAMEWORKS: dict[str, Framework] = {
    "openai": Framework("openai", "openai", "openinference.instrumentation.openai", "OpenAIInstrumentor",
                        "openai"),
    "anthropic": Framework("anthropic", "anthropic", "openinference.instrumentation.anthropic",
                           "AnthropicInstrumentor", "anthropic"),
    # LangGraph runs on LangChain's callback system: one instrumentor covers both.
    "langchain": Framework("langchain", "langchain_core", "openinference.instrumentation.langchain",
                           "LangChainInstrumentor", "langchain"),
    "crewai": Framework("crewai", "crewai", "openinference.instrumentation.crewai", "CrewAIInstrumentor",
                        "crewai"),
    "autogen": Framework("autogen", "autogen_agentchat", "openinference.instrumentation.autogen_agentchat",
                         "AutogenAgentChatInstrumentor", "autogen"),
}
ALIASES = {"langgraph": "langchain", "autogen_agentchat": "autogen", "autogen-agentchat": "autogen",
           "crew": "crewai"}

INSTRUMENTED = "instrumented"
ALREADY = "already instrumented"
NOT_INSTALLED = "not installed"
MISSING_INSTRUMENTOR = "instrumentor missing"
UNKNOWN = "unknown"
FAILED = "failed"

_lock = threading.Lock()
_active: dict[str, Any] = {}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def instrument(*frameworks: str) -> dict[str, str]:
    """Turn on auto-instrumentation, e.g. `spyglass.instrument("openai", "langgraph")`.

    With no argument, every known framework that is installed. Returns each framework's status:
    "instrumented", "already instrumented", "not installed", "instrumentor missing", "unknown"
    or "failed". Call after `spyglass.init()` so spans go through Spyglass's provider."""
    from .runtime import get_tracer_provider

    explicit = bool(frameworks)
    wanted = frameworks or tuple(FRAMEWORKS)
    provider = get_tracer_provider()
    results: dict[str, str] = {}
    for raw in wanted:
        key = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        framework = FRAMEWORKS.get(key)
        if framework is None:
            results[raw] = UNKNOWN
            logger.warning("spyglass: cannot instrument %r: unknown framework (known: %s)", raw,
                           ", ".join(sorted([*FRAMEWORKS, *ALIASES])))
            continue
        results[raw] = _instrument_one(framework, provider, explicit)
    return results


def _instrument_one(framework: Framework, provider: Any, explicit: bool) -> str:
    with _lock:
        if framework.name in _active:
            return ALREADY
        if not _installed(framework.library):
            if explicit:
                logger.warning("spyglass: cannot instrument %s: the %s package is not installed",
                               framework.name, framework.library)
            return NOT_INSTALLED
        if not _installed(framework.module):
            logger.warning('spyglass: cannot instrument %s: install its instrumentor with '
                           'pip install "spyglass-sdk[%s]"', framework.name, framework.extra)
            return MISSING_INSTRUMENTOR
        try:
            module = importlib.import_module(framework.module)
            instrumentor = getattr(module, framework.instrumentor)()
            kwargs: dict[str, Any] = {}
            if provider is not None:
                kwargs["tracer_provider"] = provider
            # The framework version check of opentelemetry-instrumentation would silently refuse
            # a version outside the instrumentor's declared range; we prefer trying and reporting.
            instrumentor.instrument(skip_dep_check=True, **kwargs)
        except Exception as exc:
            logger.warning("spyglass: instrumenting %s failed: %r", framework.name, exc)
            return FAILED
        _active[framework.name] = instrumentor
        return INSTRUMENTED


def uninstrument(*frameworks: str) -> None:
    """Undo `instrument` for the given frameworks (all when none given)."""
    with _lock:
        names = [ALIASES.get(f.lower(), f.lower()) for f in frameworks] or list(_active)
        for name in names:
            instrumentor = _active.pop(name, None)
            if instrumentor is None:
                continue
            try:
                instrumentor.uninstrument()
            except Exception as exc:
                logger.warning("spyglass: uninstrumenting %s failed: %r", name, exc)
