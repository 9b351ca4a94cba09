"""RSS of a loaded searcher (what `kb serve` holds before its first query), the load's peak, and its time.

    .venv/bin/python bench/experiments/service_load_memory.py INDEX_DIR
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from service.search import load_searcher

    clock = time.perf_counter()
    searcher = load_searcher(Path(sys.argv[1]), threads=1)
    print(f"{searcher.passage_count} passages: loaded in {time.perf_counter() - clock:.1f} s, "
          f"RSS {status_mb('VmRSS'):.0f} MB, peak {status_mb('VmHWM'):.0f} MB")


if __name__ == "__main__":
    main()
