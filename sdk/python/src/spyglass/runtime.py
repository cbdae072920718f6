"""`init`, `flush` and `shutdown`: wiring the configuration into an OpenTelemetry TracerProvider.

Three situations are handled:
- no TracerProvider was set: Spyglass creates one (with the resource from the options) and makes
  it the global one, so every OpenTelemetry instrumentation in the process reports through it;
- the application already set an SDK TracerProvider: Spyglass adds its processor to it and
  leaves the application's exporters and resource alone;
- a non-SDK provider is global (a vendor's, or a no-op one): Spyglass keeps a provider of its own
  for its decorators and the frameworks it instruments, and says so in the log."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import config as config_mod
from ._version import __version__
from .context import propagate_into_threads
from .errors import ConfigError, handle_sdk_error, logger, policy
from .export import SpyglassExporter
from .processor import Router, SpyglassSpanProcessor
from .retry import RetryPolicy
from .scrub import build_scrubber
from .spool import Replayer, Spool
from .transport import make_transport

TRACER_NAME = "spyglass"


@dataclass
class Pipeline:
    processor: SpyglassSpanProcessor
    batcher: BatchSpanProcessor
    exporter: SpyglassExporter
    spool: Spool | None
    replayer: Replayer | None
    transports: tuple[Any, ...]

    def flush(self, timeout: float) -> bool:
        self.batcher.force_flush(int(timeout * 1000))
        if self.replayer is not None and self.spool is not None and self.spool.pending:
            return self.replayer.wait_drained(timeout)
        return True

    def shutdown(self) -> None:
        # Stop retry waits first: at exit a batch that cannot be sent goes to the spool at once
        # instead of holding the process for the whole retry budget.
        self.exporter.stopping.set()
        self.batcher.shutdown()
        if self.replayer is not None:
            self.replayer.stop()
        for transport in self.transports:
            try:
                transport.close()
            except Exception:
                pass
        if self.spool is not None:
            self.spool.close()


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.config: config_mod.Config = config_mod.Config()
        self.provider: TracerProvider | None = None
        self.router: Router | None = None
        self.pipeline: Pipeline | None = None
        self.owns_provider = False
        self.atexit_registered = False
        # False after init(enabled=False): decorators and helpers become pass-throughs.
        self.active = True
        # Until init runs, decorators use the global provider (a proxy that follows whatever the
        # application sets later).
        self.tracer: trace.Tracer = trace.get_tracer(TRACER_NAME, __version__)


state = _State()


def _resource(cfg: config_mod.Config, extra: dict[str, Any] | None) -> Resource:
    attrs: dict[str, Any] = {"telemetry.distro.name": "spyglass-sdk", "telemetry.distro.version": __version__}
    if cfg.service_name:
        attrs["service.name"] = cfg.service_name
    if cfg.environment:
        attrs["deployment.environment.name"] = cfg.environment
    if cfg.project:
        attrs["spyglass.project"] = cfg.project
    attrs.update(extra or {})
    # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
    return Resource.create(attrs)


def _build_pipeline(cfg: config_mod.Config) -> Pipeline:
    policy_ = RetryPolicy(
        max_retries=cfg.max_retries,
        initial_backoff=cfg.retry_initial_backoff_ms / 1000,
        max_backoff=cfg.retry_max_backoff_ms / 1000,
        max_elapsed=cfg.retry_max_elapsed_ms / 1000,
    )
    headers = cfg.export_headers()
    transport = make_transport(cfg.protocol, cfg.endpoint, headers, cfg.compression)
    transports: list[Any] = [transport]
    try:
        scrubber = build_scrubber(cfg.scrub, cfg.scrub_patterns, cfg.scrub_callback)
    except (ValueError, Exception) as exc:
        raise ConfigError(f"scrub: {exc}") from exc
    spool = replayer = None
    if cfg.spool:
        spool = Spool(cfg.resolved_spool_path(), cfg.spool_max_bytes, cfg.spool_max_batches)
        # Its own connection pool: the replay thread and the export thread send concurrently.
        replay_transport = make_transport(cfg.protocol, cfg.endpoint, headers, cfg.compression)
        transports.append(replay_transport)
        replayer = Replayer(spool, replay_transport, policy_, cfg.timeout_ms / 1000)
    exporter = SpyglassExporter(transport, policy_, cfg.timeout_ms / 1000, scrubber, spool, replayer)
    batcher = BatchSpanProcessor(
        exporter,
        max_queue_size=cfg.max_queue_size,
        schedule_delay_millis=cfg.batch_delay_ms,
        max_export_batch_size=cfg.batch_size,
    )
    if replayer is not None:
        replayer.start()
        if spool is not None and spool.pending:
            # Batches left by an earlier run of the application.
            replayer.notify()
    processor = SpyglassSpanProcessor(batcher, cfg.running_spans)
    return Pipeline(processor, batcher, exporter, spool, replayer, tuple(transports))


def init(*, tracer_provider: TracerProvider | None = None, resource_attributes: dict[str, Any] | None = None,
         **options: Any) -> bool:
    """Start sending traces to Spyglass. Returns True when the SDK is active.

    Options (each also read from its environment variable, see docs/sdk-python.md): endpoint,
    protocol, api_key, project, service_name, environment, headers, compression, timeout_ms,
    batch_delay_ms, batch_size, max_queue_size, max_retries, retry_initial_backoff_ms,
    retry_max_backoff_ms, retry_max_elapsed_ms, spool, spool_path, spool_max_bytes,
    spool_max_batches, scrub, scrub_patterns, scrub_callback, capture_input, capture_output,
    max_payload_bytes, running_spans, propagate_threads, instrument, fail_silently, enabled,
    api_url, guard_timeout_ms.

    Calling it again replaces the export pipeline (endpoint, batching, scrubbing...) and keeps
    the TracerProvider, whose resource cannot change once spans were made with it.
    """
    fail_silently = options.get("fail_silently")
    if fail_silently is not None:
        policy.fail_silently = bool(fail_silently)
    try:
        cfg = config_mod.load(options)
    except ConfigError as exc:
        handle_sdk_error(exc, "init")
        return False
    policy.fail_silently = cfg.fail_silently
    with state.lock:
        try:
            return _init_locked(cfg, tracer_provider, resource_attributes)
        except Exception as exc:
            handle_sdk_error(exc, "init")
            return False


def _init_locked(cfg: config_mod.Config, tracer_provider: TracerProvider | None,
                 resource_attributes: dict[str, Any] | None) -> bool:
    if state.pipeline is not None:
        old, state.pipeline = state.pipeline, None
        if state.router is not None:
            state.router.target = None
        old.shutdown()
    state.config = cfg
    state.active = cfg.enabled
    if not cfg.enabled:
        logger.debug("spyglass: disabled (SPYGLASS_ENABLED=false or OTEL_SDK_DISABLED=true)")
        return False

    provider = _choose_provider(cfg, tracer_provider, resource_attributes)
    pipeline = _build_pipeline(cfg)
    if state.router is None or state.provider is not provider:
        state.router = Router(shutdown)
        provider.add_span_processor(state.router)
    state.router.target = pipeline.processor
    state.provider = provider
    state.pipeline = pipeline
    state.tracer = provider.get_tracer(TRACER_NAME, __version__)
    if cfg.propagate_threads:
        propagate_into_threads()
    if not state.atexit_registered:
        atexit.register(shutdown)
        state.atexit_registered = True
    if cfg.instrument:
        from .instrument import instrument

        instrument(*cfg.instrument)
    return True


def _choose_provider(cfg: config_mod.Config, explicit: TracerProvider | None,
                     resource_attributes: dict[str, Any] | None) -> TracerProvider:
    if explicit is not None:
        return explicit
    if state.provider is not None:
        return state.provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        logger.info("spyglass: adding to the application's TracerProvider (its resource is kept)")
        return current
    provider = TracerProvider(resource=_resource(cfg, resource_attributes))
    if isinstance(current, trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
        state.owns_provider = True
    else:
        logger.warning("spyglass: the global TracerProvider is a %s, not the OpenTelemetry SDK's; "
                       "Spyglass traces its own decorators and instrumented frameworks with a "
                       "provider of its own", type(current).__name__)
    return provider


def get_tracer_provider() -> TracerProvider | None:
    """The provider Spyglass reports through (None before `init`)."""
    return state.provider


def flush(timeout: float = 10.0) -> bool:
    """Export everything finished so far, and wait for the spool to drain if it has a backlog.
    True when nothing is left waiting."""
    try:
        pipeline = state.pipeline
        return pipeline.flush(timeout) if pipeline is not None else True
    except Exception as exc:
        handle_sdk_error(exc, "flush")
        return False


def shutdown() -> None:
    """Export what is queued (spooling what cannot be sent) and stop the background threads.
    Registered with atexit by `init`."""
    with state.lock:
        pipeline, state.pipeline = state.pipeline, None
        if state.router is not None:
            state.router.target = None
    if pipeline is None:
        return
    try:
        pipeline.shutdown()
    except Exception as exc:
        handle_sdk_error(exc, "shutdown")


def stats() -> dict[str, int]:
    """Counters of the current pipeline: spans exported, spooled, dropped, and the spool's
    backlog. For health checks and tests."""
    pipeline = state.pipeline
    if pipeline is None:
        return {}
    out = {
        "exported_spans": pipeline.exporter.exported_spans,
        "spooled_spans": pipeline.exporter.spooled_spans,
        "dropped_spans": pipeline.exporter.dropped_spans,
    }
    if pipeline.spool is not None:
        s = pipeline.spool.stats()
        out.update(spool_batches=s.batches, spool_spans=s.spans, spool_bytes=s.bytes,
                   spool_dropped_spans=pipeline.spool.dropped_spans)
    if pipeline.replayer is not None:
        out["replayed_batches"] = pipeline.replayer.sent_batches
    return out

