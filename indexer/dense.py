"""The dense index: exact inner product for small corpora, HNSW above a size (chosen in bench/scale.py)."""

from __future__ import annotations

import faiss
import numpy as np

# Measured by bench/scale.py on 2 cores (docs/BENCHMARKS.md): exact search costs about 0.15 ms per
# 1000 vectors (15 ms at 100k, 142 ms at 1M); HNSW with these settings answered in under 1 ms with
# recall@10 1.000 at 10k and 100k and 0.990 at 1M. Exact up to 20k vectors keeps the dense step
# within about 3 ms with no approximation at all.
EXACT_MAX = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


def choose_type(n: int) -> str:
    return "flat" if n <= EXACT_MAX else "hnsw"


def make_dense_index(vectors: np.ndarray, force: str | None = None) -> faiss.Index:
    """An index over L2-normalised vectors where a higher inner product means closer (cosine)."""
    kind = force or choose_type(len(vectors))
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown dense index type {kind!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def describe(index: faiss.Index) -> dict:
    if isinstance(index, faiss.IndexHNSWFlat):
        return {"type": "hnsw", "metric": "inner_product", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
                "ef_search": HNSW_EF_SEARCH}
    return {"type": "flat", "metric": "inner_product"}
