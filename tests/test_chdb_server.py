"""Tests for tests/chdb_server.py, the chDB-backed ClickHouse HTTP test server.

The requests here are shaped like the Rust `clickhouse` crate's (0.15): SQL in
the POST body with `default_format=RowBinaryWithNamesAndTypes` for SELECTs,
`INSERT INTO t(cols) FORMAT RowBinary[WithNamesAndTypes]` in the URL with the
rows as a chunked body, server-side parameters as a multipart form, settings as
URL parameters.

With SPYGLASS_TEST_CLICKHOUSE_URL set (e.g. http://localhost:8123), the same
tests run against that real ClickHouse server instead (the ones that only make
sense for the test server are skipped).  Without it, they need chdb importable.
"""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests

SERVER = Path(__file__).with_name("chdb_server.py")
REAL_URL = os.environ.get("SPYGLASS_TEST_CLICKHOUSE_URL", "").strip()

try:
    import chdb  # noqa: F401

    HAVE_CHDB = True
except Exception:  # pragma: no cover - depends on the venv
    HAVE_CHDB = False

pytestmark = pytest.mark.skipif(
    not REAL_URL and not HAVE_CHDB,
    reason="chdb is not importable and SPYGLASS_TEST_CLICKHOUSE_URL is not set",
)
local_only = pytest.mark.skipif(bool(REAL_URL), reason="only for the chdb test server")

RBWNAT = "RowBinaryWithNamesAndTypes"


# ---------------------------------------------------------------------------
# Server process management
# ---------------------------------------------------------------------------


class ServerProc:
    def __init__(self, data_dir):
        self.data_dir = str(data_dir)
        self.proc = None
        self.url = None

    def start(self, timeout=30):
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", "--data", self.data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        line = []

        def read():
            line.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not line or not line[0].startswith(b"LISTENING "):
            self.proc.kill()
            err = self.proc.stderr.read().decode(errors="replace")
            raise RuntimeError(f"server did not start: {line!r} {err}")
        port = int(line[0].split()[1])
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
        return rc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if REAL_URL:
        yield REAL_URL.rstrip("/")
        return
    srv = ServerProc(tmp_path_factory.mktemp("chdb-data")).start()
    yield srv.url
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def http():
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def db(server, http):
    name = "chdbsrv_" + uuid.uuid4().hex[:10]
    ok(http.post(server + "/", data=f"CREATE DATABASE {name}"))
    yield name
    http.post(server + "/", data=f"DROP DATABASE IF EXISTS {name}")


def ok(resp):
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:2000]}"
    assert "X-ClickHouse-Exception-Code" not in resp.headers
    return resp


def query(http, url, sql, database=None, fmt=None, **settings):
    """Like the crate's Query::fetch/execute: SQL in the body, options in the URL."""
    params = dict(settings)
    if fmt:
        params["default_format"] = fmt
    if database:
        params["database"] = database
    return http.post(url + "/", params=params, data=sql.encode())


def insert(http, url, table, columns, fmt, data, database=None, chunk=7, **settings):
    """Like the crate's Insert: query in the URL, rows as a chunked body."""
    params = {}
    if database:
        params["database"] = database
    params["query"] = f"INSERT INTO {table}({','.join(columns)}) FORMAT {fmt}"
    params.update(settings)

    def gen():  # a generator makes requests use Transfer-Encoding: chunked
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return http.post(url + "/", params=params, data=gen())


# ---------------------------------------------------------------------------
# RowBinary encoding / decoding (just the types these tests use)
# ---------------------------------------------------------------------------


INT_FORMATS = {
    "UInt8": "<B", "UInt16": "<H", "UInt32": "<I", "UInt64": "<Q",
    "Int8": "<b", "Int16": "<h", "Int32": "<i", "Int64": "<q",
    "Float32": "<f", "Float64": "<d", "Bool": "<?",
}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc(type_, v):
    if type_.startswith("Nullable("):
        return b"\x01" if v is None else b"\x00" + enc(type_[9:-1], v)
    if type_.startswith("LowCardinality("):
        return enc(type_[15:-1], v)
    if type_.startswith("Array("):
        return varint(len(v)) + b"".join(enc(type_[6:-1], x) for x in v)
    if type_ == "String":
        b = v.encode() if isinstance(v, str) else v
        return varint(len(b)) + b
    if type_ == "UInt128":
        return v.to_bytes(16, "little")
    fmt = INT_FORMATS[type_]
    return struct.pack(fmt, v)


