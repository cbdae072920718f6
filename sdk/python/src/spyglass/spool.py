"""A bounded on-disk queue of encoded OTLP requests that could not be delivered, and the thread
that re-sends them, oldest first, once the server answers again.

Re-sending is at-least-once: a request that reached the server but whose answer was lost is sent
again. That is safe because Spyglass keeps one version per (trace, span), so the API still shows
each span once."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

from .errors import report_background_error, report_background_warning
from .retry import RetryPolicy
from .transport import Transport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ns INTEGER NOT NULL,
    spans INTEGER NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class SpoolStats:
    batches: int
    spans: int
    bytes: int


class Spool:
    """SQLite file with one row per encoded request. Bounded in batches and bytes; when full, the
    oldest batches are dropped (the newest data is the most useful to someone debugging now)."""

    def __init__(self, path: str, max_bytes: int, max_batches: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self.dropped_batches = 0
        self.dropped_spans = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._conn = self._connect()
        self._pending = self._count()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process; only power loss can lose the last
        # commits, an acceptable price for not fsyncing every batch.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        return conn

    def _db(self) -> sqlite3.Connection:
        # A forked child must not share the parent's SQLite handle.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._conn = self._connect()
        return self._conn

    def _count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    @property
    def pending(self) -> int:
        """Batches waiting, as this process knows them (cheap: no query)."""
        return self._pending

    def append(self, body: bytes, spans: int) -> None:
        with self._lock:
            db = self._db()
            db.execute("INSERT INTO batches (created_ns, spans, size, body) VALUES (?, ?, ?, ?)",
                       (time.time_ns(), spans, len(body), sqlite3.Binary(body)))
            self._enforce_bounds(db)
            self._pending = self._count()

    def _enforce_bounds(self, db: sqlite3.Connection) -> None:
        count, total = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM batches").fetchone()
        if count <= self.max_batches and total <= self.max_bytes:
            return
        excess_rows = max(0, count - self.max_batches)
        excess_bytes = max(0, total - self.max_bytes)
        last_id = None
        removed_rows = removed_bytes = removed_spans = 0
        for row_id, size, spans in db.execute("SELECT id, size, spans FROM batches ORDER BY id"):
            if removed_rows >= excess_rows and removed_bytes >= excess_bytes:
                break
            last_id = row_id
            removed_rows += 1
            removed_bytes += size
            removed_spans += spans
        if last_id is not None:
            db.execute("DELETE FROM batches WHERE id <= ?", (last_id,))
            self.dropped_batches += removed_rows
            self.dropped_spans += removed_spans
            report_background_warning("spyglass: spool full (%s); dropped the %d oldest batches (%d spans)",
                                      self.path, removed_rows, removed_spans)

    def oldest(self) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._db().execute("SELECT id, body FROM batches ORDER BY id LIMIT 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def remove(self, row_id: int) -> None:
        with self._lock:
            db = self._db()
            db.execute("DELETE FROM batches WHERE id = ?", (row_id,))
            self._pending = self._count()

    def stats(self) -> SpoolStats:
        with self._lock:
            count, spans, size = self._db().execute(
                "SELECT COUNT(*), COALESCE(SUM(spans), 0), COALESCE(SUM(size), 0) FROM batches").fetchone()
        return SpoolStats(int(count), int(spans), int(size))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Replayer:
    """Background thread draining the spool. It probes with exponential backoff (or the server's
    Retry-After) while the server is away and sends back to back once it answers."""

    def __init__(self, spool: Spool, transport: Transport, policy: RetryPolicy, timeout: float) -> None:
        self._spool = spool
        self._transport = transport
        self._policy = policy
        self._timeout = timeout
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._not_before = 0.0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.sent_batches = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spyglass-spool-replay", daemon=True)
        self._thread.start()

    def notify(self, retry_after: float | None = None) -> None:
        """New rows are in the spool (after a failed send that may carry the server's hint)."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._stop.clear()
            self.start()
        if retry_after is not None:
            self._not_before = max(self._not_before, time.monotonic() + retry_after)
        self._wake.set()

    def _run(self) -> None:
        # Our own HTTP calls must not be traced by an instrumented HTTP client.
        otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        attempt = 0
        while not self._stop.is_set():
            try:
                item = self._spool.oldest()
            except Exception as exc:
                report_background_error("spyglass: reading the spool failed", exc=exc)
                item = None
                self._stop.wait(self._policy.max_backoff)
            if item is None:
                with self._idle:
                    self._idle.notify_all()
                self._wake.wait()
                self._wake.clear()
                continue
            delay = self._not_before - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            row_id, body = item
            outcome = self._transport.send(body, self._timeout)
            if outcome.ok or not outcome.retryable:
                if not outcome.ok:
                    report_background_error("spyglass: the server refused a spooled batch, dropped: %s",
                                            outcome.detail)
                self._spool.remove(row_id)
                self.sent_batches += outcome.ok
                attempt = 0
                continue
            wait = min(self._policy.delay(attempt, outcome.retry_after),
                       max(self._policy.max_backoff, outcome.retry_after or 0.0))
            attempt += 1
            self._not_before = time.monotonic() + wait

    def wait_drained(self, timeout: float) -> bool:
        """Block until the spool is empty (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._spool.pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
