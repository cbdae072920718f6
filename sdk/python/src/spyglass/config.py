"""Configuration: keyword arguments of `spyglass.init`, then `SPYGLASS_*` environment variables,
then the standard `OTEL_*` ones where they mean the same thing, then defaults.

Every option is declared once in `OPTIONS`; parsing, validation and the documentation table in
docs/sdk-python.md all follow that list."""

from __future__ import annotations

import json
import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from .errors import ConfigError

HTTP_PROTOBUF = "http/protobuf"
GRPC = "grpc"


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_str(raw: str) -> str:
    return raw.strip()


def _parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _parse_headers(raw: str) -> dict[str, str]:
    """The OTLP exporter header format: `k1=v1,k2=v2`, values URL-encoded."""
    from urllib.parse import unquote

    headers: dict[str, str] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"header {pair!r} is not key=value")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def _parse_patterns(raw: str) -> dict[str, str]:
    """A JSON list of regular expressions, or a JSON object of name -> expression."""
    value = json.loads(raw)
    if isinstance(value, list):
        return {f"pattern_{i}": str(p) for i, p in enumerate(value)}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    raise ValueError("expected a JSON list or object of regular expressions")


def _otel_timeout_ms(raw: str) -> int:
    # OTEL_EXPORTER_OTLP_TIMEOUT is milliseconds per the specification.
    return int(float(raw.strip()))


def _otel_protocol(raw: str) -> str:
    return raw.strip().lower()


@dataclass(frozen=True)
class Option:
    """One configuration option: its keyword, environment variables and default."""

    name: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    otel_env: tuple[str, ...] = ()
    otel_parse: Callable[[str], Any] | None = None


def _default_spool_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(pathlib.Path.home(), ".cache")
    return os.path.join(base, "spyglass", "spool")


