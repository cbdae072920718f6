"""Recording LLM calls and tool calls by hand, in OpenTelemetry GenAI attribute names.

For code that calls a model or a tool without a framework Spyglass can instrument. Messages may
be given in the OpenAI chat shape (`{"role", "content", "tool_calls", "tool_call_id"}`), as
plain strings, or already in the GenAI `parts` shape; they are written as the GenAI
`gen_ai.input.messages` / `gen_ai.output.messages` JSON."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from opentelemetry.trace import SpanKind

from . import semconv
from .errors import handle_sdk_error
from .runtime import state
from .serialize import cap_text, to_json_text, to_jsonable
from .spans import SpanHandle, _SpanBlock

Message = Mapping[str, Any]


def _text_of(content: Any) -> list[dict[str, Any]]:
    """OpenAI content (a string or a list of parts) as GenAI parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, (list, tuple)) else [content]:
        if isinstance(part, str):
            parts.append({"type": "text", "content": part})
        elif isinstance(part, Mapping):
            kind = part.get("type")
            if kind in ("text", "input_text", "output_text"):
                parts.append({"type": "text", "content": part.get("text", part.get("content", ""))})
            elif "content" in part and kind not in (None, "text"):
                parts.append(dict(to_jsonable(part)))
            else:
                parts.append({"type": str(kind or "unknown")})
    return parts


def _arguments(value: Any) -> Any:
    # GenAI wants structured arguments; OpenAI gives a JSON string. Keep a string that is not JSON.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return to_jsonable(value)


def to_genai_message(message: Message | str, default_role: str) -> dict[str, Any]:
    if isinstance(message, str):
        return {"role": default_role, "parts": [{"type": "text", "content": message}]}
    if "parts" in message:
        return dict(to_jsonable(message))
    role = str(message.get("role") or default_role)
    parts = _text_of(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append({
            "type": "tool_call",
            "id": call.get("id"),
            "name": function.get("name", call.get("name", "")),
            "arguments": _arguments(function.get("arguments", call.get("arguments"))),
        })
    if role == "tool" or message.get("tool_call_id"):
        response = message.get("content")
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                  "response": response if isinstance(response, str) else to_jsonable(response)}]
    out: dict[str, Any] = {"role": role, "parts": parts}
    if message.get("name"):
        out["name"] = message["name"]
    if message.get("finish_reason"):
        out["finish_reason"] = message["finish_reason"]
    return out


def messages_json(messages: Sequence[Message | str] | Message | str, default_role: str,
                  finish_reasons: Sequence[str] | None = None) -> str:
    items = [messages] if isinstance(messages, (str, Mapping)) else list(messages)
    converted = [to_genai_message(m, default_role) for m in items]
    if finish_reasons:
        for message, reason in zip(converted, finish_reasons):
            message.setdefault("finish_reason", reason)
    text = json.dumps(converted, ensure_ascii=False, separators=(",", ":"))
    return cap_text(text, state.config.max_payload_bytes)


