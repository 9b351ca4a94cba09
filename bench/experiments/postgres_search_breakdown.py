# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Where a search's time goes on the PostgreSQL store, call by call, and whether BM25's cost is the
database's work or the rows it sends back.

    .venv/bin/python bench/experiments/postgres_search_breakdown.py postgresql://...

The URL's live version should be a larger collection (bench/end_to_end.py publishes one; so does
``kb index FILE --store URL``). Prints ms per query of each store call over 30 Cranfield queries (k=10,
citations left out), then the body field's BM25 three ways: every scored row sent back (what the store
does), only the best 200 sent back (``ORDER BY score DESC LIMIT 200`` in the database), and only the count;
each with the postings' BM25 weights computed per query and as stored at publish time.
"""

import collections
import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from psycopg import sql

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
        for name in ("scores", "present", "analyse"):
            timed(getattr(store, field), name, f"{field}.{name}")
timed(searcher, "encode", "encode (query embedding)")

searcher.search(queries[0], k=10)
has_weights = store.stored_weights
for stored in (False, True):  # the postings' BM25 weights computed per query (versions before), or stored
    if stored and not has_weights:
        continue
    store.stored_weights = stored
    spent.clear()
    calls.clear()
    began = time.perf_counter()
    for q in queries:
        searcher.search(q, k=10)
    print(f"search, BM25 weights {'stored' if stored else 'computed per query'}: "
          f"{(time.perf_counter() - began) / len(queries) * 1000:.1f} ms a query")
    for label, seconds in spent.most_common():
        print(f"  {label:26s} {seconds / len(queries) * 1000:6.1f} ms  ({calls[label] / len(queries):.1f} calls)")

body = store.body
for kind, bm25 in (("weights computed per query", store._sql.bm25_computed),
                   ("weights stored at publish", store._sql.bm25)):
    if kind.startswith("weights stored") and not has_weights:
        continue
    statements = {
        "every scored row sent back": bm25,
        "best 200 sent back": sql.SQL("SELECT * FROM ({}) x ORDER BY 2 DESC LIMIT 200").format(bm25),
        "only the count sent back": sql.SQL("SELECT count(*), 0 FROM ({}) x").format(bm25),
    }
    for label, statement in statements.items():
        began = time.perf_counter()
        for q in queries:
            store.query(statement, {"field": "body", "terms": body._stems(q)})
        print(f"body BM25, {kind}, {label}: {(time.perf_counter() - began) / len(queries) * 1000:.1f} ms a query")