OPTIONS: tuple[Option, ...] = (
    Option("endpoint", "SPYGLASS_ENDPOINT", None, _parse_str,
           "Spyglass's OTLP address. HTTP: a base URL (`/v1/traces` is added) or the full traces URL; "
           "gRPC: `host:port` or `http(s)://host:port`. Default `http://localhost:4318` "
           "(`localhost:4317` for gRPC).",
           ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    Option("protocol", "SPYGLASS_PROTOCOL", HTTP_PROTOBUF, _otel_protocol,
           "`http/protobuf` or `grpc` (gRPC needs the `grpc` extra).",
           ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")),
    Option("api_key", "SPYGLASS_API_KEY", None, _parse_str,
           "Project API key, sent as `Authorization: Bearer <key>`."),
    Option("project", "SPYGLASS_PROJECT", None, _parse_str,
           "Project label, sent as the resource attribute `spyglass.project`."),
    Option("service_name", "SPYGLASS_SERVICE_NAME", None, _parse_str,
           "Resource `service.name` (when Spyglass creates the TracerProvider).",
           ("OTEL_SERVICE_NAME",)),
    Option("environment", "SPYGLASS_ENVIRONMENT", None, _parse_str,
           "Resource `deployment.environment.name` (when Spyglass creates the TracerProvider)."),
    Option("headers", "SPYGLASS_HEADERS", {}, _parse_headers,
           "Extra export headers, `k1=v1,k2=v2`.",
           ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")),
    Option("compression", "SPYGLASS_COMPRESSION", "gzip", _parse_str,
           "`gzip` or `none`.",
           ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")),
    Option("timeout_ms", "SPYGLASS_TIMEOUT_MS", 10_000, _parse_int,
           "Timeout of one export request.",
           ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"), _otel_timeout_ms),
    Option("batch_delay_ms", "SPYGLASS_BATCH_DELAY_MS", 1000, _parse_int,
           "Longest time a finished span waits before it is exported.",
           ("OTEL_BSP_SCHEDULE_DELAY",)),
    Option("batch_size", "SPYGLASS_BATCH_SIZE", 512, _parse_int,
           "Most spans in one export request; a full batch is exported at once.",
           ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",)),
    Option("max_queue_size", "SPYGLASS_MAX_QUEUE_SIZE", 2048, _parse_int,
           "Spans waiting for export in memory; beyond this the oldest are dropped.",
           ("OTEL_BSP_MAX_QUEUE_SIZE",)),
    Option("max_retries", "SPYGLASS_MAX_RETRIES", 5, _parse_int,
           "Retries of a retryable failure (HTTP 429/502/503/504, gRPC UNAVAILABLE...) before the "
           "batch goes to the spool."),
    Option("retry_initial_backoff_ms", "SPYGLASS_RETRY_INITIAL_BACKOFF_MS", 500, _parse_int,
           "First retry delay; doubles each retry (with jitter). `Retry-After` / `RetryInfo` win."),
    Option("retry_max_backoff_ms", "SPYGLASS_RETRY_MAX_BACKOFF_MS", 30_000, _parse_int,
           "Longest retry delay, also the longest pause between spool replay attempts."),
    Option("retry_max_elapsed_ms", "SPYGLASS_RETRY_MAX_ELAPSED_MS", 30_000, _parse_int,
           "Longest time one batch is retried before it goes to the spool."),
    Option("spool", "SPYGLASS_SPOOL", True, _parse_bool,
           "Keep batches that could not be delivered in a local SQLite spool and re-send them."),
    Option("spool_path", "SPYGLASS_SPOOL_PATH", None, _parse_str,
           "Spool file. Default `$XDG_CACHE_HOME/spyglass/spool/<service>.sqlite3` "
           "(`~/.cache/...`)."),
    Option("spool_max_bytes", "SPYGLASS_SPOOL_MAX_BYTES", 100 * 1024 * 1024, _parse_int,
           "Spool size bound (encoded batches); the oldest batches are dropped beyond it."),
    Option("spool_max_batches", "SPYGLASS_SPOOL_MAX_BATCHES", 10_000, _parse_int,
           "Spool bound in batches; the oldest are dropped beyond it."),
    Option("scrub", "SPYGLASS_SCRUB", "default", _parse_str,
           "Detectors applied before export: `default` (secrets, credit cards, US SSNs), `all` "
           "(adds e-mail and phone numbers), `off`, or a comma list of detector and group names."),
    Option("scrub_patterns", "SPYGLASS_SCRUB_PATTERNS", {}, _parse_patterns,
           "Your own regular expressions to redact: a JSON list, or a JSON object name -> regex."),
    Option("scrub_callback", "", None, _parse_str,
           "Code only: `callback(key, value) -> str`, run on every string after the detectors."),
    Option("capture_input", "SPYGLASS_CAPTURE_INPUT", True, _parse_bool,
           "Record decorated functions' arguments."),
    Option("capture_output", "SPYGLASS_CAPTURE_OUTPUT", True, _parse_bool,
           "Record decorated functions' return values."),
    Option("max_payload_bytes", "SPYGLASS_MAX_PAYLOAD_BYTES", 32 * 1024, _parse_int,
           "Cap on one captured input or output (UTF-8 bytes); longer values end with "
           "`…[truncated N bytes]`."),
    Option("running_spans", "SPYGLASS_RUNNING_SPANS", True, _parse_bool,
           "Export a 'running' version of agent, chain and root spans that are still open when a "
           "batch is exported, so long runs are visible while they run."),
    Option("propagate_threads", "SPYGLASS_PROPAGATE_THREADS", True, _parse_bool,
           "Carry the current span and session into new threads and thread-pool tasks."),
    Option("instrument", "SPYGLASS_INSTRUMENT", [], _parse_list,
           "Frameworks to auto-instrument at init, e.g. `openai,langchain` (see `instrument`)."),
    Option("fail_silently", "SPYGLASS_FAIL_SILENTLY", True, _parse_bool,
           "Keep every SDK error away from the application (logged at DEBUG on the `spyglass` "
           "logger). `false`: configuration errors raise and export errors are logged as errors."),
    Option("enabled", "SPYGLASS_ENABLED", True, _parse_bool,
           "`false` turns the SDK into a pass-through (also `OTEL_SDK_DISABLED=true`)."),
    Option("api_url", "SPYGLASS_API_URL", "http://127.0.0.1:6060", _parse_str,
           "Spyglass's API (dashboard) address, which guard checks are sent to "
           "(`POST /api/v1/guard/check`). `SPYGLASS_URL` (the CLI's variable) is read too.",
           ("SPYGLASS_URL",)),
    Option("guard_timeout_ms", "SPYGLASS_GUARD_TIMEOUT_MS", 3000, _parse_int,
           "Longest time one guard check may take, queueing included; past it the verdict is "
           "`error` and `fail_open` decides (a `guard(timeout=...)` wins)."),
)

OPTION_NAMES = frozenset(o.name for o in OPTIONS)


@dataclass(frozen=True)
class Config:
    endpoint: str = "http://localhost:4318/v1/traces"
    protocol: str = HTTP_PROTOBUF
    api_key: str | None = None
    project: str | None = None
    service_name: str | None = None
    environment: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    compression: str = "gzip"
    timeout_ms: int = 10_000
    batch_delay_ms: int = 1000
    batch_size: int = 512
    max_queue_size: int = 2048
    max_retries: int = 5
    retry_initial_backoff_ms: int = 500
    retry_max_backoff_ms: int = 30_000
    retry_max_elapsed_ms: int = 30_000
    spool: bool = True
    spool_path: str | None = None
    spool_max_bytes: int = 100 * 1024 * 1024
    spool_max_batches: int = 10_000
    scrub: str = "default"
    scrub_patterns: Mapping[str, str] = field(default_factory=dict)
    scrub_callback: Callable[[str, str], str] | None = None
    capture_input: bool = True
    capture_output: bool = True
    max_payload_bytes: int = 32 * 1024
    running_spans: bool = True
    propagate_threads: bool = True
    instrument: tuple[str, ...] = ()
    fail_silently: bool = True
    enabled: bool = True
    api_url: str = "http://127.0.0.1:6060"
    guard_timeout_ms: int = 3000

    def export_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    def resolved_spool_path(self) -> str:
        if self.spool_path:
            return self.spool_path
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.service_name or "default")
        return os.path.join(_default_spool_path(), f"{name}.sqlite3")


def _from_env(option: Option, env: Mapping[str, str]) -> tuple[bool, Any]:
    if option.env and env.get(option.env, "").strip():
        try:
            return True, option.parse(env[option.env])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{option.env}={env[option.env]!r}: {exc}") from exc
    for name in option.otel_env:
        if env.get(name, "").strip():
            parse = option.otel_parse or option.parse
            try:
                return True, parse(env[name])
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{name}={env[name]!r}: {exc}") from exc
    return False, None


def _normalize_endpoint(raw: str | None, protocol: str, env_source: str | None) -> str:
    """Turn what the user gave into the URL (HTTP) or target (gRPC) the transport uses."""
    if protocol == GRPC:
        if not raw:
            return "http://localhost:4317"
        parsed = urlparse(raw if "://" in raw else f"http://{raw}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.port:
            raise ConfigError(f"gRPC endpoint {raw!r} needs host:port")
        # The scheme only says whether to use TLS.
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port}"
    if not raw:
        raw = "http://localhost:4318"
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"endpoint {raw!r} is not an http(s) URL")
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full signal URL by definition; a base URL from
    # anywhere else gets the signal path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
    if env_source == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" or parsed.path.rstrip("/").endswith("/v1/traces"):
        return raw
    return raw.rstrip("/") + "/v1/traces"


def load(overrides: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Resolve every option: keyword argument, then SPYGLASS_*, then OTEL_*, then default."""
    env = os.environ if env is None else env
    unknown = set(overrides) - OPTION_NAMES
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    endpoint_env: str | None = None
    for option in OPTIONS:
        if overrides.get(option.name) is not None:
            values[option.name] = overrides[option.name]
            continue
        found, value = _from_env(option, env)
        if found:
            values[option.name] = value
            if option.name == "endpoint" and not (option.env and env.get(option.env, "").strip()):
                endpoint_env = next(n for n in option.otel_env if env.get(n, "").strip())
        else:
            values[option.name] = option.default
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" and overrides.get("enabled") is None \
            and not env.get("SPYGLASS_ENABLED", "").strip():
        values["enabled"] = False

    protocol = str(values["protocol"]).lower()
    if protocol in ("http", "http/protobuf", "otlp"):
        protocol = HTTP_PROTOBUF
    if protocol not in (HTTP_PROTOBUF, GRPC):
        raise ConfigError(f"protocol {values['protocol']!r}: use http/protobuf or grpc")
    values["protocol"] = protocol
    values["endpoint"] = _normalize_endpoint(values["endpoint"], protocol, endpoint_env)
    compression = str(values["compression"]).lower()
    if compression not in ("gzip", "none"):
        raise ConfigError(f"compression {values['compression']!r}: use gzip or none")
    values["compression"] = compression
    api_url = str(values["api_url"]).strip()
    parsed_api = urlparse(api_url)
    if parsed_api.scheme not in ("http", "https") or not parsed_api.hostname:
        raise ConfigError(f"api_url {values['api_url']!r} is not an http(s) URL")
    values["api_url"] = api_url.rstrip("/")
    for name in ("timeout_ms", "guard_timeout_ms", "batch_delay_ms", "batch_size", "max_queue_size",
                 "spool_max_bytes", "spool_max_batches", "max_payload_bytes", "retry_max_backoff_ms"):
        if int(values[name]) <= 0:
            raise ConfigError(f"{name} must be positive, got {values[name]!r}")
    for name in ("max_retries", "retry_initial_backoff_ms", "retry_max_elapsed_ms"):
        if int(values[name]) < 0:
            raise ConfigError(f"{name} must not be negative, got {values[name]!r}")
    if values["batch_size"] > values["max_queue_size"]:
        values["batch_size"] = values["max_queue_size"]
    if isinstance(values["instrument"], str):
        values["instrument"] = _parse_list(values["instrument"])
    values["instrument"] = tuple(values["instrument"])
    if isinstance(values["scrub"], bool):
        values["scrub"] = "default" if values["scrub"] else "off"
    if isinstance(values["scrub_patterns"], (list, tuple)):
        values["scrub_patterns"] = {f"pattern_{i}": p for i, p in enumerate(values["scrub_patterns"])}
    if values["scrub_callback"] is not None and not callable(values["scrub_callback"]):
        raise ConfigError("scrub_callback must be callable")
    return Config(**values)
