"""Black-box: spans made with the SDK, sent to the real `spyglass` binary, read back through its
REST API with the right tree, kinds, inputs, outputs, errors, sessions, tokens and running state."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

import spyglass
from conftest import SERVICE, by_name


def trace_of(server: Any, trace_id: str, spans: int, timeout: float = 15.0) -> dict[str, Any]:
    spyglass.flush()
    return server.wait_for_trace(trace_id, spans=spans, timeout=timeout)


def full_spans(server: Any, trace_id: str, tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [server.span(trace_id, row["span_id"]) for row in tree["spans"]]


def test_decorated_agent_tree_through_the_api(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_http)

    @spyglass.observe(kind="retriever")
    def search_docs(query: str) -> list[str]:
        return ["refund policy: 30 days"]

    @spyglass.observe(kind="tool")
    def refund(order_id: str) -> dict[str, Any]:
        raise PermissionError(f"order {order_id} is past the refund window")

    @spyglass.observe(kind="llm")
    async def draft(context: list[str]) -> str:
        return "Sorry, refunds are accepted within 30 days."

    ids: dict[str, str] = {}

    @spyglass.observe(kind="agent", name="support_agent")
    def handle(ticket: str) -> str:
        ids["trace"] = spyglass.current_span().trace_id
        docs = search_docs(ticket)
        try:
            refund("A-17")
        except PermissionError:
            pass
        import asyncio

        return asyncio.run(draft(docs))

    with spyglass.session("ticket-881", user_id="cust-42"):
        answer = handle("I want a refund for A-17")
    assert answer.startswith("Sorry")
    trace_of(server, ids["trace"], 4)
    [summary] = server.get_json("/api/v1/traces", session="ticket-881")["items"]
    assert summary["trace_id"] == ids["trace"]
    assert summary["name"] == "support_agent" and summary["service_name"] == SERVICE
    assert summary["user_id"] == "cust-42" and summary["agents"] == ["support_agent"]
    assert summary["span_count"] == 4 and summary["error_count"] == 1 and summary["running_count"] == 0

    tree = server.trace(summary["trace_id"])
    assert [(r["depth"], r["name"]) for r in tree["spans"]] == [
        (0, "support_agent"), (1, "search_docs"), (1, "refund"), (1, "draft")]
    spans = full_spans(server, summary["trace_id"], tree)
    root, retr, tool, llm = (by_name(spans, n) for n in ("support_agent", "search_docs", "refund", "draft"))
    assert [root["kind"], retr["kind"], tool["kind"], llm["kind"]] == ["agent", "retriever", "tool", "llm"]
    assert root["agent_name"] == "support_agent" and tool["tool_name"] == "refund"
    assert json.loads(root["input"]) == {"ticket": "I want a refund for A-17"}
    assert root["output"] == "Sorry, refunds are accepted within 30 days."
    assert json.loads(retr["output"]) == ["refund policy: 30 days"]
    assert tool["status"] == "error"
    assert tool["status_message"] == "PermissionError: order A-17 is past the refund window"
    assert any(e["name"] == "exception" for e in tool["events"])
    assert root["status"] == "ok" and llm["status"] == "ok"
    assert all(s["session_id"] == "ticket-881" and s["user_id"] == "cust-42" for s in spans)
    assert all(s["unmapped_keys"] == [] for s in spans), [s["unmapped_keys"] for s in spans]
    assert all(s["end_ns"] is not None for s in spans)


def test_running_agent_visible_then_finished(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_http)
    started, release = threading.Event(), threading.Event()
    ids: dict[str, str] = {}

    def run() -> None:
        with spyglass.agent("researcher", input="find sources") as agent:
            ids["trace"], ids["span"] = agent.trace_id, agent.span_id
            started.set()
            release.wait(20)
            agent.set_output("3 sources")

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(5)
    tree = trace_of(server, ids["trace"], 1)
    assert tree["trace"]["running_count"] == 1
    running = server.span(ids["trace"], ids["span"])
    assert running["kind"] == "agent" and running["agent_name"] == "researcher"
    assert running["end_ns"] is None and running["duration_ns"] is None
    assert running["input"] == "find sources" and running["output"] is None
    release.set()
    t.join()
    spyglass.flush()
    deadline = time.time() + 10
    while time.time() < deadline:
        done = server.span(ids["trace"], ids["span"])
        if done["end_ns"] is not None:
            break
        time.sleep(0.05)
    assert done["end_ns"] is not None and done["output"] == "3 sources" and done["status"] == "ok"
    tree = server.trace(ids["trace"])
    assert len(tree["spans"]) == 1 and tree["trace"]["running_count"] == 0, "one span, not two versions"


def test_llm_and_tool_helpers_map_to_canonical_fields(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_http)
    with spyglass.agent("planner", agent_id="agt-1") as agent:
        with spyglass.llm_call("gpt-4o", provider="openai",
                               messages=[{"role": "user", "content": "Weather in Paris?"}]) as call:
            call.set_response(
                output=[{"role": "assistant", "tool_calls": [{"id": "call_1", "function": {
                    "name": "get_weather", "arguments": '{"city":"Paris"}'}}]}],
                response_model="gpt-4o-2024-08-06", input_tokens=1200, output_tokens=80,
                cache_read_tokens=1024, reasoning_tokens=16, finish_reasons=["tool_calls"])
        with spyglass.tool_call("get_weather", arguments={"city": "Paris"}, call_id="call_1") as tool:
            tool.set_result({"temp": 14})
        spyglass.record_llm_call("claude-sonnet-4", provider="anthropic", messages="Summarize",
                                 output="Sunny, 14°C", input_tokens=40, output_tokens=6, cost_usd=0.0003)
    tree = trace_of(server, agent.trace_id, 4)
    assert tree["trace"]["tokens"]["input"] == 1240 and tree["trace"]["tokens"]["cache_read"] == 1024
    assert tree["trace"]["tools"] == ["get_weather"] and tree["trace"]["agents"] == ["planner"]
    spans = full_spans(server, agent.trace_id, tree)
    chat = by_name(spans, "chat gpt-4o")
    assert chat["kind"] == "llm" and chat["provider"] == "openai" and chat["otel_kind"] == "client"
    assert chat["request_model"] == "gpt-4o" and chat["response_model"] == "gpt-4o-2024-08-06"
    assert chat["tokens"] == {"input": 1200, "output": 80, "cache_read": 1024, "cache_write": None,
                              "reasoning": 16, "total": 1280}
    # No cost given: the server prices it (gpt-4o-2024-08-06, docs/cost.md).
    assert chat["cost_source"] == "computed"
    assert chat["cost_usd"] == pytest.approx((176 * 2.5 + 1024 * 1.25 + 80 * 10) / 1e6)
    assert json.loads(chat["input"]) == [{"role": "user", "content": "Weather in Paris?"}]
    assert json.loads(chat["output"]) == [{"role": "assistant", "tool_calls": [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}], "finish_reason": "tool_calls"}]
    assert chat["convention"] == ["gen_ai"] and chat["unmapped_keys"] == []
    tool_span = by_name(spans, "execute_tool get_weather")
    assert tool_span["kind"] == "tool" and tool_span["tool_name"] == "get_weather"
    assert json.loads(tool_span["input"]) == {"city": "Paris"} and json.loads(tool_span["output"]) == {"temp": 14}
    claude = by_name(spans, "chat claude-sonnet-4")
    assert claude["cost_usd"] == pytest.approx(0.0003) and claude["cost_source"] == "reported"
    root = by_name(spans, "invoke_agent planner")
    assert root["kind"] == "agent" and root["agent_id"] == "agt-1"


def test_grpc_export(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_grpc, protocol="grpc")
    with spyglass.span("over grpc", kind="chain", input={"n": 1}) as s:
        s.set_output(2)
    tree = trace_of(server, s.trace_id, 1)
    span = server.span(s.trace_id, tree["spans"][0]["span_id"])
    assert span["kind"] == "chain" and span["output"] == "2"
    assert spyglass.stats()["exported_spans"] == 1
