"""Cost through the whole pipeline: spans sent by the real OpenTelemetry exporter are priced by
the engine before they are stored, with the bundled table and with configured overrides."""

from __future__ import annotations

import pytest
import requests
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


ACME = {"gen_ai.request.model": "acme-llm", "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 500_000}
# $2 per million input tokens and $10 per million output tokens: the call above costs $7.
ACME_OVERRIDES = {
    "models": [{"id": "acme-llm", "prices": [{"from": "2024-01-01", "input": 2.0, "output": 10.0}]}],
    "aliases": {"acme-prod": "acme-llm"},
}


def put_overrides(srv, body):
    return requests.put(f"{srv.api}/api/v1/prices/overrides", json=body, timeout=30)


def llm_span(srv, trace_id: str, span_id: str):
    return next(s for s in srv.trace(trace_id)["spans"] if s["span_id"] == span_id)


def model_costs(srv) -> dict:
    ts = srv.get_json("/api/v1/analytics/timeseries", metric="cost", group_by="model", **{"from": "1h"})
    return {s["group"]: s["total"] for s in ts["series"]}


def test_price_overrides_through_the_api_and_recomputing_stored_costs(fresh_server):
    srv = fresh_server().start()
    spec = srv.get_json("/api/openapi.json")
    assert {"get", "put", "delete"} <= set(spec["paths"]["/api/v1/prices/overrides"])
    assert "post" in spec["paths"]["/api/v1/prices/recompute"]
    assert {"ProjectCost", "ModelEntry", "PriceEntry", "RecomputeRequest"} <= set(spec["components"]["schemas"])
    # A model no table knows: unpriced, not free.
    old_trace, (old_span,) = send_llm_calls(srv, "acme", [ACME])
    srv.wait_for_trace(old_trace, spans=2)
    s = llm_span(srv, old_trace, old_span)
    assert s["cost_source"] == "unpriced" and s["cost_usd"] is None
    assert srv.get_json("/api/v1/prices/overrides") == {"models": [], "aliases": {}}

    r = put_overrides(srv, ACME_OVERRIDES)
    assert r.status_code == 200, r.text
    stored = srv.get_json("/api/v1/prices/overrides")
    assert [m["id"] for m in stored["models"]] == ["acme-llm"]
    assert stored["models"][0]["prices"] == [{"from": "2024-01-01", "input": 2.0, "output": 10.0}]
    assert stored["aliases"] == {"acme-prod": "acme-llm"}
    for name in ("acme-llm", "acme-prod"):
        q = srv.get_json("/api/v1/prices/quote", model=name, input_tokens=1_000_000, output_tokens=500_000)
        assert (q["model_id"], q["layer"], q["cost_source"]) == ("acme-llm", "override", "computed"), q
        assert q["cost_usd"] == pytest.approx(7.0)
    prices = srv.get_json("/api/v1/prices")
    assert prices["models"][0]["id"] == "acme-llm" and prices["models"][0]["layer"] == "override"
    assert {"name": "acme-prod", "model": "acme-llm", "layer": "override"} in prices["aliases"]

    # New spans are priced with the override; the stored one keeps its cost until recomputed.
    new_trace, (new_span,) = send_llm_calls(srv, "acme", [ACME])
    srv.wait_for_trace(new_trace, spans=2)
    s = llm_span(srv, new_trace, new_span)
    assert s["cost_source"] == "computed" and s["cost_usd"] == pytest.approx(7.0)
    assert llm_span(srv, old_trace, old_span)["cost_usd"] is None
    assert srv.trace(old_trace)["trace"]["cost_usd"] is None
    assert model_costs(srv)["acme-llm"] == pytest.approx(7.0)

    r = requests.post(f"{srv.api}/api/v1/prices/recompute", json={"from": "1h"}, timeout=60)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["spans_examined"], report["spans_changed"], report["traces_touched"]) == (2, 1, 1), report
    assert report["to_ns"] - report["from_ns"] == pytest.approx(3600e9, rel=1e-3)
    s = llm_span(srv, old_trace, old_span)
    assert s["cost_source"] == "computed" and s["cost_usd"] == pytest.approx(7.0)
    assert srv.trace(old_trace)["trace"]["cost_usd"] == pytest.approx(7.0)
    listed = {t["trace_id"]: t["cost_usd"] for t in srv.get_json("/api/v1/traces", service="acme")["items"]}
    assert listed[old_trace] == pytest.approx(7.0) and listed[new_trace] == pytest.approx(7.0)
    assert model_costs(srv)["acme-llm"] == pytest.approx(14.0)
    # The same prices again: nothing to change.
    again = requests.post(f"{srv.api}/api/v1/prices/recompute", json={"from": "1h"}, timeout=60).json()
    assert again["spans_changed"] == 0 and again["traces_touched"] == 0

    # Refused with the reason, and the overrides in force are kept.
    bad = [
        ({"models": [{"id": "x", "prices": [{"from": "May 1st", "input": 1.0, "output": 1.0}]}]}, "YYYY-MM-DD"),
        ({"models": [{"id": "x", "prices": [{"from": "2025-01-01", "input": -1.0, "output": 1.0}]}]},
         "non-negative"),
        ({"models": [{"id": "x", "prices": []}]}, "no prices"),
        ({"modles": []}, "modles"),
    ]
    for body, reason in bad:
        r = put_overrides(srv, body)
        assert r.status_code == 400, (body, r.text)
        assert reason in r.json()["error"]["message"], r.text
    r = requests.put(f"{srv.api}/api/v1/prices/overrides", data="{", timeout=30,
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    for body in ({"from": "40d"}, {"from": "soon"}, {"from": "1h", "to": "2h"}, {}):
        r = requests.post(f"{srv.api}/api/v1/prices/recompute", json=body, timeout=30)
        assert r.status_code == 400, (body, r.text)
    assert srv.get_json("/api/v1/prices/overrides")["aliases"] == {"acme-prod": "acme-llm"}

    # Overrides and recomputed costs survive a restart.
    assert srv.stop() == 0
    srv = fresh_server(data_dir=srv.data_dir).start()
    q = srv.get_json("/api/v1/prices/quote", model="acme-prod", input_tokens=1_000_000)
    assert q["layer"] == "override" and q["cost_usd"] == pytest.approx(2.0)
    assert srv.trace(old_trace)["trace"]["cost_usd"] == pytest.approx(7.0)
    assert model_costs(srv)["acme-llm"] == pytest.approx(14.0)
    third, (third_span,) = send_llm_calls(srv, "acme", [ACME])
    srv.wait_for_trace(third, spans=2)
    assert llm_span(srv, third, third_span)["cost_usd"] == pytest.approx(7.0)

    # Removed, and still removed after a restart.
    assert requests.delete(f"{srv.api}/api/v1/prices/overrides", timeout=30).status_code == 204
    assert srv.get_json("/api/v1/prices/quote", model="acme-llm")["cost_source"] == "unpriced"
    assert srv.stop() == 0
    srv = fresh_server(data_dir=srv.data_dir).start()
    assert srv.get_json("/api/v1/prices/overrides") == {"models": [], "aliases": {}}
    assert srv.get_json("/api/v1/prices/quote", model="acme-llm")["layer"] is None
