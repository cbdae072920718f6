#!/usr/bin/env python3
"""A ClickHouse HTTP-interface test server backed by chDB (the embedded ClickHouse engine).

What it is
    A small stdlib-only HTTP server (http.server.ThreadingHTTPServer) that speaks
    the subset of ClickHouse's HTTP interface used by the Rust `clickhouse` crate
    (v0.15.x), and executes every statement in a persistent chDB session
    (`chdb.session.Session(DIR)`).  The SQL engine *is* ClickHouse (chDB 4.4.0 ships
    ClickHouse 26.9), so SQL semantics, data types, formats, MergeTree engines,
    deduplication, mutations and error messages are the real ones; only the HTTP
    layer is re-implemented here.  Meant for tests where a ClickHouse server cannot
    be installed.

How to run
    python tests/chdb_server.py --port 0 --data DIR [--host 127.0.0.1] [--verbose]

    --port 0 picks a free port.  Once listening, exactly one line
    `LISTENING <port>` is printed to stdout (and flushed).  The server runs until
    SIGTERM/SIGINT and then exits with status 0, closing the chDB session.
    Restarting on the same --data DIR keeps all databases and tables, which is
    how tests simulate a ClickHouse outage.

The subset it speaks
    * GET /, GET /ping, GET /replicas_status  -> 200 "Ok.\\n"
    * GET or POST / with the SQL in the `query` URL parameter and/or the request
      body; like ClickHouse, URL `query` + "\\n" + body is the statement.
      A `multipart/form-data` body (what the crate sends when a query has
      server-side parameters) is read for its `query` and `param_<name>` fields.
    * URL parameters: `database` (current database for the statement),
      `default_format` (output format, default TabSeparated; a FORMAT clause in the
      SQL wins), `query_id` (echoed in X-ClickHouse-Query-Id), `param_<name>`
      (server-side `{name:Type}` query parameters, handled by chDB natively), and
      every other parameter is a ClickHouse setting applied to that one statement
      (`SET k='v'` before, reset afterwards; unknown settings fail with Code 115
      UNKNOWN_SETTING just like ClickHouse).  Ignored HTTP-only parameters:
      user, password, quota_key, role, session_id, session_timeout, session_check,
      close_session, buffer_size, wait_end_of_query, stacktrace,
      client_protocol_version, readonly (see differences).
    * `INSERT INTO t(cols) [SETTINGS ...] FORMAT <fmt>` with the data in the body
      (Content-Length or chunked Transfer-Encoding), e.g. RowBinary or
      RowBinaryWithNamesAndTypes as the crate sends.  The body is buffered
      completely (spooled to a temp file past 32 MiB) and then streamed into chDB
      with `Session.send_insert()`.  Other statements (INSERT ... VALUES,
      INSERT ... SELECT, DDL, ALTER, ...) are executed as plain SQL; they answer an
      empty 200 body.
    * Success responses carry X-ClickHouse-Query-Id, X-ClickHouse-Format,
      X-ClickHouse-Timezone, X-ClickHouse-Server-Display-Name and an
      X-ClickHouse-Summary JSON header (read_rows, read_bytes, written_rows,
      written_bytes, total_rows_to_read, result_rows, result_bytes, elapsed_ns,
      all as strings, like ClickHouse) and Content-Length (keep-alive HTTP/1.1).
    * Errors: HTTP 400 (syntax/parse/bad-argument), 404 (unknown table/database)
      or 500 (everything else), header X-ClickHouse-Exception-Code: <n>, body
      `Code: <n>. DB::Exception: <message> (NAME) (version 26.9.x)` -- the exact
      text chDB produced.  The server stays up on bad input.

Known differences from a real ClickHouse server
    * No compression at all: `compress=1` / `decompress=1` (the crate's
      Compression::Lz4/Zstd) and a request Content-Encoding are rejected with an
      error; Accept-Encoding is ignored and responses are always identity.
      Configure the client with Compression::None.
    * No authentication, users, roles, quotas or `readonly` enforcement.
    * No HTTP sessions (session_id is ignored; every request is independent, and a
      `SET` statement has no lasting effect, as over HTTP without a session).
    * Statements run one at a time (a global lock around the single chDB session),
      so concurrency is correct but not parallel; a long query blocks the others.
    * Results are fully materialised before sending (no streaming, no
      X-ClickHouse-Progress, no mid-stream exception blocks); so an error is always
      reported with an HTTP error status, never inside a 200 body.
    * Insert bodies are fully received before the insert starts (ClickHouse parses
      while receiving); query parameters (`param_*`) are not applied to
      `INSERT ... FORMAT` statements.
    * chDB accepts multi-statement queries (`a; b`), ClickHouse's HTTP interface
      does not.
    * KILL QUERY / system.processes / query_id uniqueness are not meaningful.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

SERVER_NAME = "chdb-test-server"

# URL parameters that are part of the HTTP protocol, not settings.
IGNORED_PARAMS = {
    "user",
    "password",
    "quota_key",
    "role",
    "session_id",
    "session_timeout",
    "session_check",
    "close_session",
    "buffer_size",
    "wait_end_of_query",
    "stacktrace",
    "client_protocol_version",
    # `SET readonly=1` could not be reset on the shared session; not enforced.
    "readonly",
}
# Output "formats" of the chDB Python API that are not ClickHouse formats.
PYTHON_ONLY_FORMATS = {"dataframe", "arrowtable", "debug"}

# ClickHouse error code -> HTTP status (a subset of what ClickHouse maps).
HTTP_400_CODES = {
    6,  # CANNOT_PARSE_TEXT
    26,  # CANNOT_PARSE_QUOTED_STRING
    27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  # ATTEMPT_TO_READ_AFTER_EOF
    33,  # CANNOT_READ_ALL_DATA
    35,  # TOO_FEW_ARGUMENTS_FOR_FUNCTION
    36,  # BAD_ARGUMENTS
    38,  # CANNOT_PARSE_DATE
    41,  # CANNOT_PARSE_DATETIME
    42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,  # ILLEGAL_TYPE_OF_ARGUMENT
    44,  # ILLEGAL_COLUMN
    46,  # UNKNOWN_FUNCTION
    47,  # UNKNOWN_IDENTIFIER
    53,  # TYPE_MISMATCH
    62,  # SYNTAX_ERROR
    69,  # ARGUMENT_OUT_OF_BOUND
    70,  # CANNOT_CONVERT_TYPE
    72,  # CANNOT_PARSE_NUMBER
    73,  # UNKNOWN_FORMAT
    115,  # UNKNOWN_SETTING
    117,  # INCORRECT_DATA
    184,  # ILLEGAL_AGGREGATION
    215,  # NOT_AN_AGGREGATE
    456,  # UNKNOWN_QUERY_PARAMETER
    457,  # BAD_QUERY_PARAMETER
}
HTTP_404_CODES = {60, 81}  # UNKNOWN_TABLE, UNKNOWN_DATABASE

CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values; charset=UTF-8",
    "tsv": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnames": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnamesandtypes": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent",
    "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "json": "application/json; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
    "jsoncompacteachrow": "application/x-ndjson; charset=UTF-8",
}

_INSERT_FORMAT_RE = re.compile(
    r"^(?P<head>\s*INSERT\s+INTO\s.*?)\s+FORMAT\s+(?P<fmt>[A-Za-z][A-Za-z0-9_]*)[ \t]*(?:\r?\n)?",
    re.IGNORECASE | re.DOTALL,
)
_TRAILING_FORMAT_RE = re.compile(
    r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE
)
_SET_STMT_RE = re.compile(r"(?:^|;)\s*SET\s", re.IGNORECASE)
_CODE_RE = re.compile(r"Code:\s*(\d+)\.")
_PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SPOOL_LIMIT = 32 * 1024 * 1024
FEED_CHUNK = 1024 * 1024


class ClickHouseError(Exception):
    """An error to answer in ClickHouse's style."""

    def __init__(self, code, message, name=None):
        self.code = int(code)
        text = message
        if not text.startswith("Code:"):
            suffix = f" ({name})" if name else ""
            text = f"Code: {self.code}. DB::Exception: {message}{suffix}"
        self.text = text
        super().__init__(text)

    @classmethod
    def from_chdb(cls, exc):
        text = str(exc).strip()
        # Strip wrappers the Python API adds around the engine message.
        idx = text.find("Code: ")
        if idx > 0:
            text = text[idx:]
        m = _CODE_RE.match(text)
        if m:
            return cls(int(m.group(1)), text)
        return cls(1001, text, "STD_EXCEPTION")

    @property
    def http_status(self):
        if self.code in HTTP_400_CODES:
            return 400
        if self.code in HTTP_404_CODES:
            return 404
        return 500


