"""Time `@spyglass.observe` adds to a call on the application thread, next to a bare
OpenTelemetry span (`tracer.start_as_current_span`), with the same SDK TracerProvider and the
same Spyglass pipeline (span processor, BatchSpanProcessor, scrubbing, the official OTLP encoder).

    python sdk/python/bench/overhead.py [--calls 5000] [--repeats 30]

Application thread: each timed run makes `--calls` calls while the batch thread sleeps (the batch
delay is set beyond the run and the queue holds a whole run), then the queue is flushed, untimed.
So the figure is the caller's own cost, not the caller waiting for the GIL while the batch thread
encodes. The export work is then reported on its own, per span, as measured by those flushes:
it runs on the batch thread, but in CPython it shares the GIL, so it is what a process producing
spans flat out pays on top. The network is left out (a transport that discards the encoded
request). Figures are medians over `--repeats` runs, the cases interleaved so drift hits all."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from typing import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import spyglass
from spyglass import runtime
from spyglass.transport import Outcome


class DiscardTransport:
    def send(self, body: bytes, timeout: float) -> Outcome:
        return Outcome(True)

    def close(self) -> None:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    room = args.calls * 2 + 16  # a span and, for a root span, its start marker per call
    spyglass.init(endpoint="http://127.0.0.1:9/v1/traces", spool=False,
                  max_queue_size=room, batch_size=room, batch_delay_ms=3_600_000)
    pipeline = runtime.state.pipeline
    assert pipeline is not None
    pipeline.exporter._transport = DiscardTransport()
    tracer = trace.get_tracer("bench")

    def noop() -> None:
        return None

    def noop_args(a: int, b: str) -> None:
        return None

    observed = spyglass.observe(noop)
    observed_args = spyglass.observe(noop_args)

    def bare() -> None:
        with tracer.start_as_current_span("noop"):
            noop()

    cases: dict[str, Callable[[], object]] = {
        "plain call, no span": noop,
        "bare OpenTelemetry span": bare,
        "@observe, no arguments": observed,
        "@observe, 2 args captured": lambda: observed_args(1, "two"),
    }
    app: dict[str, list[float]] = {name: [] for name in cases}
    export: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        for _ in range(1000):
            fn()
    provider.force_flush()
    for _ in range(args.repeats):
        for name, fn in cases.items():
            gc.collect()
            start = time.perf_counter_ns()
            for _ in range(args.calls):
                fn()
            app[name].append((time.perf_counter_ns() - start) / args.calls / 1000)
            start = time.perf_counter_ns()
            provider.force_flush()
            export[name].append((time.perf_counter_ns() - start) / args.calls / 1000)
    spyglass.shutdown()

    med = {name: statistics.median(v) for name, v in app.items()}
    exp = {name: statistics.median(v) for name, v in export.items()}
    print(f"Python {platform.python_version()}, {cpu_model()}, {os.cpu_count()} CPUs; "
          f"{args.calls} calls x {args.repeats} runs; median µs per call")
    print(f"  {'':<28} {'app thread':>10} {'export (batch thread)':>22}")
    for name in cases:
        print(f"  {name:<28} {med[name]:10.2f} {exp[name]:22.2f}")
    bare_us = med["bare OpenTelemetry span"]
    print(f"  @observe - bare span:            {med['@observe, no arguments'] - bare_us:+.2f} µs")
    print(f"  @observe(2 args) - bare span:    {med['@observe, 2 args captured'] - bare_us:+.2f} µs")


if __name__ == "__main__":
    main()
