# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Candidate features for the "no answer" / "unsupported" model, by the fit script's own cross-validation.

    .venv/bin/python bench/experiments/claim_features.py

For each kind (questions, claims), on bench/fit_answer_model.py's labels and folds: the shipped features,
then the shipped features plus one candidate, and (claims) the shipped features at other regularisation
strengths. Each line: the threshold the expected-error rule picks, kept / refused there in 5-fold CV x 10,
and kept / refused on every not-fitted file. Candidates (none kept; docs/RETRIEVAL.md):

- context_top: the best cosine of a sentence of the top passage read with its neighbours;
- order_swapped: share of discordant pairs among the terms the claim shares with the top passage's best
  sentence (each once in both; 0 below three), for swapped roles ("A reports to B" / "B reports to A");
- weakest_clause: the claim cut at commas and conjunctions, each clause's best cosine against the sentences
  of the three best passages, the smallest.
"""

import os
import re
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
import numpy as np

import bench.fit_answer_model as f
from bench.experiments._report import feature_table, report
from bench.tune import seed_searcher
from service.answerable import FEATURES
from service.search import SearchParams

S = seed_searcher()
P = SearchParams()
CANDIDATES = ("context_top", "order_swapped", "weakest_clause")
SPLIT = re.compile(
    r",\s+|\s+(?:because|since|while|whereas|so that|so|and then|which|but|although|rather than"
    r"|instead of|than)\s+",
    re.I,
)


def clauses(text: str) -> list[str]:
    parts = [p.strip(" .") for p in SPLIT.split(text)]
    return [p for p in parts if len(re.findall(r"[A-Za-z]{3,}", p)) >= 3] or [text]


def order_swapped(text: str, pool, top: int) -> float:
    spans = pool.spans(top)
    if not len(spans):
        return 0.0
    _, s, e = spans[int(np.argmax(pool.sentence_cos(top)))].tolist()
    sentence = [t for t in S.keyword.analyse(S.documents[int(pool.docs[top])].text[s:e]) if t is not None]
    asked = [t for t in S.keyword.analyse(text) if t is not None]
    shared = [t for t in dict.fromkeys(asked) if asked.count(t) == 1 and sentence.count(t) == 1]
    if len(shared) < 3:
        return 0.0
    where = [sentence.index(t) for t in shared]
    pairs = len(where) * (len(where) - 1) // 2
    return sum(where[i] > where[j] for i in range(len(where)) for j in range(i + 1, len(where))) / pairs


def extra(text: str, pool, scores, top: int) -> list[float]:
    best3 = pool.rows[np.argsort(-scores)[:3]]
    cos = S.encode(clauses(text)) @ np.asarray(S.store.sentences(best3).alone).T
    return [pool.sentence[top], order_swapped(text, pool, top), float(cos.max(axis=1).min())]


def table(files):
    return feature_table(S, P, files, extra)


for kind, files in f.FILES.items():
    used = [FEATURES.index(n) for n in f.KIND_FEATURES[kind]]
    x, y = table(files)
    held = [(path, *table([path])) for path in f.HELD_OUT[kind]]
    variants = [("shipped", used)] + [
        (f"+ {c}", used + [len(FEATURES) + i])
        for i, c in enumerate(CANDIDATES)
        if kind == "claim" or c == "context_top"
    ]
    for name, cols in variants:
        report(kind, name, x[:, cols], y, [(p, hx[:, cols], hy) for p, hx, hy in held])
    if kind == "claim":
        for c in (0.03, 0.1, 0.3, 3.0):
            f.C = c
            report(kind, f"shipped, C = {c}", x[:, used], y, [(p, hx[:, used], hy) for p, hx, hy in held])
        f.C = 1.0
