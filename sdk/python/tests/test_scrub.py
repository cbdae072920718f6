"""Unit tests of the scrubbing functions: every detector on its real shape, the near misses it
must leave alone, user patterns, the callback, and span rebuilding."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from spyglass.scrub import GROUPS, Scrubber, build_scrubber, luhn_valid, resolve_detectors

ALL = Scrubber(resolve_detectors("all"))
DEFAULT = Scrubber(resolve_detectors("default"))

# Shapes as the providers issue them (random characters, not real keys).
OPENAI = "sk-proj-Tq3nV8xK2mP9rL4sW7yB1cD6fG0hJ5kN8qR2tU4vX7zA3bE6"
OPENAI_LEGACY = "sk-4f9Kq2Lx8Vn3Rt7Wb1Yc6Pd0Hs5Jm9Gz2Ae4Ui8Ko1"
ANTHROPIC = "sk-ant-api03-Xy7Qw2Er9Ty4Ui1Op6As3Df8Gh5Jk0Lz7Xc2Vb9Nm4Qw1Er6Ty3Ui8Op5As0Df7Gh2Jk9Lz4Xc1Vb6Nm3-AbCdEfAA"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV"
SLACK = "xoxb-2314567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GOOGLE = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize("number,valid", [
    ("4111111111111111", True),
    ("4111 1111 1111 1111", True),
    ("5500-0000-0000-0004", True),
    ("378282246310005", True),     # Amex, 15 digits
    ("6011111111111117", True),    # Discover
    ("4111111111111112", False),   # last digit off
    ("1234567812345678", False),
    ("12345", False),              # too short to be a card
])
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize("secret,label", [
    (OPENAI, "openai_key"),
    (OPENAI_LEGACY, "openai_key"),
    (ANTHROPIC, "anthropic_key"),
    (AWS_ID, "aws_access_key"),
    (GITHUB, "github_token"),
    (GITHUB_PAT, "github_token"),
    (SLACK, "slack_token"),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "slack_token"),
    (STRIPE, "stripe_key"),
    ("rk_test_51H8x2kLmN0pQrStUvWx", "stripe_key"),
    (GOOGLE, "google_api_key"),
    (JWT, "jwt"),
])
def test_secret_shapes_are_redacted_by_default(secret: str, label: str) -> None:
    out = DEFAULT.scrub_text(f"config: {secret} (do not share)")
    assert secret not in out
    assert out == f"config: [REDACTED:{label}] (do not share)"


def test_private_key_block() -> None:
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nend"
    assert DEFAULT.scrub_text(text) == "key:\n[REDACTED:private_key]\nend"


def test_credentials_keep_their_key() -> None:
    assert DEFAULT.scrub_text('{"username": "ana", "password": "hunter2!"}') == \
        '{"username": "ana", "password": "[REDACTED:credential]"}'
    assert DEFAULT.scrub_text("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == \
        "aws_secret_access_key=[REDACTED:credential]"
    assert DEFAULT.scrub_text("Authorization: Bearer abcdef0123456789abcdef") == \
        "Authorization: Bearer [REDACTED:bearer_token]"
    # Already redacted by a more specific detector: not relabelled.
    assert DEFAULT.scrub_text(f"api_key={OPENAI}") == "api_key=[REDACTED:openai_key]"


def test_card_numbers_only_when_luhn_valid() -> None:
    assert DEFAULT.scrub_text("card 4111 1111 1111 1111 exp 12/29") == "card [REDACTED:credit_card] exp 12/29"
    assert DEFAULT.scrub_text("pay with 5500-0000-0000-0004") == "pay with [REDACTED:credit_card]"
    assert DEFAULT.scrub_text("order 4111111111111112") == "order 4111111111111112"
    # Nanosecond timestamps and ids are long digit runs too; they must survive.
    assert DEFAULT.scrub_text('{"start_ns":1700000000123456789}') == '{"start_ns":1700000000123456789}'


def test_ssn() -> None:
    assert DEFAULT.scrub_text("SSN 123-45-6789.") == "SSN [REDACTED:ssn]."
    for invalid in ("000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"):
        assert DEFAULT.scrub_text(invalid) == invalid


def test_email_and_phone_only_in_all() -> None:
    text = "Mail ana.lopez+work@example.co.uk or call +1 415-555-0132 / (415) 555-0199"
    assert DEFAULT.scrub_text(text) == text
    assert ALL.scrub_text(text) == "Mail [REDACTED:email] or call [REDACTED:phone] / [REDACTED:phone]"
    assert ALL.scrub_text("call 415.555.0132 today") == "call [REDACTED:phone] today"
    # Versions, dates and plain counts are not phone numbers.
    for text in ("version 1.2.3", "2024-06-01", "took 1500 ms", "order #12345"):
        assert ALL.scrub_text(text) == text


def test_clean_text_is_returned_unchanged() -> None:
    text = "The weather in Paris is 14°C; tokens used: 1200. Ask sky-high questions."
    assert ALL.scrub_text(text) is text or ALL.scrub_text(text) == text


def test_user_patterns_and_groups() -> None:
    s = Scrubber(resolve_detectors("off"), {"employee_id": r"EMP-\d{6}"})
    assert s.scrub_text("ticket by EMP-004211") == "ticket by [REDACTED:employee_id]"
    assert s.scrub_text(OPENAI) == OPENAI  # detectors off: only the user's pattern
    assert set(GROUPS["default"]) == set(GROUPS["secrets"]) | {"credit_card", "ssn"}
    only_email = Scrubber(resolve_detectors("email"))
    assert only_email.scrub_text("a@b.io 123-45-6789") == "[REDACTED:email] 123-45-6789"
    with pytest.raises(ValueError, match="unknown scrub detector"):
        resolve_detectors("secrets,passport")


def test_callback_runs_last_and_fails_closed() -> None:
    seen: list[tuple[str, str]] = []

    def upper_names(key: str, value: str) -> str:
        seen.append((key, value))
        return value.replace("Ana", "[NAME]")

    s = Scrubber(resolve_detectors("default"), callback=upper_names)
    assert s.scrub_text(f"Ana used {STRIPE}", key="input.value") == "[NAME] used [REDACTED:stripe_key]"
    assert seen == [("input.value", "Ana used [REDACTED:stripe_key]")]

    def broken(key: str, value: str) -> str:
        raise RuntimeError("bug in the hook")

    assert Scrubber(resolve_detectors("off"), callback=broken).scrub_text("anything") == "[REDACTED:callback-error]"


def test_build_scrubber_off_is_none() -> None:
    assert build_scrubber("off", {}, None) is None
    assert build_scrubber("off", {"x": "y"}, None) is not None


def _span(attributes: dict, events: list[Event] | None = None, status: Status | None = None) -> ReadableSpan:
    ctx = SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1))
    return ReadableSpan(name="login", context=ctx, attributes=attributes, events=events or [],
                        status=status or Status(StatusCode.UNSET), start_time=1, end_time=2)


def test_scrub_span_covers_attributes_events_status_and_secret_keys() -> None:
    span = _span(
        {"input.value": f'{{"key": "{OPENAI}"}}', "http.request.header.authorization": "Basic dXNlcjpwYXNz",
         "tokens": 12, "tags": ("ok", "4111 1111 1111 1111")},
        events=[Event("exception", {"exception.message": f"bad key {ANTHROPIC}"}, timestamp=3)],
        status=Status(StatusCode.ERROR, f"AuthError: {GITHUB} revoked"),
    )
    out = DEFAULT.scrub_span(span)
    assert out is not span
    assert out.attributes["input.value"] == '{"key": "[REDACTED:openai_key]"}'
    assert out.attributes["http.request.header.authorization"] == "[REDACTED:secret_attribute]"
    assert out.attributes["tokens"] == 12
    assert out.attributes["tags"] == ("ok", "[REDACTED:credit_card]")
    assert out.events[0].attributes["exception.message"] == "bad key [REDACTED:anthropic_key]"
    assert out.status.description == "AuthError: [REDACTED:github_token] revoked"
    assert out.context == span.context and out.end_time == 2


def test_clean_span_is_not_copied() -> None:
    span = _span({"input.value": "hello", "n": 3})
    assert DEFAULT.scrub_span(span) is span
