"""TLS on every listener: with `[tls]` set, the Python OpenTelemetry exporters send over HTTPS
and gRPC with TLS, the API and dashboard answer over HTTPS, plain-text clients get nothing
and the server stays up; a missing or broken certificate stops the start with a clear error."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import spyglass_bin

TLS = pathlib.Path(__file__).resolve().parent.parent / "crates" / "forward" / "tests" / "tls"
CA = str(TLS / "ca.pem")


def tls_config(tmp_path, cert: pathlib.Path = TLS / "server.pem", key: pathlib.Path = TLS / "server.key") -> list[str]:
    cfg = tmp_path / "tls.toml"
    cfg.write_text(f"[tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n")
    return ["--config", str(cfg)]


def send_one(exporter, name: str) -> str:
    tp = TracerProvider(resource=Resource.create({"service.name": "tls-app"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    with tp.get_tracer("tls").start_as_current_span(name) as s:
        tid = format(s.get_span_context().trace_id, "032x")
    tp.shutdown()
    return tid


def test_every_listener_speaks_tls(fresh_server, tmp_path):
    srv = fresh_server(extra_args=tls_config(tmp_path), tls_ca=CA).start()
    assert srv.api.startswith("https://")
    ca = pathlib.Path(CA).read_bytes()
    # The exporter's own CA handling loses to REQUESTS_CA_BUNDLE when that is set (as on these
    # machines); a session that ignores the environment trusts exactly the test CA.
    session = requests.Session()
    session.trust_env = False
    session.verify = CA
    via_http = send_one(HttpExporter(endpoint=f"{srv.otlp_http}/v1/traces", certificate_file=CA, session=session),
                        "over https")
    via_grpc = send_one(GrpcExporter(endpoint=f"127.0.0.1:{srv.grpc_port}",
                                     credentials=grpc.ssl_channel_credentials(ca)), "over grpc tls")
    assert srv.wait_for_trace(via_http)["spans"][0]["name"] == "over https"
    assert srv.wait_for_trace(via_grpc)["spans"][0]["name"] == "over grpc tls"
    # The dashboard, over HTTP/2 by ALPN as well as HTTP/1.1.
    r = requests.get(f"{srv.api}/", verify=CA, timeout=10)
    assert r.status_code == 200 and "<html" in r.text.lower()
    curl = subprocess.run(["curl", "-sS", "--http2", "--cacert", CA, "-o", "/dev/null", "-w", "%{http_version}",
                           f"{srv.api}/healthz"], capture_output=True, text=True, timeout=20)
    if curl.returncode == 0:
        assert curl.stdout == "2", curl.stdout

    # Plain text to a TLS port: refused, and the server carries on.
    for port in (srv.api_port, srv.otlp_port):
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{srv.api}/healthz", timeout=5)  # the private CA is not trusted by default
    # A client that connects and never handshakes holds up nobody else.
    idle = socket.create_connection(("127.0.0.1", srv.api_port))
    try:
        start = time.time()
        assert srv.get("/healthz").status_code == 200
        assert time.time() - start < 5
    finally:
        idle.close()
    assert srv.alive()


@pytest.mark.parametrize("problem", ["missing cert", "key without cert", "not pem"])
def test_a_bad_certificate_stops_the_start_clearly(tmp_path, problem):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cfg = tmp_path / "tls.toml"
    text = {
        "missing cert": f"[tls]\ncert_file = \"{tmp_path / 'nope.pem'}\"\nkey_file = \"{TLS / 'server.key'}\"\n",
        "key without cert": f"[tls]\nkey_file = \"{TLS / 'server.key'}\"\n",
        "not pem": f"[tls]\ncert_file = \"{junk}\"\nkey_file = \"{TLS / 'server.key'}\"\n",
    }[problem]
    cfg.write_text(text)
    p = subprocess.run([spyglass_bin(), "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                        "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0",
                        "--http-addr", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    want = {"missing cert": "nope.pem", "key without cert": "needs both", "not pem": "no certificate"}[problem]
    assert "[tls]" in p.stderr and want in p.stderr, p.stderr[-2000:]
