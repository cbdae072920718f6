"""A data directory that is not usable by this binary is refused at start, with one clear line
naming the directory and what to do, and left exactly as it was: a spyglass.duckdb that is not
a database, a directory that belongs to something else, a database written by a newer
Spyglass, and a DuckDB database that Spyglass did not create."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess

import pytest

from conftest import Server, spyglass_bin


def snapshot(d: pathlib.Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        rel = str(p.relative_to(d))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def refuse(tmp_path, data: pathlib.Path, *expected: str) -> str:
    """Starts `spyglass serve` on `data`: it must exit non-zero, saying `expected`, and leave
    the directory unchanged."""
    before = snapshot(data)
    srv = Server(data)
    p = subprocess.run(srv.args(), capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SPYGLASS_LOG": "info"})
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"started on a bad data directory:\n{out}"
    assert str(data) in out, out
    for e in expected:
        assert e in out, f"{e!r} not in:\n{out}"
    assert snapshot(data) == before, "the data directory was changed"
    return out


def test_not_a_database(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "spyglass.duckdb").write_bytes(os.urandom(64 * 1024))
    refuse(tmp_path, data, "spyglass.duckdb", "restore it from a backup or move it away")


def test_foreign_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("someone else's\n")
    (data / "src").mkdir()
    refuse(tmp_path, data, "does not look like a Spyglass data directory", "notes.txt")


def test_own_leftovers_are_not_foreign(fresh_server, tmp_path):
    data = tmp_path / "data"
    (data / "tmp").mkdir(parents=True)
    (data / "initial-admin-password").write_text("x\n")
    srv = fresh_server(data_dir=data).start()
    assert srv.get("/readyz").status_code == 200


def duckdb_module():
    return pytest.importorskip("duckdb")


def test_newer_schema(fresh_server, tmp_path):
    data = tmp_path / "data"
    srv = fresh_server(data_dir=data).start()
    assert srv.stop() == 0
    duckdb = duckdb_module()
    con = duckdb.connect(str(data / "spyglass.duckdb"))
    known = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    con.execute("INSERT INTO schema_migrations VALUES (?, 0)", [known + 5])
    con.close()
    refuse(tmp_path, data, f"written by a newer Spyglass (schema {known + 5}, this binary knows {known})")


def test_foreign_duckdb(tmp_path):
    duckdb = duckdb_module()
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect(str(data / "spyglass.duckdb"))
    con.execute("CREATE TABLE invoices (id INTEGER, total DOUBLE)")
    con.execute("INSERT INTO invoices VALUES (1, 2.5)")
    con.close()
    refuse(tmp_path, data, "Spyglass did not create", "invoices")
