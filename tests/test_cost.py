"""Cost through the whole pipeline: spans sent by the real OpenTelemetry exporter are priced by
the engine before they are stored, with the bundled table and with configured overrides."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import new_trace_id


def send_llm_calls(srv, service: str, calls: list[dict]) -> tuple[str, list[str]]:
    """One agent trace whose children are LLM calls with the given attributes."""
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces")))
    tracer = tp.get_tracer("cost-test")
    ids = []
    with tracer.start_as_current_span("invoke_agent shopper", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "shopper",
            # A wrapper's usage repeats its children's and must not be priced again.
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10**6}) as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        for attrs in calls:
            with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat", **attrs}) as s:
                ids.append(format(s.get_span_context().span_id, "016x"))
    tp.shutdown()
    return trace_id, ids


def test_spans_are_priced_before_storage(server):
    service = f"cost-{new_trace_id()[:8]}"
    trace_id, ids = send_llm_calls(server, service, [
        # Anthropic through Bedrock: cache reads and writes priced once, at their own rates.
        {"gen_ai.provider.name": "aws.bedrock",
         "gen_ai.request.model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
         "gen_ai.usage.input_tokens": 10_000, "gen_ai.usage.cache_read.input_tokens": 6_000,
         "gen_ai.usage.cache_creation.input_tokens": 2_000, "gen_ai.usage.output_tokens": 500},
        # An unknown model: unpriced, not free.
        {"gen_ai.request.model": "acme-internal-llm", "gen_ai.usage.input_tokens": 100,
         "gen_ai.usage.output_tokens": 10},
        # A cost the SDK reported is kept as reported.
        {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
         "gen_ai.usage.output_tokens": 10, "gen_ai.usage.cost": 0.125},
    ])
    t = server.wait_for_trace(trace_id, spans=4)
    by_id = {s["span_id"]: s for s in t["spans"]}
    haiku, unknown, reported = (by_id[i] for i in ids)

    assert haiku["cost_source"] == "computed"
    expected = (2_000 * 0.80 + 6_000 * 0.08 + 2_000 * 1.00 + 500 * 4.0) / 1e6
    assert haiku["cost_usd"] == pytest.approx(expected)
    assert unknown["cost_source"] == "unpriced" and unknown["cost_usd"] is None
    assert reported["cost_source"] == "reported" and reported["cost_usd"] == pytest.approx(0.125)

    root = next(s for s in t["spans"] if s["parent_span_id"] is None)
    assert root["kind"] == "agent" and root["cost_usd"] is None
    # The trace's cost is what its priced spans cost.
    assert t["trace"]["cost_usd"] == pytest.approx(expected + 0.125)
    listed = server.get_json("/api/v1/traces", service=service)["items"]
    assert listed[0]["cost_usd"] == pytest.approx(expected + 0.125)


def test_configured_overrides_and_aliases(fresh_server, tmp_path):
    config = tmp_path / "spyglass.toml"
    config.write_text("""
[[cost.models]]
id = "our-finetune"
match = ["ft:gpt-4o-mini:acme::x1"]
prices = [{ from = "2024-01-01", input = 3.0, output = 12.0 }]

[cost.aliases]
"prod-eastus-gpt4o" = "gpt-4o"
""")
    srv = fresh_server(extra_args=["--config", str(config)]).start()
    trace_id, ids = send_llm_calls(srv, "overrides", [
        {"gen_ai.request.model": "ft:gpt-4o-mini:acme::x1", "gen_ai.usage.input_tokens": 1_000_000,
         "gen_ai.usage.output_tokens": 1_000_000},
        {"gen_ai.provider.name": "azure.ai.openai", "gen_ai.request.model": "prod-eastus-gpt4o",
         "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 0},
    ])
    t = srv.wait_for_trace(trace_id, spans=3)
    by_id = {s["span_id"]: s for s in t["spans"]}
    assert by_id[ids[0]]["cost_usd"] == pytest.approx(15.0)
    assert by_id[ids[1]]["cost_usd"] == pytest.approx(2.5)


def test_an_invalid_price_table_stops_the_server_with_the_reason(fresh_server, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[cost]\nmodels = [{ id = "m", prices = [{ from = "May 1st", input = 1.0, output = 1.0 }] }]\n')
    srv = fresh_server(extra_args=["--config", str(config)])
    with pytest.raises(RuntimeError) as e:
        srv.start(timeout=20)
    assert "May 1st" in str(e.value) and "YYYY-MM-DD" in str(e.value)


def test_price_api_lists_the_table_and_explains_a_quote(server):
    prices = server.get_json("/api/v1/prices")
    assert prices["as_of"] >= "2025-01-01"
    by_id = {m["id"]: m for m in prices["models"]}
    gpt4o = by_id["gpt-4o"]
    assert gpt4o["layer"] == "table" and "chatgpt-4o-latest" in gpt4o["names"]
    assert [p["from"] for p in gpt4o["prices"]] == ["2024-05-13", "2024-10-02"]
    for provider in ("openai", "anthropic", "google", "mistral", "deepseek", "xai", "cohere",
                     "aws.bedrock", "together", "groq"):
        assert any(m["provider"] == provider for m in prices["models"]), provider

    q = server.get_json("/api/v1/prices/quote", model="us.anthropic.claude-3-5-haiku-20241022-v1:0",
                        input_tokens=1000, output_tokens=1000, at="2025-02-01T00:00:00Z")
    assert q["model_id"] == "claude-3-5-haiku" and q["layer"] == "table"
    assert q["cost_source"] == "computed" and q["cost_usd"] == pytest.approx(0.0048)
    assert q["candidates"][0] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert "claude-3-5-haiku" in q["candidates"]

    q = server.get_json("/api/v1/prices/quote", model="acme-internal-llm", input_tokens=5)
    assert q["model_id"] is None and q["cost_usd"] is None and q["cost_source"] == "unpriced"

    r = server.get("/api/v1/prices/quote", model="gpt-4o", at="last tuesday")
    assert r.status_code == 400 and "at" in r.json()["error"]["message"]
    r = server.get("/api/v1/prices/quote")
    assert r.status_code == 400
