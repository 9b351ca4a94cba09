"""Resident memory of `kb serve` on an index: after start-up and after a round of queries.

    .venv/bin/python bench/service_memory.py INDEX_DIR [--queries ../shared/eval/cranfield/queries.jsonl]

Starts the service of this checkout as a child process on a free loopback port, waits for /healthz,
reads its resident memory (all, anonymous, file-backed), sends each query once (GET /search),
reads it again with the peak (VmHWM), and stops it.
Compare two checkouts (or two index folders) by running the script of each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from _common import ROOT, bench_env, free_port, proc_status

KB = [sys.executable, "-m", "kb.cli"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir", type=Path)
    ap.add_argument("--queries", type=Path, default=ROOT.parent / "shared" / "eval" / "cranfield" / "queries.jsonl")
    ap.add_argument("--limit", type=int, default=225, help="queries to send (default 225)")
    args = ap.parse_args()
    queries = [json.loads(line)["text"] for line in args.queries.open(encoding="utf-8") if line.strip()][:args.limit]
    port = free_port()
    serve = [*KB, "serve", "--index-dir", str(args.index_dir), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(serve, cwd=ROOT, env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the service did not start") from None
                time.sleep(0.5)
        started = proc_status(proc.pid)
        for q in queries:
            urllib.request.urlopen(base + "/search?" + urllib.parse.urlencode({"q": q, "k": 10}), timeout=60).read()
        served = proc_status(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"root": str(ROOT), "index_dir": str(args.index_dir), "queries": len(queries),
                      "after_start_mb": started, "after_queries_mb": served}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
