"""How the server process runs: transparent huge pages off unless mimalloc's own variable asks
for them (a first read of a large trace spent half its time zeroing fresh huge pages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a Linux process flag")


def thp_enabled(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("THP_enabled:"))


def test_transparent_huge_pages_are_off(server):
    assert thp_enabled(server.proc.pid) == "0"


def test_mimalloc_allow_thp_leaves_them_on(fresh_server):
    srv = fresh_server(env={"MIMALLOC_ALLOW_THP": "1"}).start()
    assert thp_enabled(srv.proc.pid) == "1"
