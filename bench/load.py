"""Load test of the running service, with the model floor and quality measured in the same run.

    apt-get install -y wrk        # once; the load generator (C, light enough for a 2-core box)
    .venv/bin/python bench/load.py [--index-dir index] [--seconds 15] [--json]

Steps: (1) the raw model floor in a child process: sentence-transformers/torch one query at a time
and batched at 128, and the ONNX encoder one at a time; (2) cold start of `kb serve` with an index
present (process start to /readyz 200); (3) wrk at 1, 8 and 32 connections on 127.0.0.1 only,
each for --seconds, rotating varied questions; (4) the service's peak resident memory (VmHWM);
(5) the retrieval eval (`shared/eval/score.py`) against the same server. Every speed figure is also
given as a ratio to the torch one-query floor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "How do product leaders deal with the risk of burnout?", "What is RICE?", "Which agile methods help?",
    "How did Satya Nadella change Microsoft?", "What is the capital of Australia?", "time horizon of a product leader",
    "Why is storytelling important for leaders?", "What does a product manager do every day?",
    "Who grew the Facebook design organization?", "What metrics matter for go-to-market?",
    "Is product leadership only for software companies?", "How to move from product manager to product leader?",
    "What are the three pillars of product leadership?", "Do product leaders need to code?",
    "How do I bake sourdough bread?", "What is NPS?", "Which frameworks help prioritisation?",
    "How should a leader use customer feedback?", "What is self-management?", "Backing decisions with data",
]

FLOOR_SCRIPT = r"""
import json, os, statistics, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
from pathlib import Path
from indexer.model import embed
from service.encoder import QueryEncoder
qs = json.loads(sys.argv[1]); enc = QueryEncoder(Path(sys.argv[2]))
def single(fn, n=200):
    for q in qs[:10]: fn([q])
    t = []
    for i in range(n):
        b = time.perf_counter(); fn([qs[i % len(qs)]]); t.append((time.perf_counter() - b) * 1000)
    return statistics.median(t)
def batched(fn, size=128, rounds=5):
    batch = [qs[i % len(qs)] + f" {i}" for i in range(size)]; fn(batch)
    b = time.perf_counter()
    for _ in range(rounds): fn(batch)
    return size * rounds / (time.perf_counter() - b)
print(json.dumps({"torch_one_ms": single(embed), "torch_batch128_qps": batched(embed),
                  "onnx_one_ms": single(enc.encode), "onnx_batch128_qps": batched(enc.encode)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def current_version(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def wrk(base: str, connections: int, seconds: int, script: Path) -> dict:
    out = subprocess.run(
        ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-s", str(script), base], capture_output=True, text=True, timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"clients": connections, "requests": total, "qps": qps,
            "p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"),
            "errors": errors + (int(non2xx.group(1)) if non2xx else 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    kb = [sys.executable, "-m", "kb.cli"]
    subprocess.run([*kb, "index", "--if-stale", "--index-dir", str(args.index_dir)], check=True, env=env, cwd=ROOT)
    floor = json.loads(subprocess.run(
        [sys.executable, "-c", FLOOR_SCRIPT, json.dumps(QUESTIONS), str(current_version(args.index_dir) / "encoder")],
        capture_output=True, text=True, check=True, env=env, cwd=ROOT).stdout.strip().splitlines()[-1])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    server = subprocess.Popen([*kb, "serve", "--index-dir", str(args.index_dir), "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - began > 60 or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.02)
        cold_start = time.perf_counter() - began
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            paths = [f"/search?k=10&q={urllib.parse.quote(q)}" for q in QUESTIONS]
            f.write("local paths = {" + ",".join(json.dumps(p) for p in paths) + "}\nlocal i = 0\n"
                    "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n")
            script = Path(f.name)
        wrk(base, 8, 3, script)  # warm-up
        levels = [wrk(base, c, args.seconds, script) for c in (1, 8, 32)]
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_mb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        rss_mb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        quality = None
        score = ROOT.parent / "shared" / "eval" / "score.py"
        if score.exists():
            quality = json.loads(subprocess.run([sys.executable, str(score), "--base", base, "--sources",
                                                 str(ROOT / "seeds"), "--json"], capture_output=True, text=True).stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)

    floor_qps = 1000 / floor["torch_one_ms"]
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "floor": floor,
              "cold_start_s": cold_start, "peak_rss_mb": peak_mb, "rss_after_mb": rss_mb, "levels": levels,
              "quality": quality}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"model floor: torch one query {floor['torch_one_ms']:.1f} ms ({floor_qps:.0f} q/s), torch batch 128 "
          f"{floor['torch_batch128_qps']:.0f} q/s; onnx one query {floor['onnx_one_ms']:.1f} ms, "
          f"onnx batch 128 {floor['onnx_batch128_qps']:.0f} q/s")
    print(f"cold start with index present: {cold_start:.2f} s; service peak RSS {peak_mb:.0f} MB (now {rss_mb:.0f} MB)")
    print("\n| clients | requests | q/s | q/s ÷ floor q/s | p50 ms | p50 ÷ floor ms | p90 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for lv in levels:
        print(f"| {lv['clients']} | {lv['requests']} | {lv['qps']:.0f} | {lv['qps'] / floor_qps:.2f} | "
              f"{lv['p50_ms']:.1f} | {lv['p50_ms'] / floor['torch_one_ms']:.2f} | {lv['p90_ms']:.1f} | "
              f"{lv['p99_ms']:.1f} | {lv['errors']} |")
    if quality:
        print("\nquality in the same run: " + ", ".join(
            f"{k} {quality[k]:.3f}" if isinstance(quality[k], float) else f"{k} {quality[k]}"
            for k in ("hit@1", "recall@5", "mrr@10", "negatives_rejected", "answerable_with_no_results",
                      "verbatim", "http_errors")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
