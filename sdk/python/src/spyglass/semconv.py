"""Attribute names the SDK writes. Each comes from a published convention that Spyglass (and
other OpenTelemetry backends) read: OpenInference for span kinds and plain input/output, the
OpenTelemetry GenAI conventions for agents, LLM calls and tool calls, and the generic
`session.id` / `user.id`."""

from __future__ import annotations

from typing import Literal

SpanKindName = Literal["agent", "chain", "llm", "tool", "retriever", "embedding", "guardrail"]

KINDS: tuple[str, ...] = ("agent", "chain", "llm", "tool", "retriever", "embedding", "guardrail")

# OpenInference: the only convention with a value for every kind the SDK offers (GenAI has no
# guardrail operation).
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
MIME_JSON = "application/json"
MIME_TEXT = "text/plain"

SESSION_ID = "session.id"
USER_ID = "user.id"

# OpenTelemetry GenAI.
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
# Not an OpenTelemetry name; the one OpenLIT and others use, which Spyglass reads as a reported
# cost (docs/conventions/gen_ai.md).
GEN_AI_USAGE_COST = "gen_ai.usage.cost"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"

# The GenAI operation that means the same as each kind, where the GenAI registry has one.
_OPERATION_BY_KIND = {
    "agent": "invoke_agent",
    "chain": "invoke_workflow",
    "llm": "chat",
    "tool": "execute_tool",
    "retriever": "retrieval",
    "embedding": "embeddings",
}

RUNNING_KINDS = frozenset({"AGENT", "CHAIN"})


def check_kind(kind: str) -> str:
    value = kind.lower()
    if value not in KINDS:
        raise ValueError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    return value


def kind_attributes(kind: str, name: str) -> dict[str, str]:
    """The attributes that mark a span of this kind, for a span named `name`."""
    attrs = {OPENINFERENCE_SPAN_KIND: kind.upper()}
    operation = _OPERATION_BY_KIND.get(kind)
    # LLM, retriever and embedding spans made by @observe wrap user code whose model and messages
    # the SDK does not know; only the kind is claimed. Agents and tools are named.
    if kind == "agent":
        attrs[GEN_AI_OPERATION_NAME] = operation  # type: ignore[assignment]
        attrs[GEN_AI_AGENT_NAME] = name
    elif kind == "tool":
        attrs[GEN_AI_OPERATION_NAME] = operation  # type: ignore[assignment]
        attrs[GEN_AI_TOOL_NAME] = name
    return attrs
