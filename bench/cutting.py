"""Cleaning and cutting time against the size of one source: it must grow linearly.

    .venv/bin/python bench/cutting.py [--sizes 0.5,1,2,4]     # megabytes of synthetic prose with chrome lines
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus.cleaning import clean  # noqa: E402
from corpus.documents import Document  # noqa: E402
from corpus.passages import make_passages  # noqa: E402
from indexer import model  # noqa: E402

WORDS = "product leader team strategy market customer growth vision roadmap data design engineering".split()


def synthetic(megabytes: float, rng: random.Random) -> str:
    """Paragraphs of four sentences, with a chrome line ("Share") between one paragraph in five."""
    lines, size = [], 0
    while size < megabytes * 1e6:
        line = "Share" if rng.random() < 0.2 else " ".join(
            " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(4))
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.5,1,2,4", help="megabytes, comma-separated")
    args = parser.parse_args()
    count = model.token_counter()
    rng = random.Random(1)
    print("| MB | clean s | cut s | passages | MB/s |")
    print("| --- | --- | --- | --- | --- |")
    for mb in (float(x) for x in args.sizes.split(",")):
        text = synthetic(mb, rng)
        began = time.perf_counter()
        cleaned = clean(Document("x", text, "text"))
        cleaned_at = time.perf_counter()
        passages = make_passages(cleaned, count)
        done = time.perf_counter()
        rate = mb / (done - began)
        print(f"| {mb} | {cleaned_at - began:.2f} | {done - cleaned_at:.2f} | {len(passages)} | {rate:.2f} |")


if __name__ == "__main__":
    main()
