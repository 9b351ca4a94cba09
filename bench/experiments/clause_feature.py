# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Prototype: weakest-clause support as an extra claim feature; CV with and without."""

import os
import re
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from pathlib import Path

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

import bench.fit_answer_model as f
from bench.tune import seed_searcher
from kb.evaluation import load_questions
from service.answerable import FEATURES, answer_features
from service.search import SearchParams

S = seed_searcher()
P = SearchParams()
SPLIT = re.compile(
    r",\s+|\s+(?:because|since|while|whereas|so that|so|and then|which|but|although|rather than|instead of|than)\s+",
    re.I,
)


def clauses(t):
    parts = [p.strip(" .") for p in SPLIT.split(t)]
    parts = [p for p in parts if len(re.findall(r"[A-Za-z]{3,}", p)) >= 3]
    return parts or [t]


def table(files):
    X, Y, G = [], [], []
    for g, path in enumerate(files):
        es = load_questions(path)
        texts = [e["claim"] for e in es]
        vs = S.encode(texts)
        for e, t, v in zip(es, texts, vs, strict=False):
            pool = S.pool(t, v, "hybrid", None, P)
            sc = S.fuse(pool, "hybrid", P)
            base = answer_features(S, t, v, pool, sc)
            cl = clauses(t)
            cv = S.encode(cl)
            order = np.argsort(-sc)[:3]
            sents = np.concatenate([np.asarray(S.store.sentences(pool.rows[order]).alone)])
            cos = cv @ sents.T  # clauses x sentences
            weakest = float(cos.max(axis=1).min())
            n = len(cl)
            X.append(np.r_[base, weakest, float(n > 1)])
            Y.append(1 if e["relevant"] else 0)
            G.append(g)
    return np.array(X), np.array(Y), np.array(G)


files = f.FILES["claim"]
used = [FEATURES.index(n) for n in f.KIND_FEATURES["claim"]]
X, Y, G = table(files)
hold = [Path(p) for p in sys.argv[1:]]
for name, cols in (
    ("base", used),
    ("+weakest", used + [len(FEATURES)]),
    ("+weakest+multi", used + [len(FEATURES), len(FEATURES) + 1]),
):
    x = X[:, cols]
    oof = []
    for tr, te in RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=7).split(x, Y):
        s, m = f.fit(x[tr], Y[tr])
        oof.append((Y[te], m.predict_proba(s.transform(x[te]))[:, 1]))
    tab = {th: tuple(np.mean([f.rates(a, b, th)[i] for a, b in oof]) for i in (0, 1)) for th in f.THRESHOLDS}
    th = min(tab, key=lambda k: (1 - tab[k][0]) * Y.sum() + (1 - tab[k][1]) * (1 - Y).sum())
    line = f"{name}: thr {th} cv kept {tab[th][0]:.3f} refused {tab[th][1]:.3f}"
    for g, path in enumerate(files):
        tr, te = g != G, g == G
        s, m = f.fit(x[tr], Y[tr])
        k, r = f.rates(Y[te], m.predict_proba(s.transform(x[te]))[:, 1], th)
        line += f" | {path.stem} {k:.2f}/{r:.2f}"
    print(line, flush=True)
