"""The ranking's sentence signal read from both sentence vectors: each candidate's best window cosine (the
sentence read with a neighbour either side, shipped) mixed with its best sentence-alone cosine.

Variant ``mix a``: sentence signal = a x best window cosine + (1 - a) x best sentence-alone cosine, the rest of
the shipped ranking unchanged (a = 1 is shipped). ``max``: the larger of the two min-max scaled. Measured on
every set (mrr@10, hit@1 in brackets; Cranfield nDCG@10) and cross-validated by bench/experiments/_rescore.py.

    .venv/bin/python bench/experiments/sentence_mix.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "experiments")]

from _rescore import Sets  # noqa: E402

from service.search import _minmax  # noqa: E402

MIXES = (1.0, 0.75, 0.5, 0.25, 0.0)


def mixed(variant):
    def rescore(searcher, query, pool, params):
        if variant == "max":
            p = replace(pool, sentence=np.maximum(_minmax(pool.sentence), _minmax(pool.exact)))
        else:
            p = replace(pool, sentence=variant * pool.sentence + (1 - variant) * pool.exact)
        # the pool's best-sentence signal replaced; window_share 1 makes fuse read it as it is
        return searcher.fuse(p, "hybrid", replace(params, window_share=1.0)), params
    return rescore


if __name__ == "__main__":
    Sets().sweep({("max" if v == "max" else f"mix {v}"): mixed(v) for v in (*MIXES, "max")}, "sentence signal")
