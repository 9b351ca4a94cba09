"""Query embeddings with ONNX Runtime: same vectors as the indexer, no torch on the serve path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


class QueryEncoder:
    """Thread-safe: an ONNX Runtime session may be run from several threads at once."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        config = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        self.dimension = int(config["dimension"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Same truncation as sentence-transformers: [CLS] + pieces + [SEP] within max_seq_length.
        self.tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT threads would otherwise spin and steal the cores the web server needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        types = np.zeros_like(ids)
        (vectors,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return np.ascontiguousarray(vectors, dtype=np.float32)