def sql_quote(value):
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """One chDB session; every statement runs under one lock."""

    def __init__(self, path):
        from chdb import session as chdb_session

        os.makedirs(path, exist_ok=True)
        self.lock = threading.Lock()
        self.session = chdb_session.Session(path)
        self.baseline = self._changed_settings()
        self.timezone = self._scalar("SELECT timezone()") or "UTC"
        self.version = self._scalar("SELECT version()") or ""

    # -- helpers (call with the lock held) ------------------------------
    def _run(self, sql, fmt="TabSeparated", params=None):
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as exc:  # chdb raises ChdbError(RuntimeError)
            raise ClickHouseError.from_chdb(exc) from None

    def _scalar(self, sql):
        return self._run(sql).bytes().decode("utf-8", "replace").strip()

    def _changed_settings(self):
        out = self._run(
            "SELECT name, value FROM system.settings WHERE changed", "JSONEachRow"
        ).bytes()
        result = {}
        for line in out.splitlines():
            if line.strip():
                row = json.loads(line)
                result[row["name"]] = row["value"]
        return result

    def _reset_setting(self, name):
        if name in self.baseline:
            self._run(f"SET {name} = {sql_quote(self.baseline[name])}")
        else:
            self._run(f"SET {name} = DEFAULT")

    def _reset_all_changed(self):
        for name, value in self._changed_settings().items():
            if self.baseline.get(name) != value:
                try:
                    self._reset_setting(name)
                except ClickHouseError:
                    pass

    def close(self):
        with self.lock:
            if self.session is not None:
                self.session.close()
                self.session = None

    # -- public --------------------------------------------------------
    def execute(self, sql, fmt, database, settings, params, data_file=None, insert=None):
        """Run one request.  Returns (body_bytes, summary_dict).

        insert: (insert_sql_without_format, input_format) when data_file holds the
        INSERT's data; otherwise `sql` is executed and its result returned in `fmt`.
        """
        with self.lock:
            if self.session is None:
                raise ClickHouseError(1002, "server is shutting down", "ABORTED")
            started = time.monotonic()
            applied = []
            try:
                self._run(f"USE {quote_ident(database or 'default')}")
                for name, value in settings:
                    if not _PARAM_NAME_RE.match(name):
                        raise ClickHouseError(
                            115, f"Unknown setting '{name}'", "UNKNOWN_SETTING"
                        )
                    self._run(f"SET {name} = {sql_quote(value)}")
                    applied.append(name)
                summary = {}
                if insert is not None:
                    insert_sql, input_format = insert
                    try:
                        inserter = self.session.send_insert(insert_sql, input_format)
                    except Exception as exc:
                        raise ClickHouseError.from_chdb(exc) from None
                    try:
                        if data_file is not None:
                            data_file.seek(0)
                            while True:
                                chunk = data_file.read(FEED_CHUNK)
                                if not chunk:
                                    break
                                inserter.append(chunk)
                        res = inserter.finish()
                    except Exception as exc:
                        try:
                            inserter.cancel()
                        except Exception:
                            pass
                        raise ClickHouseError.from_chdb(exc) from None
                    body = b""
                    summary.update(
                        written_rows=res.rows_written, written_bytes=res.bytes_written
                    )
                else:
                    res = self._run(sql, fmt, params)
                    body = res.bytes() or b""
                    summary.update(
                        read_rows=res.rows_read(),
                        read_bytes=res.bytes_read(),
                        written_rows=res.rows_written(),
                        written_bytes=res.bytes_written(),
                        result_bytes=len(body),
                    )
                summary["elapsed_ns"] = int((time.monotonic() - started) * 1e9)
                return body, summary
            finally:
                for name in applied:
                    try:
                        self._reset_setting(name)
                    except ClickHouseError:
                        pass
                if insert is None and _SET_STMT_RE.search(sql or ""):
                    self._reset_all_changed()


