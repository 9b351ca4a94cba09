"""The build's document encoder where the CPU has bfloat16 units: OpenVINO running the exported graph.

Indexing is nearly all model time, and float32 arithmetic is at the machine's floor (docs/BENCHMARKS.md).
CPUs with AVX-512 BF16 or AMX multiply bfloat16 at about twice the float32 rate; OpenVINO's CPU plugin
runs the same ``model.onnx`` that way (bfloat16 products, float32 accumulation, pooling and normalisation),
at about 2x the texts per second of ONNX Runtime's float32 lanes here, with vectors at cosine >= 0.9999 to
the float32 ones (0.99999 on average). That is far inside what the ranking can notice (int8, at about 0.95,
moves it by 0.01), so the index keeps "float32" as its precision and the queries, which need latency
rather than throughput, stay on ONNX Runtime's float32 sessions (``service.encoder``).

The calls are those of ``QueryEncoder.encode_bulk``: sorted by length, up to ``BULK_TOKENS_PER_CALL``
padded tokens each, run by one single-thread stream per core.
"""

from __future__ import annotations

import json
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from service.encoder import (
    BULK_TOKENS_PER_CALL,
    available_cores,
    bulk_call_inputs,
    bulk_tokenizer,
    plan_bulk_calls,
)

#: Input shapes whose compiled kernels OpenVINO's CPU plugin keeps (``CPU_RUNTIME_CACHE_CAPACITY``, 5,000 by
#: default). A build meets a new (batch, width) every few calls and each kept shape held about 0.6 MB: with
#: the default a million-record build ended its embedding at 1,314 MB, with 64 at 918 MB, at the same speed
#: (bench/experiments/ov_shape_cache.py, docs/BENCHMARKS.md).
RUNTIME_CACHE_SHAPES = 64

#: What ``kb index --arithmetic`` accepts: "auto" is bf16 where the CPU reports bfloat16 units, else float32.
ARITHMETICS = ("auto", "bf16", "float32")


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin can compute in bfloat16 on this machine (and OpenVINO imports)."""
    try:
        import openvino as ov
    except ImportError:
        return False
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def resolve_arithmetic(arithmetic: str, precision: str) -> str:
    """The arithmetic a build will embed with: "bf16" or "float32" for a float32 index, "int8" for an int8 one.

    Raises ``ValueError`` for a name it does not know, bf16 asked of an int8 index, or bf16 on a CPU
    without it."""
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic {arithmetic!r}: expected one of {', '.join(ARITHMETICS)}")
    if precision != "float32":
        if arithmetic == "bf16":
            raise ValueError(f"--arithmetic bf16 computes float32 vectors faster; an {precision} index has its own")
        return precision
    if arithmetic == "auto":
        return "bf16" if cpu_has_bf16() else "float32"
    if arithmetic == "bf16" and not cpu_has_bf16():
        raise ValueError("--arithmetic bf16: this CPU has no bfloat16 units that OpenVINO can use "
                         "(it needs AVX-512 BF16 or AMX); use --arithmetic float32")
    return arithmetic


def engine_label(arithmetic: str) -> str:
    """How the manifest names what computed the document vectors (library and version included)."""
    if arithmetic == "bf16":
        import openvino as ov

        return f"OpenVINO {ov.get_version().split('-')[0]}, bfloat16 products"
    import onnxruntime as ort

    return f"ONNX Runtime {ort.__version__}, {arithmetic}"


def compile_settings(lanes: int, cache_shapes: int | None = RUNTIME_CACHE_SHAPES) -> dict[str, str]:
    """OpenVINO's CPU settings for the build: bfloat16, one single-thread stream per lane (as ONNX Runtime's
    lanes: no core waits for another), ``cache_shapes`` kernels kept (None: OpenVINO's default)."""
    settings = {
        "INFERENCE_PRECISION_HINT": "bf16",
        "NUM_STREAMS": str(lanes),
        "INFERENCE_NUM_THREADS": str(lanes),
        "PERFORMANCE_HINT": "THROUGHPUT",
    }
    if cache_shapes is not None:
        settings["CPU_RUNTIME_CACHE_CAPACITY"] = str(cache_shapes)
    return settings


class Bf16BulkEncoder:
    """``encode_bulk`` of ``service.encoder.QueryEncoder`` on OpenVINO in bfloat16 (see the module docstring)."""

    def __init__(self, folder: Path, lanes: int | None = None) -> None:
        import openvino as ov

        folder = Path(folder)
        config = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        if config.get("precision", "float32") != "float32":
            raise ValueError(f"{folder}: a {config['precision']} encoder runs on ONNX Runtime, not in bf16")
        self.dimension = int(config["dimension"])
        self.tokenizer = bulk_tokenizer(folder, int(config["max_seq_length"]))
        self.lanes = lanes or available_cores()
        core = ov.Core()
        model = core.read_model(str(folder / "model.onnx"))
        self._with_types = any(p.get_any_name() == "token_type_ids" for p in model.inputs)
        self._compiled = core.compile_model(model, "CPU", compile_settings(self.lanes))
        self._requests = [self._compiled.create_infer_request() for _ in range(self.lanes)]

    def close(self) -> None:
        """Let the model go (its requests first)."""
        self._requests = []
        self._compiled = None

    def encode_bulk(self, texts: list[str], lanes: int | None = None,
                    timings: dict[str, float] | None = None) -> np.ndarray:
        """Unit-length vectors of ``texts``, in input order; ``timings`` gets "tokenize" and "model" seconds.

        ``lanes`` is accepted for the same signature as ``QueryEncoder.encode_bulk``; the streams are fixed
        when the model is compiled."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        clock = time.perf_counter()
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        calls = plan_bulk_calls(lengths, BULK_TOKENS_PER_CALL)
        tokenized = time.perf_counter()
        # One synchronous request a lane, run from a Python thread (OpenVINO lets the GIL go while it infers).
        # Not AsyncInferQueue: its Python callback lives in OpenVINO's stream threads, and releasing the
        # compiled model then joined a thread that was waiting for the GIL the releasing thread held (a build
        # hung in _Embedder.close).
        requests: queue.SimpleQueue = queue.SimpleQueue()
        for r in self._requests[:min(self.lanes, len(calls))]:
            requests.put(r)

        def run(rows: np.ndarray) -> None:
            request = requests.get()
            try:
                request.infer(bulk_call_inputs(encodings, lengths, rows, self._with_types))
                out[rows] = request.get_output_tensor(0).data
            finally:
                requests.put(request)

        # Longest calls first, so that the lanes finish together.
        with ThreadPoolExecutor(max_workers=min(self.lanes, len(calls))) as pool:
            for finished in [pool.submit(run, rows) for rows in reversed(calls)]:
                finished.result()
        # bfloat16 products leave the graph's normalisation a hair off unit length.
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if timings is not None:
            timings["tokenize"] = timings.get("tokenize", 0.0) + tokenized - clock
            timings["model"] = timings.get("model", 0.0) + time.perf_counter() - tokenized
        return out
