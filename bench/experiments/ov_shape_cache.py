# ruff: noqa: E402  (bench/ goes on sys.path before its helpers are imported)
"""Does the bfloat16 build encoder's memory grow with the number of input shapes it has seen?

A build calls the model with a new (batch, width) now and then: ``plan_bulk_calls`` makes full calls
(1024 padded tokens) and, at the end of each width within a chunk, a shorter one. OpenVINO's CPU plugin keeps
compiled kernels per shape (``CPU_RUNTIME_CACHE_CAPACITY``, 5,000 by default). This feeds the compiled model
``--shapes`` distinct shapes, the way a long build meets them, with the build's own settings
(``indexer.bf16_encoder.compile_settings``) but the capacity, and prints the RSS growth every ``--every``
shapes, the tokens a second, and the time to run a third of the shapes again, for each capacity asked for.

    .venv/bin/python bench/experiments/ov_shape_cache.py index/v-*/encoder --capacities default,0,64 --shapes 1500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import proc_status


def rss_mb() -> float:
    return proc_status(os.getpid())["VmRSS"]


def shapes_like_a_build(count: int, seed: int) -> list[tuple[int, int]]:
    """Distinct (batch, width) pairs a build meets: widths 8..128 mostly, batch up to 1024 // width."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    while len(out) < count:
        width = min(256, max(4, int(rng.lognormvariate(3.4, 0.5))))
        full = max(1, 1024 // width)
        batch = full if rng.random() < 0.3 else rng.randint(1, full)
        if (batch, width) not in seen:
            seen.add((batch, width))
            out.append((batch, width))
    return out


def run(folder: Path, capacity: int | None, shapes: list[tuple[int, int]], every: int) -> dict:
    import openvino as ov

    from indexer.bf16_encoder import compile_settings

    core = ov.Core()
    model = core.read_model(str(Path(folder) / "model.onnx"))
    with_types = any(p.get_any_name() == "token_type_ids" for p in model.inputs)
    compiled = core.compile_model(model, "CPU", compile_settings(2, capacity))
    request = compiled.create_infer_request()

    def infer(batch: int, width: int) -> None:
        ids = np.full((batch, width), 1037, dtype=np.int64)
        ids[:, 0] = 101
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if with_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        request.infer(feed)

    start = rss_mb()
    timeline = []
    tokens = 0
    clock = time.perf_counter()
    for i, (batch, width) in enumerate(shapes, 1):
        infer(batch, width)
        tokens += batch * width
        if i % every == 0:
            timeline.append((i, round(rss_mb() - start, 1)))
    seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    for batch, width in shapes[: len(shapes) // 3]:  # the same shapes again: what a kept kernel saves
        infer(batch, width)
    again = time.perf_counter() - clock
    return {"capacity": capacity, "rss_growth_mb": timeline, "tokens_per_s_new_shapes": round(tokens / seconds),
            "seconds_first_pass": round(seconds, 1), "seconds_repeat_third": round(again, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", type=Path, help="an index version's encoder/ folder")
    parser.add_argument("--capacities", default="default,64", help="comma-separated; 'default' for OpenVINO's")
    parser.add_argument("--shapes", type=int, default=1500)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    shapes = shapes_like_a_build(args.shapes, args.seed)
    results = []
    for name in args.capacities.split(","):
        capacity = None if name == "default" else int(name)
        result = run(args.encoder, capacity, shapes, args.every)
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
