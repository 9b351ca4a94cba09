"""Fusion weights that follow how much each list can be trusted for this query (query performance prediction).

A list whose best candidate stands far above the rest of the pool has found something; one whose scores are
flat has not. Per query and per signal (BM25, passage cosine, sentence cosine), peakedness = (best - mean) /
standard deviation over the pool's ``TOP`` best by that signal; each shipped weight is multiplied by
peakedness ** alpha and the three renormalised to the shipped total (alpha = 0 is the shipped fusion). mrr@10
(hit@1 in brackets) on every seed set with the no-answer decision off, Cranfield nDCG@10; 5-fold CV of alpha
by tune.py's rule over the choosing sets; the held-out sets are only reported.

    .venv/bin/python bench/experiments/adaptive_fusion.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coverage_signal import cross_validate  # noqa: E402
from tune import SHARED, BeirSet, QuestionSet, seed_searcher  # noqa: E402

from kb.evaluation import is_relevant, ndcg_at_k  # noqa: E402
from service.search import SearchParams  # noqa: E402

ALPHAS = (0.0, 0.25, 0.5, 1.0, 2.0)
TOPS = (20, 100)


def peakedness(x: np.ndarray, top: int) -> float:
    best = np.sort(x)[::-1][:top]
    spread = float(best.std())
    return float((best[0] - best.mean()) / spread) if spread > 0 and len(best) > 1 else 1.0


def params_for(pool, base: SearchParams, alpha: float, top: int) -> SearchParams:
    if alpha == 0 or not len(pool):
        return base
    sentence = base.window_share * pool.sentence + (1 - base.window_share) * pool.exact
    weights = np.array([base.w_keyword, base.w_dense, base.w_sentence])
    peaks = np.array([peakedness(pool.keyword, top), peakedness(pool.dense, top), peakedness(sentence, top)])
    moved = weights * np.maximum(peaks, 1e-3) ** alpha
    moved *= weights.sum() / moved.sum()
    return replace(base, w_keyword=float(moved[0]), w_dense=float(moved[1]), w_sentence=float(moved[2]))


def question_scores(qs, pools, base, alpha, top) -> np.ndarray:
    s, out = qs.searcher, []
    for q, pool in zip(qs.questions, pools, strict=True):
        p = params_for(pool, base, alpha, top)
        hits = s._present(pool, s.fuse(pool, "hybrid", p), 10, p)
        first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
        out.append(0.0 if first is None else 1.0 / (first + 1))
    return np.array(out)


def beir_scores(bs, pools, base, alpha, top) -> np.ndarray:
    out = []
    for qid, pool in zip(bs.ids, pools, strict=True):
        p = params_for(pool, base, alpha, top)
        out.append(ndcg_at_k(bs.ranked_docs(pool, bs.searcher.fuse(pool, "hybrid", p), qid), bs.qrels[qid], 10))
    return np.array(out)


def main() -> None:
    seeds = seed_searcher()
    ev = ROOT / "eval"
    files = {"seeds (shared + set 2)": [SHARED / "questions.jsonl", ev / "seed_questions_2.jsonl"],
             "short": [ev / "short_queries.jsonl"],
             "sets 3, 4": [ev / "seed_questions_3.jsonl", ev / "seed_questions_4.jsonl"],
             "held out": [ev / "held_out_questions.jsonl"],
             "held out 2": [ev / "held_out_questions_2.jsonl"]}
    qsets = [QuestionSet(name, seeds, paths) for name, paths in files.items()]
    cran = BeirSet("cranfield", SHARED / "cranfield")
    base = SearchParams()
    qpools = [qs.pools(base) for qs in qsets]
    cpools = cran.pools(base)
    names = [qs.name for qs in qsets] + ["cranfield"]
    print("| peakedness over | alpha | " + " | ".join(names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    per_query = {}
    for top in TOPS:
        for alpha in ALPHAS:
            if alpha == 0 and top != TOPS[0]:
                continue
            q = [question_scores(qs, p, base, alpha, top) for qs, p in zip(qsets, qpools, strict=True)]
            c = beir_scores(cran, cpools, base, alpha, top)
            per_query[f"top {top} alpha {alpha}"] = [q[0], q[1], q[2], c]
            cells = [f"{x.mean():.3f} ({(x == 1).mean():.3f})" for x in q] + [f"{c.mean():.4f}"]
            print(f"| {top if alpha else '-'} | {alpha} | " + " | ".join(cells) + " |", flush=True)
    chosen, cv, final = cross_validate(per_query)
    print(f"\nCV (seeds, short, sets 3+4, cranfield): {', '.join(f'{x.mean():.3f}' for x in cv)}; "
          f"chosen per fold {chosen}; on all {final}")


if __name__ == "__main__":
    main()
