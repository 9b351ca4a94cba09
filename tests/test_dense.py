"""The dense index type follows the corpus size, and HNSW agrees with exact search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexer import dense
from indexer.dense import EXACT_MAX, choose_type, make_dense_index


def test_index_type_follows_corpus_size():
    assert choose_type(100) == "flat"
    assert choose_type(EXACT_MAX) == "flat"
    assert choose_type(EXACT_MAX + 1) == "hnsw"


def test_hnsw_recall_against_exact():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 384)).astype(np.float32)
    data = centres[rng.integers(0, 50, 5000)] + 0.5 * rng.standard_normal((5000, 384)).astype(np.float32) / 20
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[rng.integers(0, 5000, 50)] + 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact, hnsw = make_dense_index(data, force="flat"), make_dense_index(data, force="hnsw")
    _, truth = exact.search(queries, 10)
    _, got = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
    assert recall >= 0.95
    # stored vectors come back exactly, which the reranker relies on
    assert np.allclose(hnsw.reconstruct_batch(np.array([0, 7])), data[[0, 7]])


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_an_index_fed_from_a_file_in_slices_holds_every_vector_in_order(kind, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((1003, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    path = tmp_path / "vectors.npy"
    np.save(path, data)
    monkeypatch.setattr(dense, "ADD_ROWS", 100)  # eleven slices, the last one short
    from_file = make_dense_index(path, force=kind)
    assert from_file.ntotal == len(data)
    assert np.array_equal(from_file.reconstruct_n(0, len(data)), data)
    queries = data[[3, 500, 1002]]
    _, got = from_file.search(queries, 1)
    assert got[:, 0].tolist() == [3, 500, 1002]


def test_a_truncated_vector_file_is_an_error_not_a_short_index(tmp_path):
    path = tmp_path / "vectors.npy"
    np.save(path, np.ones((10, 384), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-4 * 384 * 3])  # three rows short of what the header says
    with pytest.raises(ValueError, match="ends after"):
        make_dense_index(path)


def test_manifest_records_the_choice(seed_index):
    version = seed_index / (seed_index / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["dense_index"]["type"] == "flat"
    assert manifest["model"]["dimension"] == 384 and manifest["chunking"]["max_tokens"] == 256
    assert manifest["counts"]["documents"] == 5 and len(manifest["fingerprint"]["__sources__"]) == 64
    assert "sources" not in manifest  # each document's hash is in documents.jsonl, not repeated here
