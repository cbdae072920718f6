"""The real `openai` client, instrumented through `spyglass.instrument("openai")`, calling a local
OpenAI-compatible mock server: LLM spans with model, tokens (cached and reasoning included),
messages and the right parent, as the real server maps them."""

from __future__ import annotations

import json
from typing import Any

import pytest

import spyglass
from conftest import MockOpenAI, by_name

openai = pytest.importorskip("openai")

def test_openai_client_produces_llm_spans(server: Any, configure: Any, mock_openai: MockOpenAI) -> None:
    configure(endpoint=server.otlp_http)
    assert spyglass.instrument("openai") == {"openai": "instrumented"}
    try:
        client = openai.OpenAI(base_url=mock_openai.url, api_key="sk-test-not-a-real-key-0000000000")

        @spyglass.observe(kind="agent", name="weather_bot")
        def bot(question: str) -> str:
            r = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "Answer briefly."},
                          {"role": "user", "content": question}],
                temperature=0.2,
            )
            return r.choices[0].message.content or ""

        with spyglass.session("chat-77"):
            assert bot("Weather in Paris?") == "Paris is 14°C and sunny."
        assert mock_openai.requests[0]["body"]["model"] == "gpt-4o-mini"
    finally:
        spyglass.uninstrument("openai")

    spyglass.flush()
    [summary] = _wait_for_session(server, "chat-77", spans=2)
    tree = server.wait_for_trace(summary["trace_id"], spans=2)
    assert [(r["depth"], r["kind"]) for r in tree["spans"]] == [(0, "agent"), (1, "llm")]
    spans = [server.span(summary["trace_id"], r["span_id"]) for r in tree["spans"]]
    llm = next(s for s in spans if s["kind"] == "llm")
    root = by_name(spans, "weather_bot")
    assert llm["parent_span_id"] == root["span_id"]
    assert llm["scope_name"] == "openinference.instrumentation.openai"
    assert llm["provider"] == "openai"
    assert llm["request_model"] == "gpt-4o-mini" and llm["response_model"] == "gpt-4o-mini-2024-07-18"
    assert llm["tokens"] == {"input": 1200, "output": 80, "cache_read": 1024, "cache_write": None,
                             "reasoning": 16, "total": 1280}
    assert json.loads(llm["input"]) == [{"role": "system", "content": "Answer briefly."},
                                        {"role": "user", "content": "Weather in Paris?"}]
    assert json.loads(llm["output"])[0]["content"] == "Paris is 14°C and sunny."
    assert llm["session_id"] == "chat-77" and llm["status"] == "ok"
    assert summary["models"] == ["gpt-4o-mini-2024-07-18"]
    assert all(s["unmapped_keys"] == [] for s in spans), "every key the SDK and the instrumentor wrote is mapped"
    assert "sk-test-not-a-real-key" not in json.dumps(spans)


def _wait_for_session(server: Any, session: str, spans: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    import time

    deadline = time.time() + timeout
    items: list[dict[str, Any]] = []
    while time.time() < deadline:
        items = server.get_json("/api/v1/traces", session=session)["items"]
        if items and items[0]["span_count"] >= spans:
            return items
        time.sleep(0.05)
    raise AssertionError(f"session {session}: {items}")


def test_unknown_and_missing_frameworks_never_raise(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def hide_crewai(name: str, *args: Any) -> Any:
        return None if name == "crewai" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", hide_crewai)
    with caplog.at_level("WARNING", logger="spyglass"):
        result = spyglass.instrument("smolagents", "crewai")
    assert result == {"smolagents": "unknown", "crewai": "not installed"}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "unknown framework" in messages and "crewai package is not installed" in messages