class Reader:
    def __init__(self, data):
        self.buf = io.BytesIO(data)
        self.size = len(data)

    def eof(self):
        return self.buf.tell() >= self.size

    def read(self, n):
        b = self.buf.read(n)
        assert len(b) == n, "truncated RowBinary"
        return b

    def varint(self):
        shift = result = 0
        while True:
            b = self.read(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self):
        return self.read(self.varint()).decode()

    def value(self, type_):
        if type_.startswith("Nullable("):
            return None if self.read(1) == b"\x01" else self.value(type_[9:-1])
        if type_.startswith("LowCardinality("):
            return self.value(type_[15:-1])
        if type_.startswith("Array("):
            return [self.value(type_[6:-1]) for _ in range(self.varint())]
        if type_ == "String":
            return self.string()
        if type_ == "UInt128":
            return int.from_bytes(self.read(16), "little")
        fmt = INT_FORMATS[type_]
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]


def decode_rbwnat(data):
    r = Reader(data)
    n = r.varint()
    names = [r.string() for _ in range(n)]
    types = [r.string() for _ in range(n)]
    rows = []
    while not r.eof():
        rows.append(tuple(r.value(t) for t in types))
    return names, types, rows


def rbwnat_header(names, types):
    return (
        varint(len(names))
        + b"".join(enc("String", n) for n in names)
        + b"".join(enc("String", t) for t in types)
    )


def fetch(http, url, sql, database=None, **settings):
    resp = ok(query(http, url, sql, database=database, fmt=RBWNAT, **settings))
    return decode_rbwnat(resp.content)


def count(http, url, table, database):
    return fetch(http, url, f"SELECT count() FROM {table}", database)[2][0][0]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

COLUMNS = [
    ("s", "String"),
    ("u", "UInt64"),
    ("i", "Int64"),
    ("n", "Nullable(String)"),
    ("big", "UInt128"),
    ("f", "Float64"),
    ("arr", "Array(String)"),
]
ROWS = [
    ("hello", 1, -1, None, 0, 0.5, []),
    ("wörld ✓", 2**64 - 1, -(2**63), "not null", 2**128 - 1, -1.25, ["a", "", "ü"]),
    ("", 42, 2**63 - 1, "", 123456789012345678901234567890, 1e300, ["x"] * 3),
]


def test_ping(server, http):
    assert ok(http.get(server + "/ping")).text == "Ok.\n"
    assert ok(http.get(server + "/")).text == "Ok.\n"


def test_rowbinary_roundtrip(server, http, db):
    ddl = ", ".join(f"{n} {t}" for n, t in COLUMNS)
    ok(query(http, server, f"CREATE TABLE rt ({ddl}) ENGINE = MergeTree ORDER BY u", db))
    names = [n for n, _ in COLUMNS]
    data = b"".join(b"".join(enc(t, v) for (_, t), v in zip(COLUMNS, row)) for row in ROWS[:2])
    resp = ok(insert(http, server, "rt", names, "RowBinary", data, database=db))
    assert resp.content == b""

    # What the crate does with validation on: DESCRIBE TABLE, then an RBWNAT insert.
    dnames, dtypes, drows = fetch(
        http, server, "DESCRIBE TABLE rt", db, describe_include_subcolumns="0"
    )
    assert dnames[:2] == ["name", "type"]
    schema = [(r[0], r[1]) for r in drows]
    assert schema == COLUMNS
    data = rbwnat_header(names, [t for _, t in schema]) + b"".join(
        enc(t, v) for (_, t), v in zip(COLUMNS, ROWS[2])
    )
    ok(insert(http, server, "rt", names, RBWNAT, data, database=db))

    rnames, rtypes, rows = fetch(http, server, f"SELECT {','.join(names)} FROM rt ORDER BY u", db)
    assert rnames == names
    assert rtypes == [t for _, t in COLUMNS]
    assert rows == sorted(ROWS, key=lambda r: r[1])

    # Plain RowBinary output and a text format work too.
    resp = ok(query(http, server, "SELECT u FROM rt ORDER BY u", db, fmt="RowBinary"))
    assert resp.content == b"".join(struct.pack("<Q", r[1]) for r in sorted(ROWS, key=lambda r: r[1]))
    resp = ok(query(http, server, "SELECT u FROM rt ORDER BY u FORMAT JSONEachRow", db, fmt=RBWNAT))
    assert [int(json.loads(line)["u"]) for line in resp.text.splitlines()] == [1, 42, 2**64 - 1]


