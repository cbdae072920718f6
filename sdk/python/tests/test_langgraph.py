"""A LangGraph graph (fake chat model that calls a tool, and the tool) instrumented through
`spyglass.instrument("langgraph")`: the real server shows the agent -> LLM -> tool tree."""

from __future__ import annotations

import time
from typing import Any

import pytest

import spyglass

pytest.importorskip("langgraph")
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"14°C and sunny in {city}"


class ToolCallingFakeModel(GenericFakeChatModel):
    """GenericFakeChatModel replays its messages; binding tools changes nothing."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ToolCallingFakeModel":
        return self


def build_graph() -> Any:
    model = ToolCallingFakeModel(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
                  usage_metadata={"input_tokens": 50, "output_tokens": 12, "total_tokens": 62}),
        AIMessage(content="It is 14°C and sunny in Paris.",
                  usage_metadata={"input_tokens": 80, "output_tokens": 9, "total_tokens": 89}),
    ]))

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.bind_tools([get_weather]).invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("call_model", call_model)
    g.add_node("tools", ToolNode([get_weather]))
    g.add_edge(START, "call_model")
    g.add_conditional_edges("call_model", tools_condition, ["tools", END])
    g.add_edge("tools", "call_model")
    return g.compile()


def test_langgraph_agent_llm_tool_tree(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_http)
    assert spyglass.instrument("langgraph") == {"langgraph": "instrumented"}
    try:
        out = build_graph().invoke({"messages": [HumanMessage("Weather in Paris?")]},
                                   config={"run_name": "weather_agent", "configurable": {"thread_id": "lg-thread-1"}})
    finally:
        spyglass.uninstrument("langgraph")
    assert out["messages"][-1].content == "It is 14°C and sunny in Paris."

    spyglass.flush()
    deadline = time.time() + 15
    items: list[dict[str, Any]] = []
    while time.time() < deadline:
        items = server.get_json("/api/v1/traces", session="lg-thread-1")["items"]
        # The root ends last, so once it is finished every span of the run has been exported.
        if items and items[0]["end_ns"] is not None and items[0]["running_count"] == 0:
            break
        time.sleep(0.05)
    [summary] = items
    assert summary["tools"] == ["get_weather"] and {"agent", "llm", "tool"} <= set(summary["kinds"])
    tree = server.trace(summary["trace_id"])
    rows = tree["spans"]
    spans = {r["span_id"]: server.span(summary["trace_id"], r["span_id"]) for r in rows}
    root = spans[rows[0]["span_id"]]
    assert root["name"] == "weather_agent" and root["kind"] == "agent" and root["parent_span_id"] is None

    def ancestors(span: dict[str, Any]) -> list[dict[str, Any]]:
        chain = []
        while span["parent_span_id"]:
            span = spans[span["parent_span_id"]]
            chain.append(span)
        return chain

    llms = [s for s in spans.values() if s["kind"] == "llm"]
    tools = [s for s in spans.values() if s["kind"] == "tool"]
    assert len(llms) == 2 and len(tools) == 1
    assert all(root in ancestors(s) for s in [*llms, *tools])
    tool_span = tools[0]
    assert tool_span["tool_name"] == "get_weather" and tool_span["output"] is not None
    assert "14°C and sunny in Paris" in tool_span["output"]
    first_llm = min(llms, key=lambda s: s["start_ns"])
    assert first_llm["start_ns"] < tool_span["start_ns"], "the LLM asked for the tool before it ran"
    assert sorted(s["tokens"]["input"] for s in llms) == [50, 80]
    assert '"get_weather"' in first_llm["output"]
    assert all(s["session_id"] == "lg-thread-1" for s in spans.values())
    assert all(s["status"] == "ok" for s in spans.values())
