"""Redaction of secrets and personal data before spans leave the process.

Pure functions over strings, plus `Scrubber.scrub_span` which rebuilds a span with redacted
attribute values, event and link attributes, name and status message. Each detector has a cheap
gate (a substring every match contains), so a string with nothing sensitive costs a few substring
scans rather than a pass of every regular expression."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every payment card number satisfies (non-digits are ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Detector:
    name: str
    group: str  # "secrets" or "pii"
    pattern: str
    # A match the validator rejects is left as it is (e.g. a 16-digit number failing Luhn).
    validate: Callable[[str], bool] | None = None
    # Cheap test run before the regex: substrings one of which every match contains (looked for
    # in the lower-cased text when `gate_lower`), or a regex every match contains. Most strings
    # hold no secret, and a substring scan costs a fraction of a regex pass.
    gate: tuple[str, ...] = ()
    gate_lower: bool = False
    gate_regex: str | None = None


_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9])"
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "APKA")

# Detectors run in this order, each on the previous one's result: Anthropic's `sk-ant-` before
# OpenAI's `sk-`, specific key shapes before the generic `key=value` credential rule.
DETECTORS: tuple[Detector, ...] = (
    Detector("private_key", "secrets",
             r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
             gate=("PRIVATE KEY",)),
    Detector("anthropic_key", "secrets", _NOT_ALNUM_BEFORE + r"sk-ant-[A-Za-z0-9_\-]{20,}", gate=("sk-ant-",)),
    Detector("openai_key", "secrets",
             _NOT_ALNUM_BEFORE + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", gate=("sk-",)),
    Detector("stripe_key", "secrets",
             _NOT_ALNUM_BEFORE + r"(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
             gate=("_live_", "_test_", "whsec_")),
    Detector("aws_access_key", "secrets",
             r"(?<![A-Z0-9])(?:" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}(?![A-Z0-9])",
             gate=_AWS_PREFIXES),
    Detector("github_token", "secrets",
             _NOT_ALNUM_BEFORE + r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
             gate=("gh",)),
    Detector("slack_token", "secrets",
             _NOT_ALNUM_BEFORE + r"(?:xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+)",
             gate=("xox", "hooks.slack.com")),
    Detector("google_api_key", "secrets", _NOT_ALNUM_BEFORE + r"AIza[0-9A-Za-z_\-]{35}" + _NOT_ALNUM_AFTER,
             gate=("AIza",)),
    Detector("jwt", "secrets", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", gate=("eyJ",)),
    Detector("bearer_token", "secrets", r"(?P<keep>(?i:\bbearer\s+))(?!\[REDACTED)[A-Za-z0-9._~+/-]{16,}=*",
             gate=("bearer",), gate_lower=True),
    # `password=...`, `"api_key": "..."`, `aws_secret_access_key = ...`: the key stays, the
    # value goes. Catches secrets of shapes no other detector knows (AWS secret keys, passwords).
    Detector("credential", "secrets",
             r"(?P<keep>(?i:[\"']?\b(?:[a-z0-9_]*_)?(?:password|passwd|pwd|secret|client_secret|"
             r"api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|secret[_-]?access[_-]?key|"
             r"private[_-]?key)[\"']?\s*[:=]\s*[\"']?))(?!\[REDACTED)(?P<value>[^\s\"',;}&]{3,})",
             gate=("pass", "pwd", "secret", "key", "token"), gate_lower=True),
    Detector("credit_card", "pii",
             r"\b(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|3[47]\d{2}|3[0689]\d{2}|6(?:011|5\d{2}|4[4-9]\d))"
             r"(?:[ -]?\d){9,15}\b",
             validate=luhn_valid, gate_regex=r"\d{4}"),
    Detector("ssn", "pii", r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b", gate_regex=r"\d{3}-\d{2}-"),
    Detector("email", "pii", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
             gate=("@",)),
    Detector("phone", "pii",
             r"(?<![\w+])(?:"
             r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"  # international, +CC
             r"|(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}"                         # (555) 123-4567, 555-123-4567
             r")(?!\w)",
             gate_regex=r"\d{3}"),
)

DETECTOR_NAMES = tuple(d.name for d in DETECTORS)
GROUPS: dict[str, tuple[str, ...]] = {
    "secrets": tuple(d.name for d in DETECTORS if d.group == "secrets"),
    "pii": tuple(d.name for d in DETECTORS if d.group == "pii"),
}
GROUPS["default"] = GROUPS["secrets"] + ("credit_card", "ssn")
GROUPS["all"] = DETECTOR_NAMES

# Attribute keys whose whole value is a credential whatever it looks like (an HTTP header
# captured by an instrumentation, a config dump): matched on the key's last segment.
_SECRET_KEY_SUFFIXES = frozenset({
    "authorization", "proxy-authorization", "api_key", "api-key", "apikey", "x-api-key", "password",
    "passwd", "secret", "client_secret", "access_token", "refresh_token", "cookie", "set-cookie",
})


def resolve_detectors(spec: str) -> tuple[Detector, ...]:
    """`default`, `all`, `off`, or a comma list of detector and group names."""
    names: list[str] = []
    for item in (part.strip().lower() for part in spec.split(",")):
        if not item or item in ("off", "none", "false"):
            continue
        if item in ("on", "true"):
            item = "default"
        if item in GROUPS:
            names.extend(GROUPS[item])
        elif item in DETECTOR_NAMES:
            names.append(item)
        else:
            raise ValueError(f"unknown scrub detector {item!r}; known: "
                             f"{', '.join(sorted(GROUPS))}, {', '.join(DETECTOR_NAMES)}")
    wanted = set(names)
    return tuple(d for d in DETECTORS if d.name in wanted)


ScrubCallback = Callable[[str, str], str]


def _combined_gate(detectors: Iterable[Detector]) -> re.Pattern[str] | None:
    """One regex matching wherever any detector's gate would: a single C-level scan rules out
    the common string with nothing sensitive in it."""
    parts: list[str] = []
    for d in detectors:
        if d.gate:
            # Matched against the lower-cased text: a superset of every case-sensitive gate, and
            # a case-sensitive pattern is the one the regex engine scans fastest.
            parts.extend(re.escape(g.lower()) for g in d.gate)
        elif d.gate_regex:
            parts.append(d.gate_regex)
        else:
            return None  # a detector without a gate must always run
    return re.compile("|".join(parts)) if parts else re.compile(r"(?!)")


class _Compiled:
    __slots__ = ("label", "regex", "validate", "gate", "gate_lower", "gate_regex", "keeps")

    def __init__(self, label: str, detector: Detector) -> None:
        self.label = label
        self.regex = re.compile(detector.pattern)
        self.validate = detector.validate
        self.gate = detector.gate
        self.gate_lower = detector.gate_lower
        self.gate_regex = re.compile(detector.gate_regex) if detector.gate_regex else None
        # A group named `keep` (the `password=` of a credential) stays; the rest is redacted.
        self.keeps = "keep" in self.regex.groupindex

    def replace(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if self.validate is not None and not self.validate(text):
            return text
        if self.keeps:
            return (match.group("keep") or "") + f"[REDACTED:{self.label}]"
        return f"[REDACTED:{self.label}]"


class Scrubber:
    def __init__(self, detectors: Iterable[Detector], user_patterns: Mapping[str, str] | None = None,
                 callback: ScrubCallback | None = None, redact_secret_keys: bool = True) -> None:
        compiled: list[_Compiled] = []
        # User patterns first: a user who names a shape wants it redacted under their name.
        for label, pattern in (user_patterns or {}).items():
            compiled.append(_Compiled(str(label), Detector(str(label), "user", pattern)))
        compiled.extend(_Compiled(d.name, d) for d in detectors)
        self._compiled = tuple(compiled)
        self._any_gate = _combined_gate(detectors) if not user_patterns else None
        self._secret_keys: dict[str, bool] = {}
        self._callback = callback
        self._redact_secret_keys = redact_secret_keys

    def scrub_text(self, text: str, key: str = "") -> str:
        if self._any_gate is None or self._any_gate.search(text.lower()) is not None:
            text = self._run_detectors(text)
        if self._callback is not None:
            try:
                result = self._callback(key, text)
                text = result if isinstance(result, str) else str(result)
            except Exception:
                # A failing hook must not leak what it was meant to clean.
                return "[REDACTED:callback-error]"
        return text

    def _run_detectors(self, text: str) -> str:
        lower: str | None = None
        for d in self._compiled:
            if d.gate:
                if d.gate_lower:
                    if lower is None:
                        lower = text.lower()
                    haystack = lower
                else:
                    haystack = text
                for literal in d.gate:
                    if literal in haystack:
                        break
                else:
                    continue
            elif d.gate_regex is not None and d.gate_regex.search(text) is None:
                continue
            replaced = d.regex.sub(d.replace, text)
            if replaced != text:
                text, lower = replaced, None
        return text

    def _is_secret_key(self, key: str) -> bool:
        known = self._secret_keys.get(key)
        if known is None:
            known = key.rsplit(".", 1)[-1].lower() in _SECRET_KEY_SUFFIXES
            if len(self._secret_keys) < 10_000:  # attribute keys repeat; a runaway set must not grow
                self._secret_keys[key] = known
        return known

    def scrub_value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if self._redact_secret_keys and self._is_secret_key(key):
                return "[REDACTED:secret_attribute]"
            return self.scrub_text(value, key)
        if isinstance(value, (list, tuple)) and value and any(isinstance(v, str) for v in value):
            return tuple(self.scrub_text(v, key) if isinstance(v, str) else v for v in value)
        return value

    def scrub_attributes(self, attributes: Mapping[str, Any] | None) -> tuple[dict[str, Any], bool]:
        if not attributes:
            return {}, False
        out: dict[str, Any] = {}
        changed = False
        for key, value in attributes.items():
            new = self.scrub_value(key, value)
            if new is not value and new != value:
                changed = True
            out[key] = new
        return out, changed

    def scrub_span(self, span: ReadableSpan) -> ReadableSpan:
        attributes, changed = self.scrub_attributes(span.attributes)
        events: list[Event] = []
        for event in span.events:
            event_attrs, event_changed = self.scrub_attributes(event.attributes)
            if event_changed:
                changed = True
                events.append(Event(event.name, event_attrs, event.timestamp))
            else:
                events.append(event)  # type: ignore[arg-type]
        links: list[Link] = []
        for link in span.links:
            link_attrs, link_changed = self.scrub_attributes(link.attributes)
            if link_changed:
                changed = True
                links.append(Link(link.context, link_attrs))
            else:
                links.append(link)
        name = self.scrub_text(span.name, "span.name")
        status = span.status
        if status is not None and status.description:
            description = self.scrub_text(status.description, "status.message")
            if description != status.description:
                status = Status(status.status_code, description)
                changed = True
        if not changed and name == span.name:
            return span
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def scrub_spans(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        return [self.scrub_span(s) for s in spans]


def build_scrubber(spec: str, user_patterns: Mapping[str, str] | None,
                   callback: ScrubCallback | None) -> Scrubber | None:
    """The scrubber for a configuration, or None when nothing at all is to be redacted."""
    detectors = resolve_detectors(spec)
    off = spec.strip().lower() in ("off", "none", "false", "")
    if off and not user_patterns and callback is None:
        return None
    return Scrubber(detectors, user_patterns, callback, redact_secret_keys=not off)
