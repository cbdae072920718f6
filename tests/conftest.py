"""Black-box test harness: starts the real `spyglass` binary on free ports with a fresh data
directory and talks to it only over the network (OTLP, REST, WebSocket) and the CLI.

The binary comes from $SPYGLASS_BIN, else $CARGO_TARGET_DIR/release/spyglass, else
target/release/spyglass (build it with `cargo build --release`)."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[1]


def spyglass_bin() -> str:
    if os.environ.get("SPYGLASS_BIN"):
        return os.environ["SPYGLASS_BIN"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "release" / "spyglass"
    if not path.exists():
        pytest.exit(f"no binary at {path}: run `cargo build --release` first", returncode=2)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One running `spyglass serve` process."""

    def __init__(self, data_dir: pathlib.Path, extra_args: list[str] | None = None, env: dict | None = None,
                 tls_ca: str | None = None):
        self.data_dir = data_dir
        # With a CA file the server is expected to speak TLS, verified against that CA.
        self.tls_ca = tls_ca
        self.scheme = "https" if tls_ca else "http"
        self.extra_args = extra_args or []
        self.env = env or {}
        self.grpc_port = free_port()
        self.otlp_port = free_port()
        self.api_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"spyglass-{uuid.uuid4().hex[:8]}.log"

    @property
    def api(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    @property
    def otlp_http(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.otlp_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def args(self) -> list[str]:
        return [
            spyglass_bin(), "serve",
            "--data-dir", str(self.data_dir),
            "--otlp-grpc-addr", self.otlp_grpc,
            "--otlp-http-addr", f"127.0.0.1:{self.otlp_port}",
            "--http-addr", f"127.0.0.1:{self.api_port}",
            *self.extra_args,
        ]

    def start(self, timeout: float = 60.0) -> "Server":
        env = {**os.environ, "SPYGLASS_LOG": "info", **self.env}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spyglass exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(f"{self.api}/readyz", timeout=1, verify=self.tls_ca or True).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"spyglass not ready after {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    # --- API helpers -------------------------------------------------------------------
    def get(self, path: str, **params) -> requests.Response:
        return requests.get(f"{self.api}{path}", params=params, timeout=30, verify=self.tls_ca or True)

    def get_json(self, path: str, **params):
        r = self.get(path, **params)
        assert r.status_code == 200, f"GET {path} {params} -> {r.status_code}: {r.text}"
        return r.json()

    def trace(self, trace_id: str):
        return self.get_json(f"/api/v1/traces/{trace_id}")

    def span(self, trace_id: str, span_id: str):
        return self.get_json(f"/api/v1/traces/{trace_id}/spans/{span_id}")

    def wait_for_trace(self, trace_id: str, spans: int = 1, timeout: float = 10.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.get(f"/api/v1/traces/{trace_id}")
            if r.status_code == 200:
                last = r.json()
                if len(last["spans"]) >= spans:
                    return last
            time.sleep(0.02)
        raise AssertionError(f"trace {trace_id} did not reach {spans} spans: {last}")

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.cli_env({}, *args, check=check, timeout=timeout)

    def cli_env(self, extra_env: dict, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, **extra_env, "SPYGLASS_URL": self.api, "SPYGLASS_OTLP_URL": self.otlp_http, "NO_COLOR": "1"}
        p = subprocess.run([spyglass_bin(), *args], capture_output=True, text=True, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"spyglass {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """One server shared by tests that only add their own traces (ids are unique)."""
    srv = Server(tmp_path_factory.mktemp("shared") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A server of the test's own, for tests that restart, kill or overload it."""
    servers = []

    def make(extra_args=None, env=None, data_dir=None, tls_ca=None) -> Server:
        srv = Server(data_dir or (tmp_path / f"data{len(servers)}"), extra_args, env, tls_ca)
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop(signal.SIGKILL)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


def now_ns() -> int:
    return time.time_ns()