def usage_attributes(input_tokens: int | None = None, output_tokens: int | None = None,
                     cache_read_tokens: int | None = None, cache_write_tokens: int | None = None,
                     reasoning_tokens: int | None = None, cost_usd: float | None = None) -> dict[str, Any]:
    """Token counts as GenAI defines them: input includes cached tokens, output includes
    reasoning tokens. Unknown counts are left out, never written as 0."""
    attrs: dict[str, Any] = {}
    for key, value in ((semconv.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
                       (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
                       (semconv.GEN_AI_USAGE_CACHE_READ, cache_read_tokens),
                       (semconv.GEN_AI_USAGE_CACHE_CREATION, cache_write_tokens),
                       (semconv.GEN_AI_USAGE_REASONING, reasoning_tokens)):
        if value is not None:
            attrs[key] = int(value)
    if cost_usd is not None:
        attrs[semconv.GEN_AI_USAGE_COST] = float(cost_usd)
    return attrs


class LLMCall(SpanHandle):
    """Handle of an `llm_call` block."""

    __slots__ = ()

    def set_response(self, *, output: Sequence[Message | str] | Message | str | None = None,
                     response_model: str | None = None, response_id: str | None = None,
                     input_tokens: int | None = None, output_tokens: int | None = None,
                     cache_read_tokens: int | None = None, cache_write_tokens: int | None = None,
                     reasoning_tokens: int | None = None, cost_usd: float | None = None,
                     finish_reasons: Sequence[str] | None = None) -> None:
        """What the model answered and what it cost. `cost_usd` only when the provider reported
        it; otherwise Spyglass prices the call from the model and tokens."""
        try:
            attrs = usage_attributes(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                                     reasoning_tokens, cost_usd)
            if response_model:
                attrs[semconv.GEN_AI_RESPONSE_MODEL] = response_model
            if response_id:
                attrs[semconv.GEN_AI_RESPONSE_ID] = response_id
            if finish_reasons:
                attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = list(finish_reasons)
            if output is not None and state.config.capture_output:
                attrs[semconv.GEN_AI_OUTPUT_MESSAGES] = messages_json(output, "assistant", finish_reasons)
            self.span.set_attributes(attrs)
        except Exception as exc:
            handle_sdk_error(exc, "set_response")


class llm_call(_SpanBlock):
    """One call to a model::

        with spyglass.llm_call("gpt-4o", provider="openai", messages=msgs) as call:
            r = client.chat.completions.create(model="gpt-4o", messages=msgs)
            call.set_response(output=[r.choices[0].message.model_dump()], response_model=r.model,
                              input_tokens=r.usage.prompt_tokens, output_tokens=r.usage.completion_tokens)
    """

    _handle_type = LLMCall

    def __init__(self, model: str, *, provider: str | None = None,
                 messages: Sequence[Message | str] | Message | str | None = None,
                 system: str | None = None, operation: str = "chat", temperature: float | None = None,
                 max_tokens: int | None = None, top_p: float | None = None, name: str | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_REQUEST_MODEL: model,
        }
        try:
            if provider:
                attrs[semconv.GEN_AI_PROVIDER_NAME] = provider
            for key, value in ((semconv.GEN_AI_REQUEST_TEMPERATURE, temperature),
                               (semconv.GEN_AI_REQUEST_MAX_TOKENS, max_tokens),
                               (semconv.GEN_AI_REQUEST_TOP_P, top_p)):
                if value is not None:
                    attrs[key] = value
            if state.config.capture_input:
                if messages is not None:
                    attrs[semconv.GEN_AI_INPUT_MESSAGES] = messages_json(messages, "user")
                if system:
                    attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = cap_text(
                        json.dumps([{"type": "text", "content": system}], ensure_ascii=False),
                        state.config.max_payload_bytes)
            attrs.update(attributes or {})
        except Exception as exc:
            handle_sdk_error(exc, "llm_call")
        # The GenAI span name: "{operation} {model}"; CLIENT because it calls a remote service.
        super().__init__(name or f"{operation} {model}", attrs, SpanKind.CLIENT)

    def __enter__(self) -> LLMCall:
        return self._start()  # type: ignore[return-value]

    async def __aenter__(self) -> LLMCall:
        return self._start()  # type: ignore[return-value]


class ToolCall(SpanHandle):
    """Handle of a `tool_call` block."""

    __slots__ = ()

    def set_result(self, result: Any) -> None:
        try:
            if state.config.capture_output:
                self.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT,
                                        to_json_text(result, state.config.max_payload_bytes))
        except Exception as exc:
            handle_sdk_error(exc, "set_result")


class tool_call(_SpanBlock):
    """One tool execution (`execute_tool {name}`)::

        with spyglass.tool_call("get_weather", arguments={"city": "Paris"}, call_id="call_1") as t:
            t.set_result(get_weather("Paris"))
    """

    _handle_type = ToolCall

    def __init__(self, name: str, *, arguments: Any = None, call_id: str | None = None,
                 description: str | None = None, attributes: Mapping[str, Any] | None = None) -> None:
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: "execute_tool",
            semconv.GEN_AI_TOOL_NAME: name,
        }
        if call_id:
            attrs[semconv.GEN_AI_TOOL_CALL_ID] = call_id
        if description:
            attrs[semconv.GEN_AI_TOOL_DESCRIPTION] = description
        if arguments is not None and state.config.capture_input:
            attrs[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = to_json_text(arguments, state.config.max_payload_bytes)
        attrs.update(attributes or {})
        super().__init__(f"execute_tool {name}", attrs)

    def __enter__(self) -> ToolCall:
        return self._start()  # type: ignore[return-value]

    async def __aenter__(self) -> ToolCall:
        return self._start()  # type: ignore[return-value]


def record_llm_call(model: str, *, provider: str | None = None,
                    messages: Sequence[Message | str] | Message | str | None = None,
                    output: Sequence[Message | str] | Message | str | None = None,
                    response_model: str | None = None, input_tokens: int | None = None,
                    output_tokens: int | None = None, cache_read_tokens: int | None = None,
                    cache_write_tokens: int | None = None, reasoning_tokens: int | None = None,
                    cost_usd: float | None = None, finish_reasons: Sequence[str] | None = None,
                    error: BaseException | str | None = None, start_time_ns: int | None = None,
                    end_time_ns: int | None = None, system: str | None = None) -> None:
    """Record a call that already happened (e.g. from a callback that reports usage after the
    fact), as a child of the current span."""
    block = llm_call(model, provider=provider, messages=messages, system=system)
    _record(block, start_time_ns, end_time_ns, error, lambda h: h.set_response(
        output=output, response_model=response_model, input_tokens=input_tokens,
        output_tokens=output_tokens, cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens, reasoning_tokens=reasoning_tokens, cost_usd=cost_usd,
        finish_reasons=finish_reasons))


def record_tool_call(name: str, *, arguments: Any = None, result: Any = None, call_id: str | None = None,
                     error: BaseException | str | None = None, start_time_ns: int | None = None,
                     end_time_ns: int | None = None) -> None:
    """Record a tool execution that already happened, as a child of the current span."""
    block = tool_call(name, arguments=arguments, call_id=call_id)
    _record(block, start_time_ns, end_time_ns, error,
            lambda h: h.set_result(result) if result is not None else None)


def _record(block: _SpanBlock, start_ns: int | None, end_ns: int | None, error: BaseException | str | None,
            fill: Callable[[Any], Any]) -> None:
    from opentelemetry.trace import Status, StatusCode

    from .observe import record_error

    try:
        if not state.active:
            return
        span = state.tracer.start_span(block._name, kind=block._otel_kind, attributes=block._attributes,
                                       start_time=start_ns)
        handle = block._handle_type(span)
        fill(handle)
        if isinstance(error, BaseException):
            record_error(span, error)
        elif error:
            span.set_status(Status(StatusCode.ERROR, error))
        else:
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=end_ns)
    except Exception as exc:
        handle_sdk_error(exc, "record")