def read_body(handler):
    """The request body as a spooled temp file (de-chunked).  Returns (file, size)."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
    size = 0
    rfile = handler.rfile
    te = handler.headers.get("Transfer-Encoding", "")
    if "chunked" in te.lower():
        while True:
            line = rfile.readline(65537)
            if not line:
                raise ClickHouseError(
                    33, "Unexpected end of chunked request body", "CANNOT_READ_ALL_DATA"
                )
            line = line.split(b";", 1)[0].strip()
            if not line:
                continue
            try:
                n = int(line, 16)
            except ValueError:
                raise ClickHouseError(
                    27, f"Bad chunk size {line[:32]!r}", "CANNOT_PARSE_INPUT_ASSERTION_FAILED"
                ) from None
            if n == 0:
                # Trailers until the empty line.
                while True:
                    trailer = rfile.readline(65537)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                break
            remaining = n
            while remaining:
                chunk = rfile.read(min(remaining, FEED_CHUNK))
                if not chunk:
                    raise ClickHouseError(
                        33, "Unexpected end of chunked request body", "CANNOT_READ_ALL_DATA"
                    )
                out.write(chunk)
                remaining -= len(chunk)
            size += n
            rfile.readline(65537)  # CRLF after the chunk
    else:
        length = int(handler.headers.get("Content-Length") or 0)
        remaining = length
        while remaining:
            chunk = rfile.read(min(remaining, FEED_CHUNK))
            if not chunk:
                raise ClickHouseError(
                    33, "Unexpected end of request body", "CANNOT_READ_ALL_DATA"
                )
            out.write(chunk)
            remaining -= len(chunk)
        size = length
    out.seek(0)
    return out, size


def parse_multipart(body, content_type):
    """Minimal multipart/form-data parser -> list of (name, value str)."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ClickHouseError(36, "multipart/form-data without boundary", "BAD_ARGUMENTS")
    boundary = b"--" + m.group(1).encode()
    fields = []
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        if part.endswith(b"\r\n"):
            part = part[:-2]
        head, sep, value = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        nm = re.search(rb'name="([^"]*)"', head)
        if not nm:
            continue
        fields.append((nm.group(1).decode(), value.decode("utf-8")))
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickHouse-chdb-test"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    # -- responses -----------------------------------------------------
    def _send(self, status, body, headers=None, content_type="text/plain; charset=UTF-8"):
        try:
            self._send_inner(status, body, headers, content_type)
        except OSError:  # the client went away
            self.close_connection = True

    def _send_inner(self, status, body, headers, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", SERVER_NAME)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err, query_id):
        text = err.text
        if "(version " not in text and self.server.engine.version:
            text += f" (version {self.server.engine.version})"
        if self.server.verbose:
            sys.stderr.write(f"error: {text}\n")
        self._send(
            err.http_status,
            (text + "\n").encode("utf-8", "replace"),
            {
                "X-ClickHouse-Exception-Code": str(err.code),
                "X-ClickHouse-Query-Id": query_id,
            },
        )

    # -- verbs ---------------------------------------------------------
    def do_GET(self):
        self._handle(body_allowed=False)

    def do_POST(self):
        self._handle(body_allowed=True)

    def do_HEAD(self):
        self._send(200, b"Ok.\n")

    def _handle(self, body_allowed):
        split = urlsplit(self.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        query_id = next((v for k, v in pairs if k == "query_id" and v), None) or str(
            uuid.uuid4()
        )
        body_file = None
        try:
            try:
                body_file, body_size = read_body(self)
            except ClickHouseError:
                self.close_connection = True  # the framing is lost
                raise
            if split.path in ("/ping", "/replicas_status"):
                self._send(200, b"Ok.\n")
                return
            if split.path not in ("/", ""):
                self._send(404, b"There is no handle " + split.path.encode() + b"\n")
                return
            url_query = next((v for k, v in pairs if k == "query"), None)
            if url_query is None and body_size == 0 and not body_allowed:
                self._send(200, b"Ok.\n")
                return
            self._execute(pairs, url_query, body_file, query_id)
        except ClickHouseError as err:
            self._send_error(err, query_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # keep serving whatever happens
            self._send_error(
                ClickHouseError(1001, f"{type(exc).__name__}: {exc}", "STD_EXCEPTION"),
                query_id,
            )
        finally:
            if body_file is not None:
                body_file.close()

    def _execute(self, pairs, url_query, body_file, query_id):
        engine = self.server.engine
        if self.headers.get("Content-Encoding"):
            raise ClickHouseError(
                36,
                "chdb test server: compressed request bodies (Content-Encoding) are "
                "not supported, configure the client with Compression::None",
                "BAD_ARGUMENTS",
            )
        database = None
        fmt = "TabSeparated"
        settings = []
        params = {}
        for k, v in pairs:
            if k == "query" or k == "query_id":
                continue
            if k == "database":
                database = v or None
            elif k == "default_format":
                fmt = v or fmt
            elif k in ("compress", "decompress"):
                if v not in ("", "0", "false"):
                    raise ClickHouseError(
                        36,
                        f"chdb test server: `{k}={v}` (ClickHouse native block "
                        "compression) is not supported, configure the client with "
                        "Compression::None",
                        "BAD_ARGUMENTS",
                    )
            elif k.startswith("param_"):
                params[k[len("param_"):]] = v
            elif k in IGNORED_PARAMS:
                continue
            else:
                settings.append((k, v))

        sql = url_query or ""
        data_file = None
        insert = None
        ctype = self.headers.get("Content-Type", "")
        if body_file is not None and ctype.lower().startswith("multipart/form-data"):
            form_query = []
            for name, value in parse_multipart(body_file.read(), ctype):
                if name == "query":
                    form_query.append(value)
                elif name.startswith("param_"):
                    params[name[len("param_"):]] = value
                # External tables (other fields) are not supported; ignored.
            sql = "\n".join(q for q in [sql] + form_query if q)
        elif body_file is not None:
            m = _INSERT_FORMAT_RE.match(sql) if sql else None
            if m and m.end() >= len(sql.rstrip()):
                # INSERT ... FORMAT X in the URL, data in the body.
                insert = (m.group("head"), m.group("fmt"))
                data_file = body_file
            elif not sql.strip():
                # Possibly "INSERT ... FORMAT X\n<data>" entirely in the body.
                head = body_file.read(65536)
                m = _INSERT_FORMAT_RE.match(head.decode("utf-8", "replace"))
                if m and len(m.group(0).encode("utf-8")) <= len(head):
                    insert = (m.group("head"), m.group("fmt"))
                    body_file.seek(len(m.group(0).encode("utf-8")))
                    data_file = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
                    shutil.copyfileobj(body_file, data_file)
                else:
                    body_file.seek(0)
                    sql = body_file.read().decode("utf-8")
            else:
                body_sql = body_file.read().decode("utf-8")
                if body_sql:
                    sql = sql + "\n" + body_sql
        if insert is None and not sql.strip():
            raise ClickHouseError(62, "Empty query", "SYNTAX_ERROR")

        if insert is None:
            m = _TRAILING_FORMAT_RE.search(sql)
            if m:
                out_format = m.group(1)
            else:
                out_format = fmt
            if fmt.lower() in PYTHON_ONLY_FORMATS or out_format.lower() in PYTHON_ONLY_FORMATS:
                raise ClickHouseError(73, f"Unknown format {fmt}", "UNKNOWN_FORMAT")
        else:
            out_format = fmt
        try:
            body, summary = engine.execute(
                sql, fmt, database, settings, params, data_file=data_file, insert=insert
            )
        finally:
            if data_file is not None and data_file is not body_file:
                data_file.close()
        full_summary = {
            "read_rows": "0",
            "read_bytes": "0",
            "written_rows": "0",
            "written_bytes": "0",
            "total_rows_to_read": "0",
            "result_rows": "0",
            "result_bytes": "0",
            "elapsed_ns": "0",
        }
        for k, v in summary.items():
            full_summary[k] = str(v)
        full_summary["total_rows_to_read"] = full_summary["read_rows"]
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Format": out_format,
            "X-ClickHouse-Timezone": engine.timezone,
            "X-ClickHouse-Summary": json.dumps(full_summary, separators=(",", ":")),
        }
        ctype = CONTENT_TYPES.get(out_format.lower(), "application/octet-stream")
        if not body:
            ctype = "text/plain; charset=UTF-8"
        self._send(200, body, headers, content_type=ctype)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError) and not self.verbose:
            return  # disconnects are routine
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    ap.add_argument("--data", required=True, help="directory of the persistent chDB session")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    ap.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started it exits (test harnesses that cannot clean up)",
    )
    args = ap.parse_args(argv)

    engine = Engine(os.path.abspath(args.data))
    server = Server((args.host, args.port), Handler)
    server.engine = engine
    server.verbose = args.verbose

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent():
            while os.getppid() == parent:
                time.sleep(0.5)
            stop(None, None)

        threading.Thread(target=watch_parent, daemon=True).start()

    sys.stdout.write(f"LISTENING {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
