# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Where a search's time goes on the PostgreSQL store, call by call.

    .venv/bin/python bench/experiments/postgres_search_breakdown.py postgresql://...

The URL's live version should be a larger collection (``bench/end_to_end.py`` publishes one; so does
``kb index FILE --store URL``). Prints ms per query of each store call over 30 Cranfield queries (k=10,
citations left out), twice: with the replica's posting-list cache emptied before every query (each
query term read from the database) and with it kept (a replica that has served these queries before).
(Its earlier form, which timed BM25 summed in SQL over one row per posting, is in the git history; its
figures are in docs/BENCHMARKS.md.)
"""

import collections
import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from service.search import load_searcher

QUERIES = ROOT_DIR.parent / "shared" / "eval" / "cranfield" / "queries.jsonl"
queries = [json.loads(line)["text"] for line in QUERIES.open(encoding="utf-8") if line.strip()][:30]
searcher = load_searcher(sys.argv[1])
store = searcher.store
spent: collections.Counter = collections.Counter()
calls: collections.Counter = collections.Counter()


def timed(owner, name: str, label: str) -> None:
    plain = getattr(owner, name)

    def call(*args, **kwargs):
        began = time.perf_counter()
        try:
            return plain(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - began
            calls[label] += 1

    setattr(owner, name, call)


for name in ("dense_top", "passage_vectors", "sentences", "neighbours"):
    timed(store, name, name)
for field in ("body", "title"):
    if getattr(store, field) is not None:
        for name in ("scores", "postings", "analyse", "holding"):
            timed(getattr(store, field), name, f"{field}.{name}")
timed(searcher, "encode", "encode (query embedding)")

searcher.search(queries[0], k=10)
fields = [f for f in (store.body, store.title) if f is not None]
for cold in (True, False):
    spent.clear()
    calls.clear()
    began = time.perf_counter()
    for q in queries:
        if cold:
            for f in fields:
                f._lists.clear()
                f._list_bytes = 0
        searcher.search(q, k=10)
    print(f"search, posting-list cache {'emptied before each query' if cold else 'kept'}: "
          f"{(time.perf_counter() - began) / len(queries) * 1000:.1f} ms a query")
    for label, seconds in spent.most_common():
        print(f"  {label:26s} {seconds / len(queries) * 1000:6.1f} ms  ({calls[label] / len(queries):.1f} calls)")
