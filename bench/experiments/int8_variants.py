# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""int8 (dynamic quantisation) encoder for index and queries: quality on seeds / held out / short / Cranfield,
plus texts per CPU second on the same texts. Regenerates every vector with the fp32 and int8 encoders."""

import json
import os
import shutil
import sys
import tempfile
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
sys.path.insert(0, str(ROOT_DIR / "bench"))
from pathlib import Path

import faiss
import numpy as np
from _sets import cranfield, evaluate, question_sets, reencode
from onnxruntime.quantization import QuantType, quantize_dynamic
from tune import ROOT, SHARED, seed_searcher

from corpus.cleaning import clean
from corpus.documents import load_documents
from corpus.metadata import DEFAULT_FILE, SourceMeta, load_overrides, merge, parse_date
from corpus.passages import ChunkSettings, make_passages
from indexer import model
from indexer.build import sentence_inputs
from service.encoder import QueryEncoder
from service.search import SearchParams


def texts_of(sources, metadata):
    overrides = load_overrides(metadata)
    docs = load_documents(sources)
    count = model.token_counter()
    P, S, C = [], [], []
    for number, d in enumerate(docs):
        c = clean(d)
        meta = merge(SourceMeta(title=c.title, url=d.url, published=parse_date(c.published)), overrides.get(d.doc_id))
        c.title = meta.title
        ps = make_passages(c, count, ChunkSettings())
        rows = {}
        for p in ps:
            for sp in p.sentences:
                rows.setdefault(sp, len(rows))
        spans = list(rows)
        table = np.array([(number, s, e) for s, e in spans], dtype=np.int64).reshape(-1, 3)
        st = [" ".join(c.visible(s, e).split()) for s, e in spans]
        P += [p.embed_text for p in ps]
        S += st
        C += sentence_inputs(st, table)
    return P, S, C


def quantised(src: Path, dst: Path, per_channel: bool):
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    quantize_dynamic(
        str(src / "model.onnx"),
        str(dst / "model.onnx"),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        extra_options={"DefaultTensorType": 1},
    )
    return dst


seeds = seed_searcher()
cran = cranfield()
sets = [*question_sets(seeds), cran]
params = SearchParams()
results = {"fp32 (shipped)": evaluate(sets, params)}
print(results, file=sys.stderr, flush=True)
texts = {
    id(seeds): texts_of([ROOT / "seeds"], DEFAULT_FILE),
    id(cran.searcher): texts_of([SHARED / "cranfield" / "corpus.jsonl"], None),
}
enc_dir = seeds.store.encoder_dir()
for per_channel in (False, True):
    name = f"int8 dynamic, per_channel={per_channel}"
    qdir = quantised(enc_dir, Path(tempfile.mkdtemp()) / f"enc-int8-{per_channel}", per_channel)
    enc = QueryEncoder(qdir, threads=1)
    fp = QueryEncoder(enc_dir, threads=1)
    stats = {}
    for s in (seeds, cran.searcher):
        P, S, C = texts[id(s)]
        assert len(S) == len(s.store.sentence_table), (len(S), len(s.store.sentence_table))
        t0 = time.process_time()
        vP, vS, vC = (enc.encode_bulk(x, lanes=1) for x in (P, S, C))
        t_int8 = time.process_time() - t0
        cos = (vS * np.asarray(s.store.sentence_vectors)).sum(1)
        stats["seeds vectors" if s is seeds else "cranfield vectors"] = {
            "cos vs stored min": float(cos.min()),
            "mean": float(cos.mean()),
            "int8 cpu s": t_int8,
            "texts": len(P) + len(S) + len(C),
        }
        if s is cran.searcher:
            t0 = time.process_time()
            fp.encode_bulk(P + S + C, lanes=1)
            stats["cranfield vectors"]["fp32 cpu s"] = time.process_time() - t0
        ix = faiss.IndexFlatIP(vP.shape[1])
        ix.add(vP)
        s.store.dense = ix
        s.store.sentence_vectors = vS
        s.store.context_vectors = vC
        s.encoder = enc
    reencode(sets)
    results[name] = {**evaluate(sets, params), **{k: v for k, v in stats.items()}}
    print(name, results[name], file=sys.stderr, flush=True)
print(json.dumps(results, indent=1))
for k, v in results.items():
    print(k, v)
