"""Secrets and card numbers never leave the process: checked on the raw bytes the SDK sends (a
local sink keeps every request body) and on what the real server stores and serves."""

from __future__ import annotations

import json
from typing import Any

import pytest

import spyglass
from conftest import Sink

OPENAI_KEY = "sk-proj-Tq3nV8xK2mP9rL4sW7yB1cD6fG0hJ5kN8qR2tU4vX7zA3bE6"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"
PASSWORD = "correct-horse-battery"
SECRETS = [OPENAI_KEY, AWS_KEY, CARD, CARD_DIGITS, PASSWORD, "123-45-6789", "EMP-004211"]


def leaky_agent() -> str:
    @spyglass.observe(kind="tool")
    def charge(card_number: str, amount: float, api_key: str) -> dict[str, Any]:
        raise RuntimeError(f"payment gateway rejected card {card_number} (key {api_key})")

    @spyglass.observe(kind="agent", name="billing_agent")
    def agent(message: str) -> str:
        with spyglass.llm_call("gpt-4o", provider="openai",
                               messages=[{"role": "user", "content": message}]) as call:
            call.set_response(output=f"Charging {CARD_DIGITS} now, employee EMP-004211")
        try:
            charge(CARD, 12.5, api_key=OPENAI_KEY)
        except RuntimeError:
            pass
        with spyglass.span("config dump", attributes={"db.password": PASSWORD, "aws.key": AWS_KEY}):
            pass
        return f"done for SSN 123-45-6789, password={PASSWORD}"

    with spyglass.span("request") as root:
        agent(f"Use my card {CARD} and key {OPENAI_KEY}")
    return root.trace_id


def test_secrets_never_leave_the_process(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url, scrub_patterns={"employee_id": r"EMP-\d{6}"}, compression="none")
    leaky_agent()
    spyglass.flush()
    sink.wait_for(lambda s: len(s.finished()) >= 5)
    for request in sink.requests:
        for needle in SECRETS:
            assert needle.encode() not in request.raw, f"{needle!r} left the process"
    values = json.dumps([s.attributes | {"status": s.status_message, "events": s.events} for s in sink.spans()])
    for label in ("credit_card", "openai_key", "aws_access_key", "credential", "ssn", "employee_id",
                  "secret_attribute"):
        assert f"[REDACTED:{label}]" in values, label


def test_scrubbing_off_sends_everything(sink: Sink, configure: Any) -> None:
    # The control: the same agent without scrubbing does send the secrets, so the test above is
    # not passing because nothing was captured in the first place.
    configure(endpoint=sink.url, scrub="off", compression="none")
    leaky_agent()
    spyglass.flush()
    sink.wait_for(lambda s: len(s.finished()) >= 5)
    raw = b"".join(r.raw for r in sink.requests)
    assert all(needle.encode() in raw for needle in SECRETS if needle != "EMP-004211")


def test_server_stores_only_redacted_values(server: Any, configure: Any) -> None:
    configure(endpoint=server.otlp_http, scrub="all",
              scrub_callback=lambda key, value: value.replace("billing", "b*****"))
    trace_id = leaky_agent()
    spyglass.flush()
    tree = server.wait_for_trace(trace_id, spans=5)
    spans = [server.span(trace_id, row["span_id"]) for row in tree["spans"]]
    dump = json.dumps(spans)
    for needle in SECRETS:
        if needle != "EMP-004211":
            assert needle not in dump, needle
    assert "billing" not in dump and "b*****_agent" in dump
    llm = next(s for s in spans if s["kind"] == "llm")
    assert json.loads(llm["output"])[0]["content"] == "Charging [REDACTED:credit_card] now, employee EMP-004211"


@pytest.mark.parametrize("spec", ["secrets", "default"])
def test_secret_detectors_are_on_by_default(spec: str) -> None:
    from spyglass.config import load

    assert load({}, env={}).scrub == "default"
    from spyglass.scrub import resolve_detectors

    assert {"openai_key", "anthropic_key", "aws_access_key", "github_token", "slack_token",
            "stripe_key"} <= {d.name for d in resolve_detectors(spec)}
