"""Fusion weights that follow how much each list can be trusted for this query (query performance prediction).

A list whose best candidate stands far above the rest of the pool has found something; one whose scores are
flat has not. Per query and per signal (BM25, passage cosine, sentence cosine), peakedness = (best - mean) /
standard deviation over the pool's ``top`` best by that signal; each shipped weight is multiplied by
peakedness ** alpha and the three renormalised to the shipped total (alpha = 0 is the shipped fusion).
Measured and cross-validated by bench/experiments/_rescore.py (docs/RETRIEVAL.md has the table).

    .venv/bin/python bench/experiments/adaptive_fusion.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "experiments")]

from _rescore import Sets, shipped  # noqa: E402

ALPHAS = (0.25, 0.5, 1.0, 2.0)
TOPS = (20, 100)


def peakedness(x: np.ndarray, top: int) -> float:
    best = np.sort(x)[::-1][:top]
    spread = float(best.std())
    return float((best[0] - best.mean()) / spread) if spread > 0 and len(best) > 1 else 1.0


def adaptive(alpha: float, top: int):
    def rescore(searcher, query, pool, base):
        sentence = base.window_share * pool.sentence + (1 - base.window_share) * pool.exact
        weights = np.array([base.w_keyword, base.w_dense, base.w_sentence])
        peaks = np.array([peakedness(pool.keyword, top), peakedness(pool.dense, top), peakedness(sentence, top)])
        moved = weights * np.maximum(peaks, 1e-3) ** alpha
        moved *= weights.sum() / moved.sum()
        p = replace(base, w_keyword=float(moved[0]), w_dense=float(moved[1]), w_sentence=float(moved[2]))
        return searcher.fuse(pool, "hybrid", p), p
    return rescore


if __name__ == "__main__":
    variants = {"shipped (alpha 0)": shipped}
    variants |= {f"best {top}, alpha {alpha}": adaptive(alpha, top) for top in TOPS for alpha in ALPHAS}
    Sets().sweep(variants, "peakedness over the best, alpha")
