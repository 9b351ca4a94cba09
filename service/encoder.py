"""Query embeddings with ONNX Runtime: the indexer's vectors without torch on the serve path.

``QueryEncoder`` reads the folder ``indexer.onnx_export.export_onnx`` writes. Its vectors match
``SentenceTransformer.encode(texts, normalize_embeddings=True)`` to float32 rounding (cosine > 0.99999):
the same tokenizer file and truncation, and pooling and normalisation inside the graph.

Two ways to run the model, because on a 2-core machine the web server needs CPU too:

- ``encode(texts)``: one call spread over every core (ONNX Runtime intra-op threads). Fastest for a
  call that has the machine to itself: a lone query when the service is idle.
- ``encode(texts, lane=True)``: one call on the calling thread only. Several such calls run side by
  side, one per core. Under load this wins: a multi-threaded call stalls at every operator whenever
  the event loop takes one of its cores (measured in docs/BENCHMARKS.md), single-threaded calls do not.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

#: Most padded tokens per model call. A batch is sorted by length and cut into calls of at most this
#: many tokens, which removes nearly all padding.
TOKENS_PER_CALL = 256
#: The same for ``encode_bulk`` (indexing): bigger calls, for throughput rather than latency (measured in
#: docs/BENCHMARKS.md, "Indexing throughput").
BULK_TOKENS_PER_CALL = 1024


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def bulk_tokenizer(folder: Path, max_seq_length: int) -> Tokenizer:
    """The encoder folder's tokenizer for bulk calls: truncated as the model was trained, unpadded
    (each call pads to its own longest text)."""
    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.no_padding()
    return tokenizer


def plan_bulk_calls(lengths: np.ndarray, tokens_per_call: int) -> list[np.ndarray]:
    """Rows of each model call for texts of these token ``lengths``: sorted by length, as many to a call as
    fit in ``tokens_per_call`` padded tokens (at least one), so that padding all but vanishes."""
    order = np.argsort(lengths, kind="stable")
    calls: list[np.ndarray] = []
    start = 0
    while start < len(order):
        # Sorted ascending: the call's last text is its longest, and the call is as wide as that text.
        end = start + 1
        while end < len(order) and (end - start + 1) * lengths[order[end]] <= tokens_per_call:
            end += 1
        calls.append(order[start:end])
        start = end
    return calls


def bulk_call_inputs(encodings: list[Encoding], lengths: np.ndarray, rows: np.ndarray,
                     with_types: bool) -> dict[str, np.ndarray]:
    """The model's inputs for one call of ``plan_bulk_calls``: the rows' ids, padded to the call's longest."""
    width = int(lengths[rows[-1]])
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, i in enumerate(rows):
        n = int(lengths[i])
        ids[j, :n] = encodings[i].ids
        mask[j, :n] = 1
    feed = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        feed["token_type_ids"] = np.zeros_like(ids)
    return feed


