"""Run a command and show, beside each line it prints, the seconds since start and the RSS of the process
(and of it with its children), then the peaks; a sample every half second goes to a TSV for a timeline.

    TIMELINE=/tmp/timeline.tsv .venv/bin/python bench/experiments/rss_timeline.py \\
        .venv/bin/kb index bench/.cache/collection-100000-s13-m1-nt.jsonl --index-dir /tmp/idx100k

(the collection: ``bench/make_collection.py --docs 100000 --max-sentences 1 --no-titles``). Which build
stage holds what memory is read off the progress lines; docs/BENCHMARKS.md, "Build memory by stage".
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """RSS of ``pid`` alone and with all its descendants, in MB (from ps)."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=", "-A"], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
    children: dict[int, list[tuple[int, int]]] = {}
    for p, parent, rss in rows:
        children.setdefault(parent, []).append((p, rss))
    own = next((rss for p, _, rss in rows if p == pid), 0)
    total, stack = own, [pid]
    while stack:
        for p, rss in children.get(stack.pop(), []):
            total += rss
            stack.append(p)
    return own / 1024, total / 1024


def main() -> int:
    began = time.time()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples: list[tuple[float, float, float]] = []

    def sample() -> None:
        while proc.poll() is None:
            samples.append((time.time() - began, *tree_rss_mb(proc.pid)))
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    for line in proc.stdout or ():
        own, total = tree_rss_mb(proc.pid)
        print(f"{time.time() - began:7.1f}s own {own:7.0f} MB tree {total:7.0f} MB | {line.rstrip()}", flush=True)
    proc.wait()
    print(f"peak own {max((s[1] for s in samples), default=0):.0f} MB, "
          f"tree {max((s[2] for s in samples), default=0):.0f} MB; rc {proc.returncode}")
    with open(os.environ.get("TIMELINE", "/tmp/timeline.tsv"), "w", encoding="utf-8") as out:
        out.writelines(f"{t:.1f}\t{own:.0f}\t{total:.0f}\n" for t, own, total in samples)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
