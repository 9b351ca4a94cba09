"""The model floor, measured in a child process of bench/load.py (no server running).

    python bench/_floor.py torch [--queries 200]
    python bench/_floor.py onnx --index-dir DIR [--queries 200]

``torch``: sentence-transformers (``indexer.model.embed``, the packaged all-MiniLM-L6-v2) encoding
one short query at a time, then batches of 128.
``onnx``: the serve path's ``service.encoder.QueryEncoder`` on the index's encoder/ folder, one at a
time and batched (8, 32, 128) on every core, one at a time on a single-thread lane, and one lane per
core side by side (the path under load), plus the whole in-process ``Searcher.search`` (encode + rank,
no HTTP).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from indexer import layout  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _questions import QUESTIONS  # noqa: E402


def one_at_a_time(fn, n: int) -> dict:
    for q in QUESTIONS[:10]:  # warm-up
        fn(q)
    times = []
    began = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        fn(QUESTIONS[i % len(QUESTIONS)])
        times.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - began
    times.sort()
    return {"n": n, "median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (n - 1))],
            "qps": n / total}


def batched(fn, size: int, min_seconds: float = 2.0, min_rounds: int = 3) -> dict:
    batch = [QUESTIONS[i % len(QUESTIONS)] for i in range(size)]
    fn(batch)  # warm-up
    rounds = 0
    began = time.perf_counter()
    while rounds < min_rounds or time.perf_counter() - began < min_seconds:
        fn(batch)
        rounds += 1
    total = time.perf_counter() - began
    return {"batch": size, "rounds": rounds, "ms_per_batch": total / rounds * 1000, "qps": size * rounds / total}


def lanes_side_by_side(encoder, lanes: int, size: int, seconds: float = 3.0) -> dict:
    """Queries/s of ``lanes`` threads each encoding batches of ``size`` on a single-thread lane."""
    import threading

    batches = [[QUESTIONS[(start + i) % len(QUESTIONS)] for i in range(size)] for start in range(len(QUESTIONS))]
    encoder.encode(batches[0], lane=True)  # warm-up (and creates the lane session)
    done = [0] * lanes
    stop = time.perf_counter() + seconds

    def lane(n: int) -> None:
        turn = n * 7  # each lane starts at a different question, and every batch differs
        while time.perf_counter() < stop:
            encoder.encode(batches[turn % len(batches)], lane=True)
            turn += size
            done[n] += size

    began = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(n,)) for n in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"lanes": lanes, "batch": size, "qps": sum(done) / (time.perf_counter() - began)}


def torch_floor(n: int) -> dict:
    import torch

    from indexer.model import embed

    return {
        "threads": torch.get_num_threads(),
        "one": one_at_a_time(lambda q: embed([q]), n),
        "batch128": batched(lambda b: embed(b, batch_size=128), 128),
    }


def onnx_floor(index_dir: Path, n: int) -> dict:
    from indexer import store
    from service.encoder import QueryEncoder
    from service.search import load_searcher

    version = store.current_version(index_dir)
    if version is None:
        raise SystemExit(f"no index in {index_dir}")
    encoder = QueryEncoder(version / layout.ENCODER)
    out = {
        "threads": encoder.session.get_session_options().intra_op_num_threads,
        "one": one_at_a_time(lambda q: encoder.encode([q]), n),
    }
    for size in (8, 32, 128):
        out[f"batch{size}"] = batched(encoder.encode, size)
    # The path under load: single-thread calls, one lane per core, side by side.
    out["lane_one"] = one_at_a_time(lambda q: encoder.encode([q], lane=True), n // 2)
    out["lanes"] = lanes_side_by_side(encoder, encoder.threads, size=8)
    searcher = load_searcher(index_dir)
    out["search_in_process"] = one_at_a_time(lambda q: searcher.search(q, k=10), n)
    out["passages"] = searcher.passage_count
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["torch", "onnx"])
    ap.add_argument("--index-dir", type=Path, help="index folder (for onnx: its encoder/ and the searcher)")
    ap.add_argument("--queries", type=int, default=200, help="queries for the one-at-a-time figures")
    args = ap.parse_args()
    if args.part == "torch":
        result = torch_floor(args.queries)
    else:
        if args.index_dir is None:
            ap.error("onnx needs --index-dir")
        result = onnx_floor(args.index_dir, args.queries)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