class QueryEncoder:
    """Embeds texts into L2-normalised float32 vectors.

    Thread-safe: ``encode`` keeps no state between calls, an ONNX Runtime session may run from several
    threads at once, and the tokenizer is only configured in ``__init__``.
    """

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        """Load ``model.onnx``, ``tokenizer.json`` and ``encoder.json`` from ``folder``.

        ``threads`` is the intra-op thread count of the all-cores session; ``None`` or 0 means every
        available core. The single-thread session of ``lane=True`` is created on first use.
        """
        folder = Path(folder)
        config = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        self.dimension = int(config["dimension"])
        self.max_seq_length = int(config["max_seq_length"])
        self.model_file = folder / "model.onnx"
        # An int8 graph quantises its activations with one scale per call, so a text's vector would depend on
        # the texts it shares a call with: there every text runs alone (no slower single-threaded, measured by
        # bench/experiments/int8_batching.py).
        self.precision = str(config.get("precision", "float32"))
        self.one_text_per_call = self.precision == "int8"

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The shipped tokenizer.json truncates at 128 and pads every text to 128: override both.
        # Truncation counts [CLS] and [SEP] within max_seq_length, as sentence-transformers does;
        # padding goes to the longest text of the call.
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        # encode_bulk pads each call itself: the tokenizer's padding would pad every text to the longest
        # of the whole batch.
        self._bulk_tokenizer = bulk_tokenizer(folder, self.max_seq_length)

        self.threads = threads or available_cores()
        self.session = self._session(self.threads)
        self._lane_session: ort.InferenceSession | None = None
        self._lane_lock = threading.Lock()
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._output = self.session.get_outputs()[0].name

    def _session(self, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Workers that spin between operators instead of sleeping answer a lone query ~0.5 ms sooner.
        # (The single-thread session has no workers; this setting does not concern it.)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        return ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])

    @property
    def lane_session(self) -> ort.InferenceSession:
        """The single-thread session (its own copy of the weights, about 115 MB), made once."""
        if self._lane_session is None:
            with self._lane_lock:
                if self._lane_session is None:
                    self._lane_session = self.session if self.threads == 1 else self._session(1)
        return self._lane_session

    def encode(self, texts: list[str], lane: bool = False) -> np.ndarray:
        """Return an ``(len(texts), dimension)`` float32 array of unit-length rows, in input order.

        ``lane=True`` runs on the calling thread only (see the module docstring)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self.lane_session if lane else self.session
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [sum(e.attention_mask) for e in encodings]
        if len(encodings) == 1:
            return self._run(session, encodings, lengths[0])
        order = sorted(range(len(encodings)), key=lengths.__getitem__)
        out = np.empty((len(encodings), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            # Sorted ascending, so the last text taken is the longest of its call.
            end = start + 1
            while (not self.one_text_per_call and end < len(order)
                   and (end - start + 1) * lengths[order[end]] <= TOKENS_PER_CALL):
                end += 1
            rows = order[start:end]
            out[rows] = self._run(session, [encodings[i] for i in rows], lengths[order[end - 1]])
            start = end
        return out

    def encode_bulk(self, texts: list[str], tokens_per_call: int | None = None, lanes: int | None = None,
                    timings: dict[str, float] | None = None) -> np.ndarray:
        """``encode`` for many texts at once (indexing): the same vectors, computed for throughput.

        The texts are sorted by length and cut into calls of up to ``tokens_per_call`` padded tokens
        (default ``BULK_TOKENS_PER_CALL``; one text a call for an int8 encoder);
        ``lanes`` threads (default: one per available core) each run calls on the single-thread session,
        side by side, so that no core waits for another at every operator as the all-cores session's do
        (measured: about 25% more texts per CPU second, and twice the texts per second on a busy machine).
        ``timings``, when given, gets the seconds spent tokenizing and in the model added to its
        ``"tokenize"`` and ``"model"`` entries."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        if self.one_text_per_call:
            tokens_per_call = 0
        elif tokens_per_call is None:
            tokens_per_call = BULK_TOKENS_PER_CALL
        clock = time.perf_counter()
        encodings = self._bulk_tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        calls = plan_bulk_calls(lengths, tokens_per_call)
        tokenized = time.perf_counter()
        with_types = "token_type_ids" in self._inputs
        lanes = max(1, min(lanes or available_cores(), len(calls)))
        session = self.lane_session if lanes > 1 else self.session

        def run(rows: np.ndarray) -> None:
            (vectors,) = session.run([self._output], bulk_call_inputs(encodings, lengths, rows, with_types))
            out[rows] = vectors

        if lanes == 1:
            for rows in calls:
                run(rows)
        else:
            # Longest calls first, so that the lanes finish together.
            with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="encode-lane") as pool:
                list(pool.map(run, reversed(calls)))
        if timings is not None:
            timings["tokenize"] = timings.get("tokenize", 0.0) + tokenized - clock
            timings["model"] = timings.get("model", 0.0) + time.perf_counter() - tokenized
        return out

    def warm_up(self) -> None:
        """One call on each session, so that no request pays for lazy initialisation."""
        self.encode(["warm up"])
        self.encode(["warm up"], lane=True)

    def _run(self, session: ort.InferenceSession, encodings: list[Encoding], width: int) -> np.ndarray:
        """One model call on encodings padded to the longest of the whole batch, cut back to ``width``
        (the longest of this call)."""
        ids = np.array([e.ids[:width] for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask[:width] for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        (vectors,) = session.run([self._output], feed)
        return np.asarray(vectors, dtype=np.float32)
