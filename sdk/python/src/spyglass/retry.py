"""Exponential backoff with jitter that honours the server's own wait hint, and retries only what
the OTLP specification calls retryable (the transport classifies; this module waits)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from .transport import Outcome, Transport


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_elapsed: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, hint: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if hint is not None:
            # The server knows its own load better than any formula: wait exactly what it asked.
            return hint
        base = min(self.max_backoff, self.initial_backoff * (2 ** attempt))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


def send_with_retry(transport: Transport, body: bytes, policy: RetryPolicy, timeout: float,
                    stop: threading.Event) -> Outcome:
    """Send until success, a non-retryable answer, or the policy gives up (the caller spools).

    `stop` cuts waiting short at shutdown: a batch still failing then is spooled at once rather
    than holding the process open."""
    started = time.monotonic()
    attempt = 0
    while True:
        outcome = transport.send(body, timeout)
        if outcome.ok or not outcome.retryable or attempt >= policy.max_retries:
            return outcome
        wait = policy.delay(attempt, outcome.retry_after)
        if time.monotonic() - started + wait > policy.max_elapsed:
            return outcome
        if stop.wait(wait):
            return outcome
        attempt += 1
