"""Spans sent by the real OpenTelemetry Python exporters (OTLP/HTTP protobuf, gzip, gRPC) and
raw OTLP/JSON come back through the API with every canonical field right."""

from __future__ import annotations

import json

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from conftest import new_span_id, new_trace_id, now_ns


def provider(exporter, service: str) -> TracerProvider:
    p = TracerProvider(resource=Resource.create({
        "service.name": service,
        "deployment.environment.name": "test",
        "app.build": "abc123",
    }))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def run_agent(tp: TracerProvider, session: str) -> tuple[str, dict[str, str]]:
    """An agent that calls an LLM and a failing tool, in current GenAI names."""
    tracer = tp.get_tracer("my.agent.framework", "2.1.0")
    ids = {}
    with tracer.start_as_current_span("invoke_agent planner", attributes={
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.id": "agt_42",
        "gen_ai.conversation.id": session,
        "user.id": "user_7",
        "app.tenant_tier": "gold",
    }) as root:
        ids["root"] = format(root.get_span_context().span_id, "016x")
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 80,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.reasoning.output_tokens": 16,
            "gen_ai.input.messages": json.dumps([
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]),
            "gen_ai.output.messages": json.dumps([
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                                 "arguments": {"city": "Paris"}}],
                 "finish_reason": "tool_call"}]),
            "gen_ai.response.finish_reasons": ["tool_call"],
            "gen_ai.request.temperature": 0.2,
        }) as llm:
            llm.add_event("gen_ai.first_token", {"ttft_ms": 180})
            ids["llm"] = format(llm.get_span_context().span_id, "016x")
        with tracer.start_as_current_span("execute_tool get_weather", attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city":"Paris"}',
        }) as tool:
            ids["tool"] = format(tool.get_span_context().span_id, "016x")
            tool.set_status(Status(StatusCode.ERROR, "weather API timed out"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    tp.force_flush()
    return trace_id, ids


def check_agent_trace(server, trace_id: str, ids: dict[str, str], service: str, session: str):
    detail = server.wait_for_trace(trace_id, spans=3)
    t = detail["trace"]
    assert t["trace_id"] == trace_id
    assert t["name"] == "invoke_agent planner"
    assert t["service_name"] == service
    assert t["span_count"] == 3 and t["error_count"] == 1 and t["running_count"] == 0
    assert t["status"] == "error"
    assert t["session_id"] == session and t["user_id"] == "user_7"
    assert t["agents"] == ["planner"] and t["tools"] == ["get_weather"]
    assert t["models"] == ["gpt-4o-2024-08-06"]
    assert t["tokens"]["input"] == 1200 and t["tokens"]["output"] == 80
    assert t["tokens"]["cache_read"] == 1024 and t["tokens"]["reasoning"] == 16
    assert t["start_time"].endswith("Z") and t["duration_ns"] > 0

    rows = detail["spans"]
    assert [r["span_id"] for r in rows] == [ids["root"], ids["llm"], ids["tool"]], "depth-first, children by start"
    assert [r["depth"] for r in rows] == [0, 1, 1]
    assert rows[0]["child_count"] == 2

    root = server.span(trace_id, ids["root"])
    assert root["kind"] == "agent"
    assert root["agent_name"] == "planner" and root["agent_id"] == "agt_42"
    assert root["session_id"] == session and root["user_id"] == "user_7"
    assert root["parent_span_id"] is None
    assert root["environment"] == "test"
    assert root["scope_name"] == "my.agent.framework"
    assert root["unmapped_keys"] == ["app.tenant_tier"]
    assert root["attributes"]["app.tenant_tier"] == "gold"
    assert root["resource_attributes"]["app.build"] == "abc123"
    assert root["convention"] == ["gen_ai"]
    assert root["cost_source"] is None

    llm = server.span(trace_id, ids["llm"])
    assert llm["kind"] == "llm" and llm["otel_kind"] == "client"
    assert llm["parent_span_id"] == ids["root"]
    assert llm["provider"] == "openai"
    assert llm["request_model"] == "gpt-4o" and llm["response_model"] == "gpt-4o-2024-08-06"
    assert llm["tokens"] == {"input": 1200, "output": 80, "cache_read": 1024, "cache_write": None,
                             "reasoning": 16, "total": 1280}
    # Priced from the bundled table (gpt-4o-2024-08-06: $2.50 input, $1.25 cached, $10 output
    # per million): 176 uncached + 1024 cached input, 80 output (reasoning included).
    assert llm["cost_source"] == "computed"
    assert llm["cost_usd"] == pytest.approx((176 * 2.5 + 1024 * 1.25 + 80 * 10) / 1e6)
    assert json.loads(llm["input"]) == [{"role": "user", "content": "Weather in Paris?"}]
    out = json.loads(llm["output"])
    assert out[0]["role"] == "assistant" and out[0]["finish_reason"] == "tool_call"
    assert out[0]["tool_calls"][0]["name"] == "get_weather"
    assert json.loads(out[0]["tool_calls"][0]["arguments"]) == {"city": "Paris"}
    assert "gen_ai.input.messages" not in llm["attributes"], "moved into input, not repeated"
    assert llm["attributes"]["gen_ai.request.temperature"] == 0.2
    assert llm["attributes"]["gen_ai.response.finish_reasons"] == ["tool_call"]
    assert llm["events"][0]["name"] == "gen_ai.first_token"
    assert llm["events"][0]["attributes"] == {"ttft_ms": 180}
    assert llm["unmapped_keys"] == []

    tool = server.span(trace_id, ids["tool"])
    assert tool["kind"] == "tool" and tool["tool_name"] == "get_weather"
    assert tool["status"] == "error" and tool["status_message"] == "weather API timed out"
    assert tool["input"] == '{"city":"Paris"}'
    assert tool["duration_ns"] == tool["end_ns"] - tool["start_ns"]


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc", "grpc-gzip"])
def test_real_exporters_round_trip_every_field(server, transport):
    service = f"agent-{transport}-{new_trace_id()[:6]}"
    if transport == "http":
        exporter = HttpExporter(endpoint=f"{server.otlp_http}/v1/traces")
    elif transport == "http-gzip":
        exporter = HttpExporter(endpoint=f"{server.otlp_http}/v1/traces", compression=Compression.Gzip)
    else:
        import grpc
        compression = grpc.Compression.Gzip if transport == "grpc-gzip" else grpc.Compression.NoCompression
        exporter = GrpcExporter(endpoint=server.otlp_grpc, insecure=True, compression=compression)
    tp = provider(exporter, service)
    session = f"sess-{transport}"
    trace_id, ids = run_agent(tp, session)
    tp.shutdown()
    check_agent_trace(server, trace_id, ids, service, session)
    # The trace list finds it by every identity it has.
    for params in ({"service": service}, {"agent": "planner", "service": service}, {"session": session},
                   {"model": "gpt-4o-2024-08-06", "service": service}, {"kind": "tool", "service": service},
                   {"status": "error", "service": service}, {"attr.app.tenant_tier": "gold", "service": service}):
        items = server.get_json("/api/v1/traces", **params)["items"]
        assert trace_id in [i["trace_id"] for i in items], params


def test_links_and_span_kinds_survive(server):
    service = f"links-{new_trace_id()[:6]}"
    tp = provider(HttpExporter(endpoint=f"{server.otlp_http}/v1/traces"), service)
    tracer = tp.get_tracer("t")
    with tracer.start_as_current_span("parent job") as parent:
        ctx = parent.get_span_context()
    with tracer.start_as_current_span("spawned job", kind=SpanKind.CONSUMER, links=[Link(ctx, {"reason": "spawned"})]) as child:
        child_trace = format(child.get_span_context().trace_id, "032x")
        child_span = format(child.get_span_context().span_id, "016x")
    tp.force_flush()
    server.wait_for_trace(child_trace)
    s = server.span(child_trace, child_span)
    assert s["otel_kind"] == "consumer"
    assert s["links"] == [{"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
                           "attributes": {"reason": "spawned"}}]
    assert s["convention"] == ["plain"] and s["kind"] == "other"


def test_raw_otlp_json_with_openinference(server):
    trace_id, root_id, llm_id = new_trace_id(), new_span_id(), new_span_id()
    start = now_ns() - 2_000_000_000
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rag-json"}}]},
        "scopeSpans": [{"scope": {"name": "openinference.instrumentation.openai", "version": "0.1.20"}, "spans": [
            {"traceId": trace_id, "spanId": root_id, "name": "rag", "kind": 1,
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 900_000_000),
             "attributes": [
                 {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
                 {"key": "session.id", "value": {"stringValue": "oi-session"}},
                 {"key": "input.value", "value": {"stringValue": "What is OTLP?"}},
                 {"key": "output.value", "value": {"stringValue": "A protocol."}}]},
            {"traceId": trace_id, "spanId": llm_id, "parentSpanId": root_id, "name": "ChatCompletion", "kind": 3,
             "startTimeUnixNano": str(start + 10_000_000), "endTimeUnixNano": start + 800_000_000,
             "attributes": [
                 {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
                 {"key": "llm.model_name", "value": {"stringValue": "gpt-4o-mini"}},
                 {"key": "llm.provider", "value": {"stringValue": "openai"}},
                 {"key": "llm.token_count.prompt", "value": {"intValue": "52"}},
                 {"key": "llm.token_count.completion", "value": {"intValue": 7}},
                 {"key": "llm.input_messages.0.message.role", "value": {"stringValue": "user"}},
                 {"key": "llm.input_messages.0.message.content", "value": {"stringValue": "What is OTLP?"}},
                 {"key": "llm.output_messages.0.message.role", "value": {"stringValue": "assistant"}},
                 {"key": "llm.output_messages.0.message.content", "value": {"stringValue": "A protocol."}}],
             "status": {"code": 1}}]}]}]}
    r = requests.post(f"{server.otlp_http}/v1/traces", json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {}, "no partial success when everything was taken"
    detail = server.wait_for_trace(trace_id, spans=2)
    assert detail["trace"]["session_id"] == "oi-session"
    assert detail["trace"]["input_preview"] == "What is OTLP?"
    llm = server.span(trace_id, llm_id)
    assert llm["kind"] == "llm" and llm["status"] == "ok"
    assert llm["response_model"] == "gpt-4o-mini" and llm["provider"] == "openai"
    assert llm["tokens"]["input"] == 52 and llm["tokens"]["output"] == 7 and llm["tokens"]["total"] == 59
    assert json.loads(llm["input"]) == [{"role": "user", "content": "What is OTLP?"}]
    assert json.loads(llm["output"]) == [{"role": "assistant", "content": "A protocol."}]
    assert not any(k.startswith("llm.input_messages") for k in llm["attributes"])
    assert llm["convention"] == ["openinference"]
    root = server.span(trace_id, root_id)
    assert root["kind"] == "chain" and root["input"] == "What is OTLP?" and root["output"] == "A protocol."


def test_running_span_then_finished_version(server):
    trace_id, span_id = new_trace_id(), new_span_id()
    start = now_ns() - 1_000_000_000

    def send(end):
        span = {"traceId": trace_id, "spanId": span_id, "name": "long agent run", "startTimeUnixNano": str(start),
                "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]}
        if end:
            span["endTimeUnixNano"] = str(end)
        body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
        assert requests.post(f"{server.otlp_http}/v1/traces", json=body, timeout=10).status_code == 200

    send(None)
    detail = server.wait_for_trace(trace_id)
    assert detail["trace"]["running_count"] == 1
    assert detail["spans"][0]["end_ns"] is None and detail["spans"][0]["duration_ns"] is None
    running = server.get_json("/api/v1/traces", status="running", limit=1000)["items"]
    assert trace_id in [t["trace_id"] for t in running]
    send(start + 500_000_000)
    send(None)  # a stale running copy arriving late must not win
    detail = server.trace(trace_id)
    assert detail["trace"]["running_count"] == 0 and detail["trace"]["span_count"] == 1
    assert detail["spans"][0]["duration_ns"] == 500_000_000