def test_query_parameters(server, http, db):
    # URL parameters, as in ClickHouse's docs.
    resp = ok(
        http.post(
            server + "/",
            params={"param_x": "it's", "param_n": "41", "default_format": RBWNAT},
            data=b"SELECT {x:String} AS x, {n:UInt64} + 1 AS n",
        )
    )
    assert decode_rbwnat(resp.content)[2] == [("it's", 42)]
    # The crate's Query::param(): a multipart form with `query` and `param_*` fields.
    boundary = "clickhouse-rs-boundary-" + uuid.uuid4().hex[:16]
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in [("query", "SELECT {a:String} AS a, {b:UInt8} AS b"), ("param_a", "snow ❄"), ("param_b", "7")]
    ) + f"--{boundary}--\r\n"
    resp = ok(
        http.post(
            server + "/",
            params={"default_format": RBWNAT, "database": db},
            data=body.encode(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    )
    assert decode_rbwnat(resp.content) == (["a", "b"], ["String", "UInt8"], [("snow ❄", 7)])


def test_settings_apply_per_request(server, http, db):
    getter = "SELECT toUInt64(getSetting('max_result_rows')) AS v"
    default = fetch(http, server, getter)[2][0][0]
    assert fetch(http, server, getter, max_result_rows="1234")[2][0][0] == 1234
    assert fetch(http, server, getter)[2][0][0] == default  # no leak into later requests
    # A setting that changes the outcome.
    resp = query(
        http, server, "SELECT number FROM numbers(100)", fmt=RBWNAT,
        max_result_rows="10", result_overflow_mode="throw",
        wait_end_of_query="1",  # a real server would otherwise stream and fail mid-body
    )
    assert resp.status_code != 200
    assert resp.headers["X-ClickHouse-Exception-Code"] == "396"  # TOO_MANY_ROWS_OR_BYTES
    # Unknown settings are rejected like ClickHouse does.
    resp = query(http, server, "SELECT 1", no_such_setting_xyz="1")
    assert resp.headers.get("X-ClickHouse-Exception-Code") == "115"
    # The crate's usual knobs are accepted.
    ok(query(http, server, "SELECT 1", fmt=RBWNAT, max_execution_time="30",
             wait_end_of_query="1", select_sequential_consistency="0", query_id=str(uuid.uuid4())))


def test_insert_deduplication_token(server, http, db):
    ok(query(http, server,
             "CREATE TABLE dd (k UInt64, v String) ENGINE = MergeTree ORDER BY k "
             "SETTINGS non_replicated_deduplication_window = 1000", db))
    # A materialized view's target must have the window too, or (ClickHouse 26.9,
    # deduplicate_blocks_in_dependent_materialized_views=1) a retried block is
    # dropped in `dd` but still aggregated again in the target.
    ok(query(http, server,
             "CREATE TABLE dd_agg (k UInt64, n SimpleAggregateFunction(sum, UInt64)) "
             "ENGINE = AggregatingMergeTree ORDER BY k "
             "SETTINGS non_replicated_deduplication_window = 1000", db))
    ok(query(http, server,
             "CREATE MATERIALIZED VIEW dd_mv TO dd_agg AS SELECT k, count() AS n FROM dd GROUP BY k", db))
    row = lambda k, v: enc("UInt64", k) + enc("String", v)  # noqa: E731
    ok(insert(http, server, "dd", ["k", "v"], "RowBinary", row(1, "a"), db, insert_deduplication_token="t1"))
    # Same token, different data: dropped as a duplicate (the retry case).
    ok(insert(http, server, "dd", ["k", "v"], "RowBinary", row(2, "b"), db, insert_deduplication_token="t1"))
    assert count(http, server, "dd", db) == 1
    ok(insert(http, server, "dd", ["k", "v"], "RowBinary", row(1, "a"), db, insert_deduplication_token="t2"))
    assert count(http, server, "dd", db) == 2
    assert fetch(http, server, "SELECT sum(n) FROM dd_agg", db)[2] == [(2,)]
    # Without a token, identical blocks are deduplicated by their hash.
    ok(insert(http, server, "dd", ["k", "v"], "RowBinary", row(3, "c"), db))
    ok(insert(http, server, "dd", ["k", "v"], "RowBinary", row(3, "c"), db))
    assert count(http, server, "dd", db) == 3


def test_errors(server, http, db):
    resp = query(http, server, "SELEC 1")
    assert resp.status_code in (400, 500)
    assert resp.headers["X-ClickHouse-Exception-Code"] == "62"
    assert resp.text.startswith("Code: 62. DB::Exception:")
    assert "SYNTAX_ERROR" in resp.text

    resp = query(http, server, "SELECT * FROM no_such_table_xyz", db, fmt=RBWNAT)
    assert resp.status_code != 200
    assert resp.headers["X-ClickHouse-Exception-Code"] == "60"
    assert "no_such_table_xyz" in resp.text

    resp = query(http, server, "SELECT 1", database="no_such_db_xyz")
    assert resp.headers["X-ClickHouse-Exception-Code"] == "81"

    # Truncated RowBinary: the insert fails, nothing is written, the server lives on.
    ok(query(http, server, "CREATE TABLE bad (k UInt64) ENGINE = MergeTree ORDER BY k", db))
    resp = insert(http, server, "bad", ["k"], "RowBinary", b"\x01\x02\x03", db)
    assert resp.status_code != 200
    assert "Code: 33. DB::Exception:" in resp.text
    resp = insert(http, server, "no_such_table_xyz", ["k"], "RowBinary", b"", db)
    assert resp.headers["X-ClickHouse-Exception-Code"] == "60"
    assert count(http, server, "bad", db) == 0
    assert ok(http.get(server + "/ping")).text == "Ok.\n"


@local_only
def test_compression_is_refused(server, http):
    resp = http.post(server + "/", params={"query": "INSERT INTO x FORMAT RowBinary", "decompress": "1"}, data=b"")
    assert resp.status_code != 200
    assert "Compression::None" in resp.text
    resp = http.post(server + "/", params={"compress": "1"}, data=b"SELECT 1")
    assert resp.status_code != 200


def test_concurrent_inserts_and_selects(server, http, db):
    ok(query(http, server, "CREATE TABLE conc (w UInt32, k UInt64) ENGINE = MergeTree ORDER BY (w, k)", db))
    errors = []

    def worker(w):
        try:
            with requests.Session() as s:
                for b in range(5):
                    data = b"".join(enc("UInt32", w) + enc("UInt64", b * 100 + j) for j in range(100))
                    ok(insert(s, server, "conc", ["w", "k"], "RowBinary", data, db, chunk=1000))
                    rows = fetch(s, server, f"SELECT count() FROM conc WHERE w = {w}", db)[2]
                    assert rows[0][0] == (b + 1) * 100
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert count(http, server, "conc", db) == 8 * 5 * 100


def test_storage_features(server, http, db):
    """The ClickHouse features the ClickHouse storage backend relies on."""

    def ex(sql, **settings):
        return ok(query(http, server, sql, db, **settings))

    ex("""CREATE TABLE spans (
            trace_id UInt128, span_id UInt64, name LowCardinality(String), service String,
            ts DateTime64(9), dur Float64, parent Nullable(String),
            attrs Map(String, String), tags Array(String),
            INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 4,
            INDEX idx_keys mapKeys(attrs) TYPE bloom_filter GRANULARITY 1)
          ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (service, ts)
          TTL toDateTime(ts) + INTERVAL 7 DAY
          SETTINGS non_replicated_deduplication_window = 1000""")
    ex("""CREATE TABLE svc_minute (service String, minute DateTime,
            calls SimpleAggregateFunction(sum, UInt64),
            q AggregateFunction(quantiles(0.5, 0.99), Float64))
          ENGINE = AggregatingMergeTree ORDER BY (service, minute)""")
    ex("""CREATE MATERIALIZED VIEW svc_minute_mv TO svc_minute AS
          SELECT service, toStartOfMinute(ts) AS minute, count() AS calls,
                 quantilesState(0.5, 0.99)(dur) AS q
          FROM spans GROUP BY service, minute""")
    ex("""CREATE TABLE state (id String, version UInt64, v String)
          ENGINE = ReplacingMergeTree(version) ORDER BY id""")

    ex("""INSERT INTO spans VALUES
          (1, 1, 'a', 'svc', now64(9), 1.0, NULL, map('k', 'v'), ['x']),
          (2, 2, 'b', 'svc', now64(9), 3.0, 'p', map(), []),
          (3, 3, 'c', 'old', now64(9) - INTERVAL 30 DAY, 5.0, 'p', map(), [])""")
    # TTL is applied when parts merge (sometimes already at insert): force the merge.
    ex("OPTIMIZE TABLE spans FINAL")
    assert count(http, server, "spans", db) == 2  # TTL dropped the expired row
    # The MV saw all three rows of the block (TTL applies to the target table only).
    rows = fetch(http, server,
                 "SELECT service, sum(calls), quantilesMerge(0.5, 0.99)(q) FROM svc_minute "
                 "GROUP BY service ORDER BY service", db)[2]
    assert [r[:2] for r in rows] == [("old", 1), ("svc", 2)]
    assert fetch(http, server, "SELECT count() FROM spans WHERE name = 'a'", db)[2] == [(1,)]
    assert fetch(http, server, "SELECT count() FROM spans WHERE has(mapKeys(attrs), 'k')", db)[2] == [(1,)]

    ex("INSERT INTO state VALUES ('a', 1, 'old'), ('b', 1, 'x')")
    ex("INSERT INTO state VALUES ('a', 2, 'new')")
    assert fetch(http, server, "SELECT id, v FROM state FINAL ORDER BY id", db)[2] == [("a", "new"), ("b", "x")]
    assert fetch(http, server, "SELECT id, argMax(v, version) FROM state GROUP BY id ORDER BY id", db)[2] == [
        ("a", "new"), ("b", "x")]

    ex("ALTER TABLE spans DELETE WHERE span_id = 1", mutations_sync="1")
    assert count(http, server, "spans", db) == 1
    ex("DELETE FROM spans WHERE span_id = 2")
    assert count(http, server, "spans", db) == 0
    ex("OPTIMIZE TABLE state FINAL")
    assert count(http, server, "state", db) == 2


@local_only
def test_restart_keeps_data(tmp_path):
    srv = ServerProc(tmp_path / "data").start()
    try:
        with requests.Session() as http:
            ok(query(http, srv.url, "CREATE DATABASE keep"))
            ok(query(http, srv.url, "CREATE TABLE keep.t (k UInt64) ENGINE = MergeTree ORDER BY k"))
            data = b"".join(enc("UInt64", k) for k in range(10))
            ok(insert(http, srv.url, "t", ["k"], "RowBinary", data, database="keep"))
        assert srv.stop() == 0
        # Down: connections are refused (what the backend sees in an outage).
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.url + "/ping", timeout=2)
        srv.start()
        with requests.Session() as http:
            assert count(http, srv.url, "t", "keep") == 10
            assert fetch(http, srv.url, "SELECT sum(k) FROM keep.t")[2] == [(45,)]
    finally:
        srv.stop()
