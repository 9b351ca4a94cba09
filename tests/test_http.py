"""HTTP hardening, against the real `kb serve` (a subprocess on a free port, real sockets): proxy headers
and the rate limit, body and header limits, slow and idle clients, HEAD probes, and settings validation."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.test_e2e import KB, free_port, get


@contextmanager
def serving(index_dir: Path, **env: str) -> Iterator[int]:
    """`kb serve` with these KB_* settings; yields its port once /readyz says ready."""
    port = free_port()
    environ = {**os.environ, **{f"KB_{key}": value for key, value in env.items()}}
    server = subprocess.Popen([*KB, "serve", "--index-dir", str(index_dir), "--port", str(port)], env=environ,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read()
            assert time.time() < deadline, "kb serve did not become ready"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def port(seed_index) -> Iterator[int]:
    with serving(seed_index, READ_TIMEOUT="2", KEEP_ALIVE="1") as p:
        yield p


def request(port: int, method: str, path: str, body=None, headers: dict | None = None,
            chunked: bool = False) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def raw(port: int, data: bytes, wait: float = 10) -> bytes:
    """Send bytes as they are; return everything the server sends until it closes (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
        return received


# A. Proxy headers are believed only from KB_TRUSTED_PROXIES; 429s are counted under their route.

def test_forwarded_for_from_an_untrusted_peer_does_not_lift_the_rate_limit(seed_index):
    with serving(seed_index, RATE_LIMIT="2") as p:
        codes = [request(p, "GET", "/documents", headers={"X-Forwarded-For": f"203.0.113.{n}"})[0]
                 for n in range(10)]
        assert codes[0] == 200 and 429 in codes, codes
        metrics = request(p, "GET", "/metrics")[2].decode()
        assert 'kb_http_requests_total{method="GET",route="/documents",status="429"}' in metrics


def test_forwarded_for_from_a_trusted_proxy_names_the_client(seed_index):
    with serving(seed_index, RATE_LIMIT="2", TRUSTED_PROXIES="127.0.0.1,::1") as p:
        spread = [request(p, "GET", "/documents", headers={"X-Forwarded-For": f"203.0.113.{n}"})[0]
                  for n in range(10)]
        assert spread == [200] * 10  # ten clients behind the proxy, one request each
        same = [request(p, "GET", "/documents", headers={"X-Forwarded-For": "198.51.100.7"})[0] for _ in range(10)]
        assert 429 in same


# B. A chunked body over KB_MAX_BODY_BYTES gets 413, like one that announces its length.

def test_chunked_body_over_the_limit_is_413(port):
    big = json.dumps({"q": "a" * 70_000}).encode()
    status, _, body = request(port, "POST", "/search", body=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                              headers={"Content-Type": "application/json"}, chunked=True)
    assert status == 413, body
    assert "65536" in json.loads(body)["detail"]


def test_chunked_body_under_the_limit_is_served(port):
    small = json.dumps({"q": "Which agile methodologies support product leadership?", "k": 2}).encode()
    status, _, body = request(port, "POST", "/search", body=iter([small[:10], small[10:]]),
                              headers={"Content-Type": "application/json"}, chunked=True)
    assert status == 200 and json.loads(body)["results"], body


# C. Bounded request heads, slow and idle clients timed out.

def test_oversized_headers_get_431(port):
    answer = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"KB_MAX_HEADER_BYTES" in answer


def test_headers_within_the_limit_are_served(port):
    status, _, _ = request(port, "GET", "/healthz", headers={"X-Fair": "a" * 8000})
    assert status == 200


def test_a_client_that_sends_its_request_too_slowly_is_cut_off(port):
    began = time.monotonic()
    answer = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", wait=15)  # ...and never the blank line
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - began < 6


def test_a_connection_that_sends_nothing_is_closed(port):
    began = time.monotonic()
    assert raw(port, b"", wait=15) == b""
    assert time.monotonic() - began < 6


def test_idle_keep_alive_connections_are_closed(port):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        began = time.monotonic()
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - began < 4  # KB_KEEP_ALIVE=1 here


# E. Load balancers probe with HEAD.

@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/"])
def test_head_probes_answer_200_without_a_body(port, path):
    status, headers, body = request(port, "HEAD", path)
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 0  # the length the GET body has


# D. Settings are validated before anything starts: one line, exit code 2.

@pytest.mark.parametrize("env,args,name", [
    ({}, ["--port", "99999"], "--port"),
    ({}, ["--port", "http"], "--port"),
    ({"KB_PORT": "abc"}, [], "KB_PORT"),
    ({"KB_PORT": "0"}, [], "KB_PORT"),
    ({"KB_THREADS": "-1"}, [], "KB_THREADS"),
    ({"KB_MAX_BATCH": "0"}, [], "KB_MAX_BATCH"),
    ({"KB_MAX_BODY_BYTES": "64k"}, [], "KB_MAX_BODY_BYTES"),
    ({"KB_MAX_HEADER_BYTES": "10"}, [], "KB_MAX_HEADER_BYTES"),
    ({"KB_READ_TIMEOUT": "0"}, [], "KB_READ_TIMEOUT"),
    ({"KB_KEEP_ALIVE": "soon"}, [], "KB_KEEP_ALIVE"),
    ({"KB_RATE_LIMIT": "nan"}, [], "KB_RATE_LIMIT"),
    ({"KB_LOG_LEVEL": "loud"}, [], "KB_LOG_LEVEL"),
    ({"KB_HOST": " "}, [], "KB_HOST"),
    ({"KB_TRUSTED_PROXIES": "proxy.example"}, [], "KB_TRUSTED_PROXIES"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, env, args, name):
    run = subprocess.run([*KB, "serve", "--index-dir", str(tmp_path), *args], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and name in lines[0], run.stderr
