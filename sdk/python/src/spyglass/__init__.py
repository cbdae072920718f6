"""Spyglass SDK: trace AI agents with OpenTelemetry and send them to Spyglass.

    import spyglass

    spyglass.init(service_name="support-bot")      # endpoint defaults to http://localhost:4318
    spyglass.instrument("openai", "langgraph")

    @spyglass.observe(kind="agent")
    def answer(question: str) -> str:
        with spyglass.guard(raise_on_block=True):
            pending = spyglass.check_input(question)    # checked in the background
            ...
            pending.wait()                              # GuardrailViolation on "block"
"""

from ._version import __version__
from .context import session
from .errors import ConfigError, SpyglassError
from .guardrails import (
    GuardFinding,
    GuardrailViolation,
    GuardTimeout,
    PendingVerdict,
    Verdict,
    check_input,
    check_output,
    check_tool_output,
    guard,
)
from .instrument import instrument, uninstrument
from .llm import LLMCall, ToolCall, llm_call, record_llm_call, record_tool_call, tool_call
from .observe import observe
from .runtime import flush, get_tracer_provider, init, shutdown, stats
from .scrub import Scrubber, luhn_valid
from .spans import SpanHandle, agent, current_span, span

__all__ = [
    "__version__",
    "ConfigError",
    "GuardFinding",
    "GuardTimeout",
    "GuardrailViolation",
    "LLMCall",
    "PendingVerdict",
    "Scrubber",
    "SpanHandle",
    "SpyglassError",
    "ToolCall",
    "Verdict",
    "agent",
    "check_input",
    "check_output",
    "check_tool_output",
    "current_span",
    "flush",
    "get_tracer_provider",
    "guard",
    "init",
    "instrument",
    "llm_call",
    "luhn_valid",
    "observe",
    "record_llm_call",
    "record_tool_call",
    "session",
    "shutdown",
    "span",
    "stats",
    "tool_call",
    "uninstrument",
]
