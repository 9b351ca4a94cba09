"""How the dense index scales: exact (flat) versus HNSW on synthetic clustered vectors.

    .venv/bin/python bench/scale.py [--sizes 10000 100000 1000000] [--queries 200]

Vectors are 384-d, L2-normalised, drawn around 1000 random centres (real sentence embeddings are
clustered, and uniform random vectors would make approximate search look worse than it is).
Queries are fresh draws from the same mixture. For each size: build time, single-query latency
(p50, one query at a time as the service asks), and recall@10 of HNSW against the exact answer.
The rule `indexer/dense.py` applies (exact below a size, HNSW above) comes from this table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import faiss
import numpy as np

from indexer.dense import HNSW_EF_SEARCH, HNSW_M, make_dense_index

DIM = 384


def mixture(n: int, centres: np.ndarray, rng: np.random.Generator, spread: float = 0.6) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + spread * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def latency_and_results(index: faiss.Index, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    times, found = [], []
    for q in queries:
        began = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - began) * 1000)
        found.append(ids[0])
    return statistics.median(times), np.array(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((1000, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    queries = mixture(args.queries, centres, rng)
    print(f"HNSW M={HNSW_M}, efSearch={HNSW_EF_SEARCH}; {args.queries} single queries, k=10\n")
    print("| vectors | index | build s | p50 ms / query | recall@10 vs exact |")
    print("| --- | --- | --- | --- | --- |")
    for n in args.sizes:
        data = mixture(n, centres, rng)
        exact = faiss.IndexFlatIP(DIM)
        began = time.perf_counter()
        exact.add(data)
        build_exact = time.perf_counter() - began
        p50_exact, truth = latency_and_results(exact, queries)
        print(f"| {n:,} | flat (exact) | {build_exact:.1f} | {p50_exact:.2f} | 1.000 |", flush=True)
        began = time.perf_counter()
        hnsw = make_dense_index(data, force="hnsw")
        build_hnsw = time.perf_counter() - began
        p50_hnsw, got = latency_and_results(hnsw, queries)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
        print(f"| {n:,} | HNSW | {build_hnsw:.1f} | {p50_hnsw:.2f} | {recall:.3f} |", flush=True)
        del data, exact, hnsw


if __name__ == "__main__":
    main()
