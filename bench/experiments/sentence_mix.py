"""The ranking's sentence signal read from both sentence vectors: each candidate's best window cosine (the
sentence read with a neighbour either side, shipped) mixed with its best sentence-alone cosine.

Variant ``mix a``: sentence signal = a x best window cosine + (1 - a) x best sentence-alone cosine, the rest of
the shipped ranking unchanged (a = 1 is shipped). ``max``: the larger of the two min-max scaled. Measured on
every set (mrr@10, hit@1 in brackets; Cranfield nDCG@10), with 5-fold cross-validation of ``a`` by tune.py's
rule over the choosing sets (seeds, short, sets 3 and 4, Cranfield); the held-out sets are only reported.

    .venv/bin/python bench/experiments/sentence_mix.py
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
from service.search import SearchParams, _minmax  # noqa: E402

MIXES = (1.0, 0.75, 0.5, 0.25, 0.0)


def mixed(pool, variant):
    if variant == "max":
        return replace(pool, sentence=np.maximum(_minmax(pool.sentence), _minmax(pool.exact)))
    return replace(pool, sentence=variant * pool.sentence + (1 - variant) * pool.exact)


def question_scores(qs, pools, params, variant) -> np.ndarray:
    s, out = qs.searcher, []
    for q, pool in zip(qs.questions, pools, strict=True):
        p = mixed(pool, variant)
        hits = s._present(p, s.fuse(p, "hybrid", params), 10, params)
        first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
        out.append(0.0 if first is None else 1.0 / (first + 1))
    return np.array(out)


def beir_scores(bs, pools, params, variant) -> np.ndarray:
    out = []
    for qid, pool in zip(bs.ids, pools, strict=True):
        p = mixed(pool, variant)
        out.append(ndcg_at_k(bs.ranked_docs(p, bs.searcher.fuse(p, "hybrid", params), qid), bs.qrels[qid], 10))
    return np.array(out)


def main() -> None:
    seeds = seed_searcher()
    ev = ROOT / "eval"
    files = {"seeds (shared + set 2)": [SHARED / "questions.jsonl", ev / "seed_questions_2.jsonl"],
             "short": [ev / "short_queries.jsonl"],
             "sets 3, 4": [ev / "seed_questions_3.jsonl", ev / "seed_questions_4.jsonl"],
             "held out": [ev / "held_out_questions.jsonl"]}
    if (ev / "held_out_questions_2.jsonl").is_file():
        files["held out 2"] = [ev / "held_out_questions_2.jsonl"]
    qsets = [QuestionSet(name, seeds, paths) for name, paths in files.items()]
    cran = BeirSet("cranfield", SHARED / "cranfield")
    params = SearchParams()
    qpools = [qs.pools(params) for qs in qsets]
    cpools = cran.pools(params)
    names = [qs.name for qs in qsets] + ["cranfield"]
    print("| sentence signal | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    per_query = {}
    for variant in (*MIXES, "max"):
        q = [question_scores(qs, p, params, variant) for qs, p in zip(qsets, qpools, strict=True)]
        c = beir_scores(cran, cpools, params, variant)
        per_query[str(variant)] = [q[0], q[1], q[2], c]
        cells = [f"{x.mean():.3f} ({(x == 1).mean():.3f})" for x in q] + [f"{c.mean():.3f}"]
        print(f"| {'max' if variant == 'max' else f'mix {variant}'} | " + " | ".join(cells) + " |", flush=True)
    chosen, cv, final = cross_validate(per_query)
    print(f"\nCV (seeds, short, sets 3+4, cranfield): {', '.join(f'{x.mean():.3f}' for x in cv)}; "
          f"chosen per fold {chosen}; on all {final}")


if __name__ == "__main__":
    main()
