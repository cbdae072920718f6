"""CrewAI: a crew of one agent with a tool, its LLM the local mock OpenAI-compatible API,
instrumented through `spyglass.instrument("crewai", "openai")`: the real server shows the crew,
the agent's task, the LLM calls and the tool in one tree.

CrewAI is not installed by the `dev` extra (about 1 GB of dependencies, and it pins openai<3):
`scripts/test` runs this file in a venv of its own with the `crewai-tests` extra; in the `dev`
venv it is skipped (docs/sdk-python.md)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import spyglass
from conftest import COMPLETION, MockOpenAI

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")  # CrewAI's own telemetry calls home
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
crewai = pytest.importorskip("crewai")


def completion(message: dict[str, Any], finish_reason: str, prompt: int, completion_: int) -> dict[str, Any]:
    return {**COMPLETION, "choices": [{"index": 0, "message": message, "logprobs": None,
                                       "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_,
                      "total_tokens": prompt + completion_}}


def test_crewai_crew_agent_llm_tool_tree(server: Any, configure: Any, mock_openai: MockOpenAI) -> None:
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return f"14°C and sunny in {city}"

    mock_openai.script = [
        completion({"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, "tool_calls", 300, 20),
        completion({"role": "assistant",
                    "content": "Thought: I now know the final answer\nFinal Answer: It is 14°C and sunny in Paris."},
                   "stop", 400, 15),
    ]
    configure(endpoint=server.otlp_http)
    status = spyglass.instrument("crewai", "openai")
    assert status == {"crewai": "instrumented", "openai": "instrumented"}
    try:
        llm = LLM(model="gpt-4o-mini", base_url=mock_openai.url, api_key="sk-test-0000000000000000000000")
        forecaster = Agent(role="forecaster", goal="Report the weather", backstory="A meteorologist.",
                           tools=[get_weather], llm=llm, allow_delegation=False, max_iter=3)
        task = Task(description="What is the weather in Paris?", expected_output="One sentence.",
                    agent=forecaster)
        with spyglass.session("crew-1"):
            result = Crew(agents=[forecaster], tasks=[task]).kickoff()
    finally:
        spyglass.uninstrument("crewai", "openai")
    assert "14°C and sunny in Paris" in str(result)

    spyglass.flush()
    deadline = time.time() + 15
    items: list[dict[str, Any]] = []
    while time.time() < deadline:
        items = [t for t in server.get_json("/api/v1/traces", session="crew-1")["items"]
                 if {"llm", "tool"} <= set(t["kinds"])]
        if items and items[0]["end_ns"] is not None and items[0]["running_count"] == 0:
            break
        time.sleep(0.05)
    [summary] = items
    tree = server.trace(summary["trace_id"])
    spans = {r["span_id"]: server.span(summary["trace_id"], r["span_id"]) for r in tree["spans"]}
    root = spans[tree["spans"][0]["span_id"]]
    kinds = {s["kind"] for s in spans.values()}
    assert {"agent", "llm", "tool"} <= kinds
    assert root["kind"] in ("chain", "agent")  # Crew.kickoff is a CHAIN span in OpenInference
    tools = [s for s in spans.values() if s["kind"] == "tool"]
    assert any(s["tool_name"] == "get_weather" for s in tools)
    llms = [s for s in spans.values() if s["kind"] == "llm" and s["tokens"]["input"] is not None]
    assert sorted({s["tokens"]["input"] for s in llms}) == [300, 400]
