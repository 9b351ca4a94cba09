"""Export the packaged sentence-transformers model to ONNX so the serve path needs no torch.

The exported graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (batch x sequence,
both axes dynamic) and returns ``sentence_embedding`` (batch x 384): mean pooling over real tokens,
then L2 normalisation, exactly what ``SentenceTransformer.encode(..., normalize_embeddings=True)``
computes. Pooling inside the graph saves copying every token vector out of ONNX Runtime.

Export uses the TorchScript-based exporter (``dynamo=False``): offline, deterministic, and without the
onnxscript dependency the dynamo exporter needs. The graph is then rewritten by ONNX Runtime's own
transformer optimiser, which fuses each layer's attention, layer norms and GELU into single kernels
(about 260 nodes down to about 60). ONNX Runtime does not find the attention fusion by itself at session
load, and the fused graph is about 10% faster for one query; the arithmetic stays float32 and the
export checks its result against torch before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

OPSET = 17
#: Cosine the exported graph must reach against torch on the probe texts before it is accepted.
MIN_COSINE = 0.99999
_PROBE_TEXTS = [
    "",
    "how do I rebuild the index?",
    "Café déjà vu — 東京 🚀 Привет",
    "a much longer probe that runs past the sequence limit " * 40,
]


#: Precisions a build may ask for. "int8" quantises the exported graph's weights (dynamic quantisation,
#: per output channel): about 1.8x the texts per CPU second, with vectors that differ from float32 ones
#: (cosine about 0.95 on average) and ranking within about 0.01 of float32 when queries use the same
#: encoder, which they do (it ships with the index). Measured: docs/RETRIEVAL.md, docs/BENCHMARKS.md.
PRECISIONS = ("float32", "int8")
#: Cosine the int8 graph must keep against float32 on the probe texts (it measures about 0.9 at worst).
MIN_INT8_COSINE = 0.8


def export_onnx(model_path: Path, out_dir: Path, precision: str = "float32") -> None:
    """Write ``model.onnx``, ``tokenizer.json`` and ``encoder.json`` for :class:`service.encoder.QueryEncoder`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from tokenizers import Tokenizer

    model_path, out_dir = Path(model_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Eager attention exports as plain MatMul/Softmax, the pattern the attention fusion recognises;
    # the SDPA path exports to a form it does not.
    with _quiet_transformers(transformers):
        transformer = transformers.AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    config = transformer.config
    st_config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    max_seq_length = min(int(st_config.get("max_seq_length", 256)), int(config.max_position_embeddings))

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            # Same arithmetic as sentence_transformers' Pooling(mean) followed by Normalize.
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    embedder = Embedder().eval()
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                embedder,
                (example, example, torch.zeros_like(example)),
                str(raw),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        fused = _fuse(raw, Path(tmp) / "fused.onnx", config.num_attention_heads, config.hidden_size)

        tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=max_seq_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        _check(fused, embedder, tokenizer, torch)
        if precision == "int8":
            fused = _quantise(fused, Path(tmp) / "int8.onnx", tokenizer)
        os.replace(fused, out_dir / "model.onnx")

    shutil.copyfile(model_path / "tokenizer.json", out_dir / "tokenizer.json")
    encoder_config = {
        "max_seq_length": max_seq_length,
        "pooling": "mean",
        "normalize": True,
        "dimension": int(config.hidden_size),
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "sentence_embedding",
        "opset": OPSET,
        "precision": precision,
    }
    (out_dir / "encoder.json").write_text(json.dumps(encoder_config, indent=2) + "\n", encoding="utf-8")


@contextmanager
def _quiet_transformers(transformers) -> Iterator[None]:
    """No weight-loading progress bar or info chatter, without changing the caller's settings for good."""
    hf_logging = transformers.utils.logging
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _fuse(src: Path, dst: Path, num_heads: int, hidden_size: int) -> Path:
    """Fuse attention, layer norms and GELU with ONNX Runtime's BERT optimiser (hardware-independent level)."""
    from onnxruntime.transformers import optimizer

    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        model = optimizer.optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
        model.save_model_to_file(str(dst))
    finally:
        quiet.setLevel(level)
    return dst


def _probe_inputs(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of the probe texts."""
    batch = tokenizer.encode_batch(_PROBE_TEXTS)
    ids = np.array([e.ids for e in batch], dtype=np.int64)
    return ids, np.array([e.attention_mask for e in batch], dtype=np.int64)


def _embed(onnx_file: Path, tokenizer) -> np.ndarray:
    """The graph's vectors of the probe texts."""
    import onnxruntime as ort

    ids, mask = _probe_inputs(tokenizer)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]


def _quantise(src: Path, dst: Path, tokenizer) -> Path:
    """Dynamic int8 quantisation of the fused graph's weights, one scale per output channel."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its advice to pre-process the graph first does not apply to a fused one
    try:
        # The fused operators are ONNX Runtime's own: their outputs carry no type for the quantiser to read.
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        quiet.setLevel(level)
    cosine = float((_embed(src, tokenizer) * _embed(dst, tokenizer)).sum(axis=1).min())
    if cosine < MIN_INT8_COSINE:
        raise RuntimeError(f"int8 encoder drifts too far from float32: min cosine {cosine:.4f} < {MIN_INT8_COSINE}")
    return dst


def _check(onnx_file: Path, embedder, tokenizer, torch) -> None:
    """Refuse a graph whose embeddings drift from the torch module's on a few awkward texts."""
    ids, mask = _probe_inputs(tokenizer)
    got = _embed(onnx_file, tokenizer)
    with torch.no_grad():
        want = embedder(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(np.zeros_like(ids))).numpy()
    cosine = float((got * want).sum(axis=1).min())
    if cosine < MIN_COSINE:
        raise RuntimeError(f"ONNX export drifts from torch: min cosine {cosine:.7f} < {MIN_COSINE}")


if __name__ == "__main__":  # python -m indexer.onnx_export MODEL_DIR OUT_DIR [PRECISION] (the indexer's child)
    import sys

    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] not in PRECISIONS):
        raise SystemExit(f"usage: python -m indexer.onnx_export MODEL_DIR OUT_DIR [{'|'.join(PRECISIONS)}]")
    export_onnx(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
