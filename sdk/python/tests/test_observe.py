"""@observe, the context managers and context propagation, checked on what actually leaves the
process (the local OTLP sink decodes each request the SDK sends)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from typing import Any, AsyncIterator, Iterator

import pytest

import spyglass
from conftest import SERVICE, Sink, by_name

ERROR, OK = 2, 1  # OTLP status codes


def finished(sink: Sink, count: int) -> list[Any]:
    spyglass.flush()
    sink.wait_for(lambda s: len(s.finished()) >= count)
    return sink.finished()


def test_sync_tree_kinds_inputs_outputs(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)

    @spyglass.observe(kind="tool")
    def lookup(city: str, units: str = "C") -> dict[str, Any]:
        return {"city": city, "temp": 14, "units": units}

    @spyglass.observe(kind="agent", name="weather_agent")
    def agent(question: str) -> str:
        report = lookup("Paris", units="F")
        return f"{report['temp']} degrees"

    class Planner:
        @spyglass.observe
        def plan(self, steps: int) -> list[str]:
            return [f"step {i}" for i in range(steps)]

    assert agent("Weather in Paris?") == "14 degrees"
    Planner().plan(2)
    spans = finished(sink, 3)
    root, tool, plan = by_name(spans, "weather_agent"), by_name(spans, "lookup"), by_name(spans, "Planner.plan")

    assert root.parent_span_id is None and tool.parent_span_id == root.span_id
    assert tool.trace_id == root.trace_id and plan.trace_id != root.trace_id
    assert root.attributes["openinference.span.kind"] == "AGENT"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "weather_agent"
    assert json.loads(root.attributes["input.value"]) == {"question": "Weather in Paris?"}
    assert root.attributes["output.value"] == "14 degrees" and root.attributes["output.mime_type"] == "text/plain"
    assert tool.attributes["openinference.span.kind"] == "TOOL" and tool.attributes["gen_ai.tool.name"] == "lookup"
    assert json.loads(tool.attributes["input.value"]) == {"city": "Paris", "units": "F"}
    assert json.loads(tool.attributes["output.value"]) == {"city": "Paris", "temp": 14, "units": "F"}
    assert json.loads(plan.attributes["input.value"]) == {"steps": 2}, "self is not captured"
    assert plan.attributes["openinference.span.kind"] == "CHAIN"
    assert root.status_code == OK and root.resource["service.name"] == SERVICE


def test_exception_recorded_and_reraised_unchanged(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)

    class QuotaError(Exception):
        pass

    boom = QuotaError("quota exceeded for tool search")

    @spyglass.observe(kind="tool")
    def search(q: str) -> None:
        raise boom

    @spyglass.observe(kind="agent")
    def agent() -> None:
        search("x")

    with pytest.raises(QuotaError) as caught:
        agent()
    assert caught.value is boom
    spans = finished(sink, 2)
    for name in ("search", "agent"):
        span = by_name(spans, name)
        assert span.status_code == ERROR
        assert span.status_message == "QuotaError: quota exceeded for tool search"
        event = next(attrs for ev, attrs in span.events if ev == "exception")
        assert event["exception.type"].endswith("QuotaError")
        assert "output.value" not in span.attributes


def test_async_functions_and_concurrent_tasks(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)

    @spyglass.observe(kind="llm")
    async def call_model(prompt: str) -> str:
        await asyncio.sleep(0.01)
        return prompt.upper()

    @spyglass.observe(kind="agent")
    async def worker(name: str) -> list[str]:
        return list(await asyncio.gather(call_model(f"{name}-1"), call_model(f"{name}-2")))

    async def main() -> list[Any]:
        return await asyncio.gather(worker("a"), worker("b"))

    assert asyncio.run(main()) == [["A-1", "A-2"], ["B-1", "B-2"]]
    spans = finished(sink, 6)
    workers = {json.loads(s.attributes["input.value"])["name"]: s for s in spans if s.name == "worker"}
    for name, parent in workers.items():
        children = [s for s in spans if s.name == "call_model" and s.parent_span_id == parent.span_id]
        assert sorted(json.loads(c.attributes["input.value"])["prompt"] for c in children) == [f"{name}-1", f"{name}-2"]
        assert all(c.attributes["openinference.span.kind"] == "LLM" for c in children)
    assert workers["a"].trace_id != workers["b"].trace_id


def test_generators_span_the_whole_iteration(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)

    @spyglass.observe(kind="tool")
    def inner() -> str:
        return "x"

    @spyglass.observe(kind="llm", name="stream")
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            inner()  # runs while the generator's span is current
            yield f"tok{i}"

    @spyglass.observe(name="astream")
    async def astream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    @spyglass.observe(name="failing_stream")
    def failing_stream() -> Iterator[int]:
        yield 1
        raise ValueError("stream broke")

    with spyglass.span("consumer"):
        assert list(stream(3)) == ["tok0", "tok1", "tok2"]
        early = stream(10)
        assert next(early) == "tok0"
        early.close()  # consumer stops early: a normal end

    async def consume() -> list[int]:
        return [i async for i in astream(4)]

    assert asyncio.run(consume()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="stream broke"):
        list(failing_stream())

    spans = finished(sink, 9)
    consumer = by_name(spans, "consumer")
    streams = [s for s in spans if s.name == "stream"]
    assert len(streams) == 2 and all(s.parent_span_id == consumer.span_id for s in streams)
    full = next(s for s in streams if json.loads(s.attributes["input.value"]) == {"n": 3})
    assert json.loads(full.attributes["output.value"]) == ["tok0", "tok1", "tok2"]
    partial = next(s for s in streams if s is not full)
    assert json.loads(partial.attributes["output.value"]) == ["tok0"] and partial.status_code == OK
    inners = [s for s in spans if s.name == "inner"]
    assert len(inners) == 4 and {s.parent_span_id for s in inners} == {s.span_id for s in streams}
    assert json.loads(by_name(spans, "astream").attributes["output.value"]) == [0, 1, 2, 3]
    broken = by_name(spans, "failing_stream")
    assert broken.status_code == ERROR and broken.status_message == "ValueError: stream broke"


def test_context_crosses_threads_and_pools(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)

    @spyglass.observe(kind="tool")
    def step(tag: str) -> str:
        return tag

    class Worker(threading.Thread):
        def run(self) -> None:  # a subclass overriding run() is covered too
            step("subclass")

    async def in_executor() -> None:
        await asyncio.get_running_loop().run_in_executor(None, step, "executor")

    with spyglass.session("sess-9", user_id="user-3"):
        with spyglass.span("parent") as parent:
            t = threading.Thread(target=step, args=("thread",))
            t.start()
            t.join()
            w = Worker()
            w.start()
            w.join()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                assert list(pool.map(step, ["map1", "map2"])) == ["map1", "map2"]
                pool.submit(step, "submit").result()
            asyncio.run(in_executor())
    spans = finished(sink, 7)
    steps = [s for s in spans if s.name == "step"]
    assert sorted(s.attributes["output.value"] for s in steps) == \
        ["executor", "map1", "map2", "subclass", "submit", "thread"]
    assert all(s.parent_span_id == parent.span_id for s in steps)
    assert all(s.attributes["session.id"] == "sess-9" and s.attributes["user.id"] == "user-3"
               for s in [*steps, by_name(spans, "parent")])


def test_capture_opt_out_and_caps(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url, max_payload_bytes=64)

    @spyglass.observe(capture_input=False)
    def private(password_hint: str) -> str:
        return "ok"

    @spyglass.observe
    def big(text: str) -> str:
        return text

    private("mother's maiden name")
    big("x" * 500)
    spans = finished(sink, 2)
    assert "input.value" not in by_name(spans, "private").attributes
    assert by_name(spans, "private").attributes["output.value"] == "ok"
    out = by_name(spans, "big").attributes["output.value"]
    assert out.startswith("x" * 64) and out.endswith("…[truncated 436 bytes]")

    spyglass.shutdown()
    sink.requests.clear()
    configure(endpoint=sink.url, capture_input=False, capture_output=False)

    @spyglass.observe(capture_output=True)
    def shown(a: int) -> int:
        return a + 1

    big("hidden")
    shown(1)
    spans = finished(sink, 2)
    assert "input.value" not in by_name(spans, "big").attributes
    assert "output.value" not in by_name(spans, "big").attributes
    assert by_name(spans, "shown").attributes["output.value"] == "2"


def test_session_agent_span_helpers(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)
    with spyglass.session("conv-1", user_id="u-1"):
        with spyglass.agent("planner", agent_id="agt-7", input="plan a trip") as agent:
            with spyglass.span("retrieve", kind="retriever", input={"q": "hotels"}) as r:
                r.set_output(["h1", "h2"])
            with spyglass.span("check", kind="guardrail") as g:
                g.set_error("blocked: off-topic")
            agent.set_output("done")
    spans = finished(sink, 3)
    agent_span = by_name(spans, "invoke_agent planner")
    assert agent_span.attributes["gen_ai.agent.id"] == "agt-7"
    assert agent_span.attributes["input.value"] == "plan a trip"
    assert by_name(spans, "retrieve").attributes["openinference.span.kind"] == "RETRIEVER"
    assert by_name(spans, "retrieve").attributes["output.value"] == '["h1","h2"]'
    guard = by_name(spans, "check")
    assert guard.attributes["openinference.span.kind"] == "GUARDRAIL"
    assert guard.status_code == ERROR and guard.status_message == "blocked: off-topic"
    assert all(s.attributes["session.id"] == "conv-1" for s in spans)


def test_running_version_sent_while_span_is_open(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)
    release = threading.Event()
    started = threading.Event()

    @spyglass.observe(kind="agent")
    def long_agent() -> str:
        started.set()
        release.wait(10)
        return "finished"

    t = threading.Thread(target=long_agent)
    t.start()
    started.wait(5)
    sink.wait_for(lambda s: any(x.name == "long_agent" and x.end_ns == 0 for x in s.spans()))
    running = next(x for x in sink.spans() if x.name == "long_agent")
    assert running.start_ns > 0 and "output.value" not in running.attributes
    release.set()
    t.join()
    spans = finished(sink, 1)
    done = by_name(spans, "long_agent")
    assert done.span_id == running.span_id and done.attributes["output.value"] == "finished"

    # A short span is not sent twice: its start marker resolves to nothing once it has ended.
    sink.requests.clear()

    @spyglass.observe(kind="chain")
    def quick() -> int:
        return 1

    quick()
    spyglass.flush()
    sink.wait_for(lambda s: len(s.spans()) >= 1)
    assert [(x.name, x.end_ns > 0) for x in sink.spans()] == [("quick", True)]


def test_fail_silently_and_disabled(sink: Sink, configure: Any, caplog: pytest.LogCaptureFixture) -> None:
    # A bad option: with fail-silently off the application is told...
    with pytest.raises(spyglass.ConfigError):
        spyglass.init(endpoint="not a url", fail_silently=False)
    # ...with it on (the default) init returns False and nothing is raised or printed.
    with caplog.at_level(logging.WARNING, logger="spyglass"):
        assert spyglass.init(endpoint="not a url", fail_silently=True) is False
    assert not caplog.records

    configure(endpoint=sink.url, enabled=False)

    @spyglass.observe
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    with spyglass.span("nothing") as s:
        s.set_output("ignored")
    assert spyglass.flush() is True
    assert sink.requests == []


def test_llm_and_tool_helpers_write_genai_names(sink: Sink, configure: Any) -> None:
    configure(endpoint=sink.url)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]
    with spyglass.llm_call("gpt-4o", provider="openai", messages=messages, temperature=0.2) as call:
        call.set_response(
            output=[{"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}],
            response_model="gpt-4o-2024-08-06", input_tokens=1200, output_tokens=80,
            cache_read_tokens=1024, reasoning_tokens=16, cost_usd=0.0042, finish_reasons=["tool_calls"])
    with spyglass.tool_call("get_weather", arguments={"city": "Paris"}, call_id="call_1") as tool:
        tool.set_result({"temp": 14})
    spyglass.record_llm_call("claude-sonnet-4", provider="anthropic", messages="hi", output="hello",
                             input_tokens=5, output_tokens=2, cache_write_tokens=3)
    spans = finished(sink, 3)
    chat = by_name(spans, "chat gpt-4o")
    a = chat.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (1200, 80)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 1024 and a["gen_ai.usage.reasoning.output_tokens"] == 16
    assert a["gen_ai.usage.cost"] == pytest.approx(0.0042)
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}], "finish_reason": "tool_calls"}]
    tool_span = by_name(spans, "execute_tool get_weather")
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(tool_span.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(tool_span.attributes["gen_ai.tool.call.result"]) == {"temp": 14}
    claude = by_name(spans, "chat claude-sonnet-4")
    assert claude.attributes["gen_ai.usage.cache_creation.input_tokens"] == 3
    assert "gen_ai.usage.cache_read.input_tokens" not in claude.attributes, "unknown counts are not written as 0"
