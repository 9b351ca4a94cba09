# ruff: noqa: E402  (bench/ goes on sys.path before its helpers are imported)
"""What a loaded searcher holds (what `kb serve` holds before its first query), and what searches add.

    .venv/bin/python bench/experiments/service_load_memory.py INDEX_DIR
    .venv/bin/python bench/experiments/service_load_memory.py INDEX_DIR --searches 50 --profile

Prints the load's time, RSS and peak. With ``--searches N``, runs N of bench/load.py's questions in turn and
prints the RSS again, split into anonymous memory and the pages mapped of each memory-mapped file (from
/proc/self/smaps); with ``--profile``, the searches' cProfile, heaviest calls first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import proc_status
from _questions import QUESTIONS


def mapped_mb() -> dict[str, float]:
    """RSS by mapping: each mapped file's pages, and everything else as "anonymous"."""
    out: dict[str, float] = {}
    where = "anonymous"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            where = fields[5] if len(fields) > 5 and fields[5].startswith("/") else "anonymous"
        elif fields and fields[0] == "Rss:":
            out[where] = out.get(where, 0.0) + int(fields[1]) / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("--searches", type=int, default=0, help="searches to run after loading (default none)")
    parser.add_argument("--profile", action="store_true", help="print the searches' cProfile")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from service.search import load_searcher

    clock = time.perf_counter()
    searcher = load_searcher(args.index_dir, threads=1)
    status = proc_status(os.getpid())
    print(f"{searcher.passage_count} passages: loaded in {time.perf_counter() - clock:.1f} s, "
          f"RSS {status['VmRSS']:.0f} MB, peak {status['VmHWM']:.0f} MB")
    if not args.searches:
        return
    questions = [QUESTIONS[n % len(QUESTIONS)] for n in range(args.searches)]
    searcher.search(questions[0])  # the first search pays for lazy set-up; not profiled
    profile = cProfile.Profile()
    clock = time.perf_counter()
    with profile:
        for q in questions:
            searcher.search(q)
    seconds = time.perf_counter() - clock
    print(f"{args.searches} searches: {1000 * seconds / args.searches:.1f} ms each, "
          f"RSS {proc_status(os.getpid())['VmRSS']:.0f} MB")
    for where, mb in sorted(mapped_mb().items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {mb:8.0f} MB  {where}")
    if args.profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
