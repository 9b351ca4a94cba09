"""Cost of the doc_ids filter: in-process search restricted to 1, 100 and 1,000 documents of Cranfield.

    .venv/bin/python bench/filter.py        # builds (or reuses) the Cranfield index in bench/.cache/
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tune import SHARED, beir_searcher  # noqa: E402

QUERY = "boundary layer transition on a flat plate"
ROUNDS = 20


def main() -> None:
    searcher = beir_searcher(SHARED / "cranfield")
    ids = [d.doc_id for d in searcher.documents[:1000]]
    vector = searcher.encode([QUERY])[0]
    print(f"| ids | search ms (k=10, {len(searcher.documents)} documents) |\n| --- | --- |")
    for n in (0, 1, 100, 1000):
        began = time.perf_counter()
        for _ in range(ROUNDS):
            searcher.search(QUERY, k=10, doc_ids=ids[:n] or None, query_vector=vector, min_score=0.0)
        print(f"| {n or 'none'} | {(time.perf_counter() - began) / ROUNDS * 1000:.2f} |")


if __name__ == "__main__":
    main()
