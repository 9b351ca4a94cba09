"""Bounded soak on loopback: 32 clients for KB_SOAK_SECONDS (default 60) against a real `kb serve`,
with a re-index and reload in the middle: zero errors, resident memory steady within 10%."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from indexer.build import build_index
from tests.conftest import SEEDS
from tests.loadgen import SearchLoad, admin_reload, wait_ready
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
    try:
        wait_ready(port, alive=lambda: server.poll() is None)
        with SearchLoad(port, 32, QUESTIONS) as load:
            time.sleep(SECONDS * 0.2)  # warmed up
            baseline = rss_mb(server.pid)
            time.sleep(SECONDS * 0.2)
            build_index([SEEDS], index_dir)
            status, body = admin_reload(port, "soak-token")
            assert status == 200, body
            time.sleep(max(0.0, SECONDS * 0.6 - 5))
            final = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(load.statuses) > 32 * SECONDS and not load.failures(), load.failures()
    assert abs(final - baseline) <= 0.10 * baseline, (baseline, final)
