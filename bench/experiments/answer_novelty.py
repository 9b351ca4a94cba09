"""Novelty of the best sentence as a ranking signal: a sentence that answers says something the question
does not, while a sentence that only restates the question's topic ("your job title often reflects your
broader responsibilities" for "what job titles do product leaders have?") shares its words and adds little.

Per candidate: its best sentence (by the sentence-alone cosine, the highlight), and the share of that
sentence's content words (stemmed, stop words out) that the question does not use; ``idf``: the same share
weighted by each word's IDF. Score = shipped fusion + w x novelty, optionally only where the document was
cut (the weight the sentence signal gets, 1 - 1/passages). mrr@10 (hit@1 in brackets) on every seed set,
Cranfield nDCG@10; 5-fold CV of w by tune.py's rule over the choosing sets; held-out sets only reported.

    .venv/bin/python bench/experiments/answer_novelty.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coverage_signal import cross_validate  # noqa: E402
from tune import SHARED, BeirSet, QuestionSet, seed_searcher  # noqa: E402

from kb.evaluation import is_relevant, ndcg_at_k  # noqa: E402
from service.search import SearchParams  # noqa: E402

WEIGHTS = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)
KINDS = ("plain", "idf", "plain, cut documents only")


def novelty(searcher, query: str, pool) -> dict[str, np.ndarray]:
    asked = {t for t in searcher.keyword.analyse(query) if t is not None}
    plain, weighted = np.zeros(len(pool)), np.zeros(len(pool))
    for j in range(len(pool)):
        spans = pool.spans(j)
        if not len(spans):
            continue
        best = int(np.argmax(pool.sentence_cos(j)))
        text = searcher.documents[int(pool.docs[j])].text[int(spans[best][1]):int(spans[best][2])]
        terms = [t for t in dict.fromkeys(searcher.keyword.analyse(text)) if t is not None]
        if not terms:
            continue
        new = [t for t in terms if t not in asked]
        plain[j] = len(new) / len(terms)
        idf = {t: searcher.keyword.idf(t) for t in terms}
        weighted[j] = sum(idf[t] for t in new) / max(sum(idf.values()), 1e-9)
    cut = 1.0 - 1.0 / searcher.doc_passages[pool.docs]
    return {"plain": plain, "idf": weighted, "plain, cut documents only": plain * cut}


def question_scores(qs, pools, params, kind, w) -> np.ndarray:
    s, out = qs.searcher, []
    for q, pool, nov in zip(qs.questions, pools, qs.nov, strict=True):
        hits = s._present(pool, s.fuse(pool, "hybrid", params) + w * nov[kind], 10, params)
        first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
        out.append(0.0 if first is None else 1.0 / (first + 1))
    return np.array(out)


def beir_scores(bs, pools, params, kind, w) -> np.ndarray:
    out = []
    for qid, pool, nov in zip(bs.ids, pools, bs.nov, strict=True):
        score = bs.searcher.fuse(pool, "hybrid", params) + w * nov[kind]
        out.append(ndcg_at_k(bs.ranked_docs(pool, score, qid), bs.qrels[qid], 10))
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
    params = SearchParams()
    qpools = []
    for qs in qsets:
        pools = qs.pools(params)
        qs.nov = [novelty(seeds, q["question"], p) for q, p in zip(qs.questions, pools, strict=True)]
        qpools.append(pools)
    cpools = cran.pools(params)
    cran.nov = [novelty(cran.searcher, q, p) for q, p in zip(cran.queries, cpools, strict=True)]
    names = [qs.name for qs in qsets] + ["cranfield"]
    print("| novelty | w | " + " | ".join(names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    per_query = {}
    for kind in KINDS:
        for w in WEIGHTS:
            if w == 0 and kind != KINDS[0]:
                continue
            q = [question_scores(qs, p, params, kind, w) for qs, p in zip(qsets, qpools, strict=True)]
            c = beir_scores(cran, cpools, params, kind, w)
            per_query[f"{kind} {w}"] = [q[0], q[1], q[2], c]
            cells = [f"{x.mean():.3f} ({(x == 1).mean():.3f})" for x in q] + [f"{c.mean():.4f}"]
            print(f"| {kind if w else 'none (shipped)'} | {w} | " + " | ".join(cells) + " |", flush=True)
    chosen, cv, final = cross_validate(per_query)
    print(f"\nCV (seeds, short, sets 3+4, cranfield): {', '.join(f'{x.mean():.3f}' for x in cv)}; "
          f"chosen per fold {chosen}; on all {final}")


if __name__ == "__main__":
    main()
