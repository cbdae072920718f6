"""Security headers on the API and dashboard, a strict Content-Security-Policy on the HTML, and
CORS only for the origins the configuration lists."""

from __future__ import annotations

import gzip
import json

import requests


def test_security_headers_and_csp(server):
    page = requests.get(f"{server.api}/", timeout=10)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp, csp
    assert "unsafe" not in csp
    api = requests.get(f"{server.api}/api/v1/traces", timeout=10)
    for r in (page, api):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    # A cross-origin page gets no CORS grant by default.
    r = requests.get(f"{server.api}/api/v1/traces", headers={"Origin": "https://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_only_for_listed_origins(fresh_server, tmp_path):
    cfg = tmp_path / "spyglass.toml"
    cfg.write_text('cors_allowed_origins = ["https://app.example"]\n')
    srv = fresh_server(extra_args=["--config", str(cfg)]).start()
    pre = requests.options(f"{srv.api}/api/v1/alerts/rules", timeout=10, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://app.example", pre.headers
    assert "POST" in pre.headers.get("Access-Control-Allow-Methods", "")
    ok = requests.get(f"{srv.api}/api/v1/traces", headers={"Origin": "https://app.example"}, timeout=10)
    assert ok.headers.get("Access-Control-Allow-Origin") == "https://app.example"
    other = requests.get(f"{srv.api}/api/v1/traces", headers={"Origin": "https://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_json_answers_are_gzipped_and_compressed_files_are_not_compressed_again(server):
    tid, ids, req = __import__("otlp").simple_trace("gzip-app", n=40)
    __import__("otlp").send(server, req)
    server.wait_for_trace(tid, spans=40)
    r = requests.get(f"{server.api}/api/v1/traces/{tid}", headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    raw = r.raw.read()
    assert raw[:2] == b"\x1f\x8b" and len(raw) < len(json.dumps(server.trace(tid)))
    export = requests.get(f"{server.api}/api/v1/traces/{tid}/export", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert export.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in export.headers, "a gzip file is not gzipped again"
    assert export.content[:2] == b"\x1f\x8b"


def test_responses_are_compressed_with_zstd_or_gzip(server):
    """Browsers take zstd, which costs the server several times less CPU than gzip for a large
    trace; other clients still get gzip, or the plain body when they ask for nothing."""
    url = f"{server.api}/api/openapi.json"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    browser = requests.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"}, timeout=10, stream=True)
    assert browser.headers["Content-Encoding"] == "zstd"
    assert 0 < len(browser.raw.read(decode_content=False)) < len(plain.content) / 2
    gz = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.raw.read(decode_content=False)) == plain.content
