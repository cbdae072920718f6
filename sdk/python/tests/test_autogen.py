"""AutoGen AgentChat: an AssistantAgent with a tool, its model client the real OpenAI-compatible
client of autogen-ext pointed at the local mock API. `spyglass.instrument("autogen", "openai")`
gives the agent -> LLM -> tool tree in the real server (AutoGen's own GenAI spans, the
OpenInference AgentChat spans and the OpenAI LLM spans in one trace)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import spyglass
from conftest import COMPLETION, MockOpenAI

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.openai")
from autogen_agentchat.agents import AssistantAgent
from autogen_ext.models.openai import OpenAIChatCompletionClient


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"14°C and sunny in {city}"


def completion(message: dict[str, Any], finish_reason: str, prompt: int, completion_: int) -> dict[str, Any]:
    return {**COMPLETION, "choices": [{"index": 0, "message": message, "logprobs": None,
                                       "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_,
                      "total_tokens": prompt + completion_}}


def test_autogen_agent_llm_tool_tree(server: Any, configure: Any, mock_openai: MockOpenAI) -> None:
    mock_openai.script = [
        completion({"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, "tool_calls", 50, 12),
        completion({"role": "assistant", "content": "It is 14°C and sunny in Paris."}, "stop", 80, 9),
    ]
    configure(endpoint=server.otlp_http)
    assert spyglass.instrument("autogen", "openai") == {"autogen": "instrumented", "openai": "instrumented"}
    try:
        client = OpenAIChatCompletionClient(
            model="gpt-4o-mini", base_url=mock_openai.url, api_key="sk-test-0000000000000000000000",
            model_info={"vision": False, "function_calling": True, "json_output": False,
                        "family": "gpt-4o", "structured_output": False})
        agent = AssistantAgent("weather_agent", model_client=client, tools=[get_weather],
                               reflect_on_tool_use=True)

        async def run() -> Any:
            with spyglass.session("autogen-1"):
                return await agent.run(task="Weather in Paris?")

        result = asyncio.run(run())
    finally:
        spyglass.uninstrument("autogen", "openai")
    assert result.messages[-1].content == "It is 14°C and sunny in Paris."
    assert len(mock_openai.requests) == 2

    spyglass.flush()
    deadline = time.time() + 15
    items: list[dict[str, Any]] = []
    while time.time() < deadline:
        items = server.get_json("/api/v1/traces", session="autogen-1")["items"]
        if items and items[0]["end_ns"] is not None and items[0]["running_count"] == 0 \
                and {"llm", "tool"} <= set(items[0]["kinds"]):
            break
        time.sleep(0.05)
    [summary] = items
    assert summary["agents"] == ["weather_agent"] and summary["tools"] == ["get_weather"]
    tree = server.trace(summary["trace_id"])
    spans = {r["span_id"]: server.span(summary["trace_id"], r["span_id"]) for r in tree["spans"]}
    root = spans[tree["spans"][0]["span_id"]]
    assert root["kind"] == "agent" and root["agent_name"] == "weather_agent"

    def under_root(span: dict[str, Any]) -> bool:
        while span["parent_span_id"]:
            span = spans[span["parent_span_id"]]
        return span is root

    # Two layers per model call: the AgentChat instrumentor's span around the model client's
    # `create`, and inside it the OpenAI instrumentor's span of the HTTP call.
    llms = sorted((s for s in spans.values() if s["kind"] == "llm"), key=lambda s: s["start_ns"])
    client_calls = [s for s in llms if s["scope_name"] == "openinference.instrumentation.autogen_agentchat"]
    api_calls = [s for s in llms if s["scope_name"] == "openinference.instrumentation.openai"]
    assert len(client_calls) == 2 and len(api_calls) == 2 and len(llms) == 4
    assert [spans[s["parent_span_id"]]["span_id"] for s in api_calls] == [s["span_id"] for s in client_calls]
    tools = [s for s in spans.values() if s["kind"] == "tool" and s["tool_name"] == "get_weather"]
    assert tools and all(under_root(s) for s in [*llms, *tools])
    assert [s["tokens"]["input"] for s in api_calls] == [50, 80]
    assert api_calls[0]["request_model"] == "gpt-4o-mini" and api_calls[0]["provider"] == "openai"
    assert api_calls[0]["end_ns"] <= min(t["start_ns"] for t in tools) <= api_calls[1]["start_ns"], \
        "LLM asks, the tool runs, the LLM answers"
    assert any("14°C and sunny in Paris" in (t["output"] or "") for t in tools)
