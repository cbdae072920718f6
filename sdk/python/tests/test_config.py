"""Unit tests: option resolution (argument > SPYGLASS_* > OTEL_* > default), validation, and the
JSON-safe, size-capped capture of values."""

from __future__ import annotations

import dataclasses
import math

import pytest

from spyglass.config import OPTIONS, Config, load
from spyglass.errors import ConfigError
from spyglass.serialize import cap_text, to_json_text


def test_defaults() -> None:
    cfg = load({}, env={})
    assert cfg.endpoint == "http://localhost:4318/v1/traces"
    assert cfg.batch_delay_ms == 1000 and cfg.batch_size == 512
    assert cfg.fail_silently is True and cfg.scrub == "default" and cfg.spool is True
    assert cfg.export_headers() == {}


def test_precedence_argument_then_spyglass_then_otel() -> None:
    env = {"SPYGLASS_BATCH_DELAY_MS": "250", "OTEL_BSP_SCHEDULE_DELAY": "9000",
           "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64", "OTEL_SERVICE_NAME": "from-otel",
           "SPYGLASS_SERVICE_NAME": "from-spyglass"}
    cfg = load({}, env=env)
    assert cfg.batch_delay_ms == 250  # SPYGLASS_* beats OTEL_*
    assert cfg.batch_size == 64  # OTEL_* when no SPYGLASS_*
    assert cfg.service_name == "from-spyglass"
    assert load({"batch_delay_ms": 5, "service_name": "arg"}, env=env).batch_delay_ms == 5


def test_endpoints() -> None:
    assert load({}, env={"SPYGLASS_ENDPOINT": "http://spy:4318"}).endpoint == "http://spy:4318/v1/traces"
    assert load({}, env={"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/"}).endpoint == \
        "https://collector:4318/v1/traces"
    # The signal-specific variable is a full URL by definition: used as is.
    assert load({}, env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/custom"}).endpoint == "http://c:9/custom"
    assert load({"endpoint": "http://h:1/v1/traces"}, env={}).endpoint == "http://h:1/v1/traces"
    grpc = load({"protocol": "grpc"}, env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://spy:4317"})
    assert grpc.endpoint == "http://spy:4317"
    assert load({}, env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}).endpoint == "http://localhost:4317"
    with pytest.raises(ConfigError):
        load({"endpoint": "spy:4318"}, env={})


def test_headers_api_key_and_bools() -> None:
    cfg = load({"api_key": "sg_123"}, env={"OTEL_EXPORTER_OTLP_HEADERS": "X-Team=agents,x-note=a%20b"})
    assert cfg.export_headers() == {"x-team": "agents", "x-note": "a b", "authorization": "Bearer sg_123"}
    assert load({}, env={"SPYGLASS_FAIL_SILENTLY": "false"}).fail_silently is False
    assert load({}, env={"OTEL_SDK_DISABLED": "true"}).enabled is False
    assert load({}, env={"OTEL_SDK_DISABLED": "true", "SPYGLASS_ENABLED": "true"}).enabled is True


@pytest.mark.parametrize("env", [
    {"SPYGLASS_BATCH_DELAY_MS": "soon"},
    {"SPYGLASS_FAIL_SILENTLY": "maybe"},
    {"SPYGLASS_BATCH_SIZE": "0"},
    {"SPYGLASS_PROTOCOL": "carrier-pigeon"},
    {"SPYGLASS_COMPRESSION": "brotli"},
    {"SPYGLASS_SCRUB_PATTERNS": "[unclosed"},
    {"SPYGLASS_HEADERS": "novalue"},
])
def test_bad_values_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        load({}, env=env)
    name = next(iter(env))
    assert name in str(err.value) or name.removeprefix("SPYGLASS_").lower() in str(err.value)


def test_unknown_option() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        load({"endpiont": "http://x:1"}, env={})


def test_every_option_is_a_config_field_and_documented() -> None:
    fields = {f.name for f in dataclasses.fields(Config)}
    assert {o.name for o in OPTIONS} == fields
    with open(__file__.rsplit("/sdk/", 1)[0] + "/docs/sdk-python.md") as f:
        docs = f.read()
    for option in OPTIONS:
        assert f"`{option.name}`" in docs, f"{option.name} missing from docs/sdk-python.md"
        if option.env:
            assert f"`{option.env}`" in docs, f"{option.env} missing from docs/sdk-python.md"


def test_scrub_patterns_from_env() -> None:
    cfg = load({}, env={"SPYGLASS_SCRUB_PATTERNS": '{"ticket": "TCK-\\\\d+"}'})
    assert cfg.scrub_patterns == {"ticket": "TCK-\\d+"}
    assert load({}, env={"SPYGLASS_SCRUB_PATTERNS": '["a+", "b+"]'}).scrub_patterns == {"pattern_0": "a+",
                                                                                         "pattern_1": "b+"}


class Weird:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@dataclasses.dataclass
class Point:
    x: int
    y: float


def test_json_capture_is_safe_for_anything() -> None:
    assert to_json_text({"a": 1, "b": "two"}, 1000) == '{"a":1,"b":"two"}'
    assert to_json_text("plain text", 1000) == "plain text"
    assert to_json_text({"p": Point(1, math.inf), "s": {3}, "b": b"\x00\x01", "w": Weird()}, 1000) == \
        '{"p":{"x":1,"y":"inf"},"s":[3],"b":"<bytes of 2 bytes>","w":"<unrepresentable Weird>"}'
    loop: list = []
    loop.append(loop)
    assert to_json_text(loop, 1000).startswith("[[[[")  # depth-bounded, no RecursionError
    assert '"… 800 more items"' in to_json_text(list(range(1000)), 100_000)


def test_pydantic_models_are_dumped() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Order(pydantic.BaseModel):
        id: int
        items: list[str]

    assert to_json_text({"order": Order(id=7, items=["tea"])}, 1000) == '{"order":{"id":7,"items":["tea"]}}'


def test_cap_counts_utf8_bytes() -> None:
    text = "é" * 100  # 200 bytes
    capped = cap_text(text, 51)
    assert capped == "é" * 25 + "…[truncated 150 bytes]"
    assert cap_text("short", 10) == "short"
