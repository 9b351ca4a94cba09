# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Where a search's time goes on a larger index: retrieval in-process, and citing a document not cited before.

    .venv/bin/python bench/make_collection.py --docs 3000 --max-sentences 2
    .venv/bin/kb index bench/.cache/collection-3000-s13-m2.jsonl --index-dir /tmp/kb-3k
    .venv/bin/python bench/experiments/search_and_citation_cost.py /tmp/kb-3k [postgresql://...]

Prints ms per search (k=10, Cranfield queries, no citations), ms of BM25 scoring per query, and ms per
first citation of a document, with citeproc as it ships and with service/csl_speedup.py. With a database
URL (the same version published there: bench/end_to_end.py does both), the PostgreSQL store's figures too.
"""

import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from pathlib import Path

from service import citations, csl_speedup
from service.search import SearchParams, load_searcher

QUERIES = ROOT_DIR.parent / "shared" / "eval" / "cranfield" / "queries.jsonl"


def per_call_ms(fn, items) -> float:
    began = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - began) / len(items) * 1000


queries = [json.loads(line)["text"] for line in QUERIES.open(encoding="utf-8") if line.strip()][:30]
for source in sys.argv[1:]:
    searcher = load_searcher(source if "://" in source else Path(source))
    searcher.search(queries[0], k=10)
    print(
        f"{source[:40]}: search {per_call_ms(lambda q, s=searcher: s.search(q, k=10), queries):.1f} ms, of which BM25 "
        f"{per_call_ms(lambda q, s=searcher: s.keyword_scores(q, SearchParams()), queries):.2f} ms"
    )

docs = load_searcher(Path(sys.argv[1])).documents
for label, batch, speedup in (("citeproc as shipped", docs[100:140], False), ("with csl_speedup", docs[200:240], True)):
    citations.cite(docs[0], 0, 10)  # load the style
    (csl_speedup.install if speedup else csl_speedup.uninstall)()
    citations._render_item.cache_clear()
    print(
        f"{label}: first citation of a document {per_call_ms(lambda d: citations.cite(d, 0, 20), batch):.1f} ms, "
        f"again {per_call_ms(lambda d: citations.cite(d, 0, 20), batch):.3f} ms"
    )
