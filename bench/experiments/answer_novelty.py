"""Novelty of the best sentence as a ranking signal: a sentence that answers says something the question
does not, while a sentence that only restates the question's topic ("your job title often reflects your
broader responsibilities" for "what job titles do product leaders have?") shares its words and adds little.

Per candidate: its best sentence (by the sentence-alone cosine, the highlight), and the share of that
sentence's content words (stemmed, stop words out) that the question does not use; ``idf``: the same share
weighted by each word's IDF. Score = shipped fusion + w x novelty, optionally only where the document was
cut (the weight the sentence signal gets, 1 - 1/passages). mrr@10 (hit@1 in brackets) on every seed set,
Cranfield nDCG@10; measured and cross-validated by bench/experiments/_rescore.py.

    .venv/bin/python bench/experiments/answer_novelty.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "experiments")]

from _rescore import Sets, shipped  # noqa: E402

WEIGHTS = (0.025, 0.05, 0.1, 0.15, 0.2)
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


_cache: dict[int, dict[str, np.ndarray]] = {}


def with_novelty(kind: str, w: float):
    def rescore(searcher, query, pool, params):
        if id(pool) not in _cache:
            _cache[id(pool)] = novelty(searcher, query, pool)
        return searcher.fuse(pool, "hybrid", params) + w * _cache[id(pool)][kind], params
    return rescore


if __name__ == "__main__":
    variants = {"none (shipped)": shipped}
    variants |= {f"{kind}, {w}": with_novelty(kind, w) for kind in KINDS for w in WEIGHTS}
    Sets().sweep(variants, "novelty, w")
