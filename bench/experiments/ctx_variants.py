# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Context-vector variants: quality of the default ranking with each, on seeds / held-out / short / Cranfield."""

import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
sys.path.insert(0, str(ROOT_DIR / "bench"))
import numpy as np
from _sets import cranfield, evaluate, question_sets
from sentence_transformers import SentenceTransformer
from tune import ROOT, SHARED, seed_searcher

from corpus.cleaning import clean
from corpus.documents import load_documents
from corpus.passages import ChunkSettings, make_passages
from indexer import model
from service.search import SearchParams

st = SentenceTransformer(str(model.model_path()), device="cpu")
tok = st.tokenizer


def late_vectors(searcher, sources, metadata_file="default"):
    """Per sentence row: (span-pooled sentence vector, span-pooled window vector) from its passage's token states."""
    from corpus.metadata import DEFAULT_FILE, SourceMeta, load_overrides, merge, parse_date

    overrides = load_overrides(DEFAULT_FILE if metadata_file == "default" else None)
    docs = load_documents(sources)
    count = model.token_counter()
    table = searcher.store.sentence_table
    row_of = {(int(d), int(s), int(e)): i for i, (d, s, e) in enumerate(table)}
    n = len(table)
    alone = np.zeros((n, 384), np.float32)
    window = np.zeros((n, 384), np.float32)
    have = np.zeros(n, bool)
    texts, jobs = [], []
    for number, d in enumerate(docs):
        c = clean(d)
        meta = merge(SourceMeta(title=c.title, url=d.url, published=parse_date(c.published)), overrides.get(d.doc_id))
        c.title = meta.title
        for p in make_passages(c, count, ChunkSettings()):
            sents = [(s, e) for s, e in p.sentences if (number, s, e) in row_of]
            texts.append(p.embed_text)
            jobs.append((number, p, sents, c))
    t0 = time.time()
    embs = st.encode(texts, output_value="token_embeddings", batch_size=32, convert_to_numpy=False)
    print("late pass", len(texts), time.time() - t0, file=sys.stderr)
    for (number, p, sents, c), text, E in zip(jobs, texts, embs, strict=False):
        E = E.numpy()
        enc = tok(text, return_offsets_mapping=True, truncation=True, max_length=st.max_seq_length)
        offs = enc["offset_mapping"]
        assert len(offs) == len(E), (len(offs), len(E))
        # char span of each sentence in embed_text
        pos = len(text) - len(p.text)
        spans = []
        for s, e in sents:
            st_text = " ".join(c.visible(s, e).split())
            k = text.find(st_text, pos)
            if k < 0:
                spans.append(None)
                continue
            spans.append((k, k + len(st_text)))
            pos = k + len(st_text)

        def pool(a, b, offs=offs, E=E):
            idx = [i for i, (x, y) in enumerate(offs) if y > x and x >= a and y <= b]
            if not idx:
                return None
            v = E[idx].mean(0)
            return v / np.linalg.norm(v)

        for j, ((s, e), sp) in enumerate(zip(sents, spans, strict=False)):
            r = row_of[(number, s, e)]
            if have[r] or sp is None:
                continue
            va = pool(*sp)
            if va is None:
                continue
            lo = spans[j - 1] if j > 0 and spans[j - 1] else sp
            hi = spans[j + 1] if j + 1 < len(spans) and spans[j + 1] else sp
            vw = pool(lo[0], hi[1])
            alone[r], window[r], have[r] = va, vw, True
    print("late coverage", have.mean(), file=sys.stderr)
    return alone, window, have


def mean_window(searcher):
    table = searcher.store.sentence_table
    S = np.asarray(searcher.store.sentence_vectors)
    order = np.lexsort((table[:, 1], table[:, 0]))
    out = np.empty_like(S)
    for k, i in enumerate(order):
        js = [i] + [order[m] for m in (k - 1, k + 1) if 0 <= m < len(order) and table[order[m], 0] == table[i, 0]]
        v = S[js].mean(0)
        out[i] = v / np.linalg.norm(v)
    return out


seeds = seed_searcher()
cran = cranfield()
sets = [*question_sets(seeds), cran]
params = SearchParams()
results = {}
orig = {id(s): (s.store.sentence_vectors, s.store.context_vectors) for s in (seeds, cran.searcher)}
results["V0 real window embedding"] = evaluate(sets, params)
print(results, file=sys.stderr)
for s in (seeds, cran.searcher):
    s.store.context_vectors = mean_window(s)
results["V1 mean of window sentence vectors"] = evaluate(sets, params)
print(results, file=sys.stderr)
late = {}
late[id(seeds)] = late_vectors(seeds, [ROOT / "seeds"])
late[id(cran.searcher)] = late_vectors(cran.searcher, [SHARED / "cranfield" / "corpus.jsonl"], None)


def apply(which_ctx, which_alone):
    for s in (seeds, cran.searcher):
        a, w, have = late[id(s)]
        S0, C0 = orig[id(s)]
        C = np.array(C0)
        S = np.array(S0)
        if which_ctx == "alone":
            C[have] = a[have]
        if which_ctx == "window":
            C[have] = w[have]
        if which_alone:
            S[have] = a[have]
        s.store.context_vectors = C
        s.store.sentence_vectors = S


apply("alone", False)
results["V2 late-chunked sentence span as context"] = evaluate(sets, params)
apply("window", False)
results["V3 late-chunked window span as context"] = evaluate(sets, params)
apply("alone", True)
results["V4 late span as context and as sentence"] = evaluate(sets, params)
apply(None, True)
results["V5 real window context, late span as sentence"] = evaluate(sets, params)
print(json.dumps(results, indent=1))
for k, v in results.items():
    print(k, v)
