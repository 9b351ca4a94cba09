# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Mean-centering of embeddings (remove the corpus's common direction): ranking on every set."""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
sys.path.insert(0, str(ROOT_DIR / "bench"))
import faiss
import numpy as np
from _sets import cranfield, evaluate, question_sets, reencode
from tune import seed_searcher

from service.search import SearchParams

seeds = seed_searcher()
cran = cranfield()
sets = [*question_sets(seeds, ("seeds", "held out", "set 3", "set 4", "short")), cran]
P = SearchParams()
orig = {}
for s in (seeds, cran.searcher):
    st = s.store
    ix = st.dense
    orig[id(s)] = (
        ix.reconstruct_n(0, ix.ntotal),
        np.array(st.sentence_vectors),
        np.array(st.context_vectors),
        s.encode,
    )


def norm(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def apply(alpha):
    for s in (seeds, cran.searcher):
        Pv, Sv, Cv, enc = orig[id(s)]
        mu = Pv.mean(0)
        ix = faiss.IndexFlatIP(384)
        ix.add(norm(Pv - alpha * mu))
        s.store.dense = ix
        s.store.sentence_vectors = norm(Sv - alpha * mu)
        s.store.context_vectors = norm(Cv - alpha * mu)
        s.encode = lambda texts, lane=False, enc=enc, mu=mu, alpha=alpha: norm(enc(texts) - alpha * mu)
    reencode(sets)


for alpha in (0.0, 0.5, 0.75, 1.0):
    apply(alpha)
    out = evaluate(sets, P, digits=3)
    print("alpha", alpha, json.dumps(out), flush=True)
