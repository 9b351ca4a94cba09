"""Export the packaged sentence-transformers model to ONNX so the serve path needs no torch.

The exported graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` and returns the
finished sentence embedding (mean pooling over real tokens, then L2 normalisation), exactly the
computation ``SentenceTransformer.encode(..., normalize_embeddings=True)`` performs.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

OPSET = 17


def export_onnx(model_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModel

    out_dir.mkdir(parents=True, exist_ok=True)
    transformer = AutoModel.from_pretrained(str(model_path)).eval()

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    example = torch.ones((2, 8), dtype=torch.long)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Embedder().eval(),
            (example, example, torch.zeros_like(example)),
            str(out_dir / "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    shutil.copyfile(model_path / "tokenizer.json", out_dir / "tokenizer.json")
    config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    (out_dir / "encoder.json").write_text(
        json.dumps({"max_seq_length": config.get("max_seq_length", 256), "pooling": "mean", "normalized": True,
                    "dimension": transformer.config.hidden_size, "opset": OPSET}, indent=2) + "\n",
        encoding="utf-8",
    )
