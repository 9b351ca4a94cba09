# ruff: noqa: E402  (bench/ goes on sys.path before its helpers are imported)
"""How much of a build's memory growth while it embeds is Python's (tracemalloc) and how much is native.

Builds an index of SOURCES in this process with tracemalloc on, snapshots after two embedded chunks, and
prints the RSS growth between them beside the growth tracemalloc sees, with its largest sources.

    .venv/bin/python bench/make_collection.py --docs 20000 --max-sentences 1 --no-titles
    .venv/bin/python bench/experiments/build_python_growth.py bench/.cache/collection-20000-s13-m1-nt.jsonl \\
        --index-dir /tmp/ix-growth --chunks 3,14
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import proc_status


def rss_mb() -> float:
    return proc_status(os.getpid())["VmRSS"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--chunks", default="3,14", help="the two chunk numbers to compare (default 3,14)")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    first, second = (int(n) for n in args.chunks.split(","))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from indexer import build

    snapshots: list[tuple[tracemalloc.Snapshot, float]] = []
    add = build._Embedder.add
    calls = [0]

    def add_and_look(self: build._Embedder, texts: list[list[str]]) -> None:
        add(self, texts)
        calls[0] += 1
        if calls[0] in (first, second):
            snapshots.append((tracemalloc.take_snapshot(), rss_mb()))

    build._Embedder.add = add_and_look
    tracemalloc.start(8)
    build.build_index(args.sources, args.index_dir, metadata_file=None, progress=print)
    if len(snapshots) < 2:
        raise SystemExit(f"the build embedded {calls[0]} chunks; ask for chunks it reaches")
    (a, rss_a), (b, rss_b) = snapshots
    stats = b.compare_to(a, "traceback")
    print(f"between chunks {first} and {second}: RSS {rss_a:.0f} -> {rss_b:.0f} MB (+{rss_b - rss_a:.1f}), "
          f"Python's own allocations +{sum(s.size_diff for s in stats) / 1e6:.1f} MB")
    for s in stats[:args.top]:
        print(f"{s.size_diff / 1e6:+.2f} MB in {s.count_diff:+d} blocks, from")
        for line in s.traceback.format()[-4:]:
            print("   ", line)


if __name__ == "__main__":
    main()
