"""Bounded soak on loopback: 32 clients for KB_SOAK_SECONDS (default 60) against a real `kb serve`,
with a re-index and reload in the middle: zero errors, resident memory steady within 10%."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from indexer.build import build_index
from tests.conftest import SEEDS
from tests.test_e2e import free_port

SECONDS = float(os.environ.get("KB_SOAK_SECONDS", "60"))
QUESTIONS = ["What is RICE?", "How do product leaders deal with burnout?", "Is anyone born a great leader?",
             "What is the capital of Australia?", "Which agile methodologies support product leadership?"]


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def test_soak_with_reindex_and_reload(seed_index, tmp_path):
    index_dir = tmp_path / "served"
    shutil.copytree(seed_index, index_dir)
    port = free_port()
    env = dict(os.environ, KB_ADMIN_TOKEN="soak-token", KB_LOG_LEVEL="warning")
    server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--index-dir", str(index_dir),
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    statuses: list[int] = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline and server.poll() is None
            time.sleep(0.1)

        def client(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            i = n
            while not stop.is_set():
                i += 1
                try:
                    conn.request("GET", "/search?" + urllib.parse.urlencode({"q": QUESTIONS[i % 5], "k": 10}))
                    r = conn.getresponse()
                    r.read()
                    statuses.append(r.status)
                except OSError:
                    statuses.append(-1)
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        time.sleep(SECONDS * 0.2)  # warmed up
        baseline = rss_mb(server.pid)
        time.sleep(SECONDS * 0.2)
        build_index([SEEDS], index_dir)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/admin/reload", headers={"Authorization": "Bearer soak-token"})
        reload = c.getresponse()
        assert reload.status == 200, reload.read()
        reload.read()
        time.sleep(max(0.0, SECONDS * 0.6 - 5))
        final = rss_mb(server.pid)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    errors = [s for s in statuses if s != 200]
    assert len(statuses) > 32 * SECONDS and not errors, {s: statuses.count(s) for s in set(statuses)}
    assert abs(final - baseline) <= 0.10 * baseline, (baseline, final)
