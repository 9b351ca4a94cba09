"""The dense index: exact inner product for small corpora, HNSW above a size (chosen in bench/scale.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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


ADD_ROWS = 65_536  # vectors handed to FAISS at a time when they come from a file (24 MB of float32)


def make_dense_index(vectors: np.ndarray | Path, force: str | None = None) -> faiss.Index:
    """An index over L2-normalised vectors where a higher inner product means closer (cosine).

    ``vectors`` is an array, or the path of a float32 ``.npy`` file, which is read ``ADD_ROWS`` rows at a
    time: FAISS keeps its own copy of every vector, so mapping the whole file as well would hold the
    vectors in the build's memory twice (3 GB at a million passages instead of 1.5)."""
    rows, dim = _npy_shape(vectors) if isinstance(vectors, Path) else vectors.shape
    kind = force or choose_type(rows)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown dense index type {kind!r}")
    if isinstance(vectors, Path):
        for batch in _npy_batches(vectors, ADD_ROWS):
            index.add(batch)
    else:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _npy_shape(path: Path) -> tuple[int, int]:
    with path.open("rb") as f:
        return _read_npy_header(f, path)


def _read_npy_header(f: BinaryIO, path: Path) -> tuple[int, int]:
    """Read an ``.npy`` header from ``f`` (left at the first row) and check it holds a float32 matrix."""
    np.lib.format.read_magic(f)
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    if fortran or dtype != np.float32 or len(shape) != 2:
        raise ValueError(f"{path}: not a C-ordered float32 matrix")
    return shape


def _npy_batches(path: Path, rows: int) -> Iterator[np.ndarray]:
    """The rows of a float32 ``.npy`` matrix, ``rows`` at a time, by plain reads (nothing stays mapped)."""
    with path.open("rb") as f:
        total, dim = _read_npy_header(f, path)
        for start in range(0, total, rows):
            count = min(rows, total - start)
            batch = np.fromfile(f, dtype=np.float32, count=count * dim)
            if batch.size != count * dim:
                raise ValueError(f"{path}: ends after {start} of {total} rows")
            yield batch.reshape(count, dim)


def describe(index: faiss.Index) -> dict:
    if isinstance(index, faiss.IndexHNSWFlat):
        return {"type": "hnsw", "metric": "inner_product", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
                "ef_search": HNSW_EF_SEARCH}
    return {"type": "flat", "metric": "inner_product"}
