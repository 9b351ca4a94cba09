"""Search results of one store, dumped to JSON, and the agreement of two dumps.

    .venv/bin/python bench/store_compare.py dump SOURCE OUT.json [--beir FOLDER]
    .venv/bin/python bench/store_compare.py compare A.json B.json
    .venv/bin/python bench/store_compare.py recall FOLDER_INDEX postgresql://... --beir FOLDER

SOURCE is an index folder or a ``postgresql://`` store. Without ``--beir`` the questions are the shared
seed questions (and the near-topic ones) in the three modes, plus a ``doc_ids`` filter; with it, every
judged query of the BEIR folder, hybrid, no-answer off, 100 passages. ``compare`` prints how many
queries have identical results (every field), the same top-5 (doc_id, start, end) and the same top-10.
``recall`` measures pgvector's HNSW (the plan PostgreSQL picks, and the index forced) against the folder
store's exact search (FAISS flat), at 10 and at the candidate depth (200).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED_EVAL = ROOT.parent / "shared" / "eval"


def _queries(beir: Path | None) -> list[dict]:
    if beir is not None:
        from kb.evaluation import load_beir

        queries, _ = load_beir(beir)
        return [{"id": qid, "q": text, "mode": "hybrid", "k": 100, "min_score": 0.0} for qid, text in queries.items()]
    out = []
    for name in ("questions.jsonl", "near_questions.jsonl"):
        for line in (SHARED_EVAL / name).open(encoding="utf-8"):
            if line.strip():
                q = json.loads(line)
                for mode in ("hybrid", "dense", "keyword"):
                    out.append({"id": f"{q['id']}/{mode}", "q": q["question"], "mode": mode, "k": 10})
                out.append({"id": f"{q['id']}/ranking", "q": q["question"], "mode": "hybrid", "k": 10,
                            "min_score": 0.0})
    out.append({"id": "filter", "q": "product leadership", "mode": "hybrid", "k": 10, "min_score": 0.0,
                "doc_ids": ["001_e28bdbd0f2a78354.txt", "003_fea07baa30f7a95e.txt"]})
    return out


def dump(source: str, out: Path, beir: Path | None) -> None:
    from service.search import load_searcher

    searcher = load_searcher(Path(source) if "://" not in source else source)
    queries = _queries(beir)
    known = {d.doc_id for d in searcher.documents}
    results, took = {}, []
    for q in queries:
        doc_ids = [d for d in q.get("doc_ids", []) if d in known] or None
        vector = searcher.encode([q["q"]])[0]
        began = time.perf_counter()
        hits = searcher.search(q["q"], k=q["k"], mode=q["mode"], min_score=q.get("min_score"), doc_ids=doc_ids,
                               query_vector=vector)
        took.append((time.perf_counter() - began) * 1000)
        results[q["id"]] = [asdict(h) for h in hits]
    out.write_text(json.dumps({"source": source, "search_ms_p50": statistics.median(took), "results": results}))
    print(f"{len(results)} queries, ranking p50 {statistics.median(took):.2f} ms (query vector given)")


def compare(a: Path, b: Path) -> None:
    ra, rb = json.loads(a.read_text())["results"], json.loads(b.read_text())["results"]
    ids = sorted(set(ra) & set(rb))

    def key(hits: list[dict], n: int) -> list[tuple]:
        return [(h["doc_id"], h["start"], h["end"]) for h in hits[:n]]

    same = [i for i in ids if ra[i] == rb[i]]
    top5 = [i for i in ids if key(ra[i], 5) == key(rb[i], 5)]
    top10 = [i for i in ids if key(ra[i], 10) == key(rb[i], 10)]
    empty = [i for i in ids if bool(ra[i]) != bool(rb[i])]
    print(f"queries {len(ids)}: identical results {len(same)}, same top-5 {len(top5)}, same top-10 {len(top10)}, "
          f"answer/no-answer differs {len(empty)}")
    for i in ids:
        if i not in top5:
            print(f"  top-5 differs: {i}: {key(ra[i], 5)} vs {key(rb[i], 5)}")


def recall(folder: str, dsn: str, beir: Path | None) -> None:
    from psycopg import sql

    from service.search import SearchParams, load_searcher
    from service.stores.postgres import connect

    exact_searcher, database = load_searcher(Path(folder)), load_searcher(dsn)
    vectors = exact_searcher.encode([q["q"] for q in _queries(beir)])
    depth = min(SearchParams().depth, exact_searcher.passage_count)
    statement = sql.SQL("SELECT passage FROM {}.passages ORDER BY vector <#> %s LIMIT %s").format(
        sql.Identifier(database.store.schema))
    with connect(dsn) as conn:
        for forced in (False, True):
            conn.execute(f"SET enable_seqscan = {'off' if forced else 'on'}")
            plan = " ".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + statement, (vectors[0], depth)))
            found = {10: 0, depth: 0}
            for v in vectors:
                exact = exact_searcher.store.dense_top(v, depth).tolist()
                approx = [r[0] for r in conn.execute(statement, (v, depth))]
                for n in found:
                    found[n] += len(set(approx[:n]) & set(exact[:n])) / n
            uses = "HNSW index" if "hnsw" in plan.lower() or "Index Scan" in plan else "sequential scan (exact)"
            print(f"{'forced index' if forced else 'planner'}: {uses}; " + ", ".join(
                f"recall@{n} {found[n] / len(vectors):.4f}" for n in found) + f" over {len(vectors)} queries")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dump")
    p.add_argument("source")
    p.add_argument("out", type=Path)
    p.add_argument("--beir", type=Path)
    p = sub.add_parser("recall")
    p.add_argument("folder")
    p.add_argument("dsn")
    p.add_argument("--beir", type=Path)
    p = sub.add_parser("compare")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.source, args.out, args.beir)
    elif args.command == "recall":
        recall(args.folder, args.dsn, args.beir)
    else:
        compare(args.a, args.b)


if __name__ == "__main__":
    main()
