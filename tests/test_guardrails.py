"""The guardrail registry through the real binary: guardrail spans of our SDK (OpenInference
GUARDRAIL spans with `spyglass.guard.*`) and of TraceCtrl (`tracectrl.guardrail.*`) are grouped
per guardrail and agent, with their decisions, violations over time, errors and latency."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode


def test_guardrails_of_every_convention_are_registered_with_their_violations(fresh_server):
    srv = fresh_server().start()
    tp = TracerProvider(resource=Resource.create({"service.name": "support-app"}))
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.otlp_http}/v1/traces")))
    tracer = tp.get_tracer("guardrail-test")
    # Our SDK's input guard under the agent span: two allowed, one blocked, one that errored.
    for action, fails in [("allow", False), ("allow", False), ("block", False), (None, True)]:
        with tracer.start_as_current_span("invoke_agent support", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"}):
            attrs = {"openinference.span.kind": "GUARDRAIL", "spyglass.guard.direction": "input"}
            if action:
                attrs["spyglass.guard.action"] = action
            with tracer.start_as_current_span("guard.check_input", attributes=attrs) as g:
                if fails:
                    g.set_status(Status(StatusCode.ERROR, "guard timed out"))
    # TraceCtrl's judge-model guardrail on another agent: one pass, one fail.
    for decision in ["pass", "fail"]:
        with tracer.start_as_current_span("tracectrl.guardrail.evaluation", attributes={
                "tracectrl.guardrail.name": "payment_delegation_guard",
                "tracectrl.guardrail.decision": decision,
                "tracectrl.agent.name": "Orchestrator"}):
            pass
    tp.shutdown()

    registry = {(g["name"], g["agent"]): g for g in srv.get_json("/api/v1/guardrails", **{"from": "1h"})}
    sdk = registry[("guard.check_input", "support")]
    assert (sdk["checks"], sdk["violations"], sdk["errors"]) == (4, 1, 1)
    assert sdk["decisions"] == {"allow": 2, "block": 1, "unknown": 1}
    assert sdk["violation_rate"] == 0.25 and sdk["last_violation_ns"] is not None
    assert sum(p["value"] for p in sdk["violations_over_time"]) == 1
    assert sdk["latency_p95_ms"] is not None
    tc = registry[("payment_delegation_guard", "Orchestrator")]
    assert (tc["checks"], tc["violations"], tc["decisions"]) == (2, 1, {"fail": 1, "pass": 1})
    assert list(registry)[0] in registry and len(registry) == 2
    only = srv.get_json("/api/v1/guardrails", agent="Orchestrator", **{"from": "1h"})
    assert [g["name"] for g in only] == ["payment_delegation_guard"]
