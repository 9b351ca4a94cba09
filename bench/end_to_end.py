"""The whole service at scale, on both stores: build, publish, memory, latency and dense recall.

    .venv/bin/python bench/scale.py --end-to-end 100000                # the same as:
    .venv/bin/python bench/end_to_end.py --docs 100000 [--precision int8] [--save FILE.json]

One run, on a collection made by bench/make_collection.py from real text (Cranfield sentences spliced in
two; ``--max-sentences 2`` by default, so a record is one passage of one or two sentences: passages of
real-looking text, as many as there are records):

1. ``kb index`` of the collection into a fresh folder, timed as a user would run it (wall, CPU, peak
   RSS of the build and its children; index size on disk by file);
2. recall@10 of the dense index the build chose (HNSW above 20,000 passages) against exact search over
   the same vectors, for the 225 Cranfield queries embedded by the version's own encoder;
3. ``kb serve`` over the folder: resident memory once ready, then closed-loop load at 1 and 32 clients
   (queries: the Cranfield ones, ``k=10``), p50/p99 latency and throughput;
4. a PostgreSQL 18 + pgvector node (tests/pgnode.py) started on loopback, the same version published
   into it (``publish_folder``: the COPY and the pgvector HNSW build, timed), the database's size on disk,
   pgvector's recall@10 against the same exact search, then ``kb serve`` with ``KB_STORE`` set and the
   same load; the node's resident memory is reported beside the service's.

Everything runs on 127.0.0.1 and is removed at the end, except the collection (bench/.cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, machine_info, machine_line, proc_status, say, table, wait_until_quiet

sys.path.insert(0, str(ROOT))
CRANFIELD = ROOT.parent / "shared" / "eval" / "cranfield"


def cranfield_queries() -> list[str]:
    with (CRANFIELD / "queries.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def folder_bytes(path: Path) -> dict[str, int]:
    return {p.name: sum(f.stat().st_size for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
            for p in sorted(path.iterdir())}


def dense_recall(version: Path, vectors: np.ndarray) -> dict:
    import faiss

    index = faiss.read_index(str(version / "dense.faiss"))
    exact = faiss.IndexFlatIP(index.d)
    exact.add(index.reconstruct_n(0, index.ntotal))
    _, truth = exact.search(vectors, 10)
    _, found = index.search(vectors, 10)
    kind = type(faiss.downcast_index(index)).__name__
    shared = [len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]
    return {"index": kind, "recall@10": float(np.mean(shared)), "truth": truth}


def pg_recall(dsn: str, schema: str, vectors: np.ndarray, truth: np.ndarray) -> float:
    from psycopg import sql

    from service.stores.postgres import connect

    statement = sql.SQL("SELECT passage FROM {}.passages ORDER BY vector <#> %s LIMIT 10").format(
        sql.Identifier(schema))
    hits = []
    with connect(dsn) as conn:
        for v, want in zip(vectors, truth, strict=True):
            got = [r[0] for r in conn.execute(statement, (v,))]
            hits.append(len(set(got) & set(want.tolist())) / 10)
    return float(np.mean(hits))


def postgres_rss_mb(base: Path) -> float:
    """Resident memory of every process of the node (postmaster and backends)."""
    pid_file = base / "data" / "postmaster.pid"
    root = int(pid_file.read_text().split()[0])
    out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=", "-e"], capture_output=True, text=True).stdout.split("\n")
    rows = [tuple(map(int, line.split())) for line in out if line.strip()]
    return sum(rss for pid, ppid, rss in rows if pid == root or ppid == root) / 1024


def serve_and_load(index_dir: Path, env: dict[str, str], log: Path, paths: list[str], seconds: float,
                   extra_rss=None) -> dict:
    from load import Server, run_level

    server = Server(index_dir, env, log)
    ready_s = server.start()
    server.start_sampling()
    out = {"ready_s": ready_s, "rss_ready_mb": proc_status(server.proc.pid)["VmRSS"]}
    try:
        for clients in (1, 32):
            level = run_level(server, clients, warmup=3.0, seconds=seconds, paths=paths, max_requests=100_000,
                              timeout=30.0)
            out[f"clients_{clients}"] = {k: level[k] for k in ("requests", "errors", "qps", "p50_ms", "p99_ms",
                                                                "server_peak_rss_mb", "server_cpu_cores")}
            if extra_rss is not None:
                out[f"clients_{clients}"]["database_rss_mb"] = extra_rss()
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="records, one passage each (default 100000)")
    ap.add_argument("--max-sentences", type=int, default=2)
    ap.add_argument("--no-titles", action="store_true", help="records without a title (bench/make_collection.py)")
    ap.add_argument("--precision", choices=("float32", "int8"), default="float32")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per load level (default 15)")
    ap.add_argument("--no-postgres", action="store_true", help="the folder store only")
    ap.add_argument("--index-dir", type=Path, help="serve this index folder, already built, instead of building "
                    "one (the build's figures are then left out; --docs and --max-sentences only label the run)")
    ap.add_argument("--no-folder", action="store_true", help="no load on the folder store (the PostgreSQL one only)")
    ap.add_argument("--save", type=Path, help="also write the JSON result to this file")
    args = ap.parse_args(argv)
    import urllib.parse

    from index_throughput import one_build

    from indexer import store
    from service.encoder import QueryEncoder

    collection = args.index_dir or Path(subprocess.run(
        [sys.executable, str(Path(__file__).with_name("make_collection.py")), "--docs", str(args.docs),
         "--max-sentences", str(args.max_sentences), *(["--no-titles"] if args.no_titles else [])],
        check=True, capture_output=True, text=True).stdout.strip())
    result = {"machine": machine_info(), "command": " ".join(sys.argv), "collection": str(collection),
              "precision": args.precision}
    result["busy_before"] = wait_until_quiet(60.0, log=say)
    work = Path(tempfile.mkdtemp(prefix="kb-e2e-"))
    work.chmod(0o755)
    paths = [f"/search?{urllib.parse.urlencode({'q': q, 'k': 10})}" for q in cranfield_queries()]
    try:
        if args.index_dir:
            index_dir = args.index_dir
            version = store.current_version(index_dir)
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
            result["precision"] = manifest.get("model", {}).get("precision", "float32")
            result["build"] = {"prebuilt": str(version), **manifest["counts"],
                               "dense_index": manifest.get("dense_index"),
                               "index_bytes": sum(folder_bytes(version).values())}
        else:
            index_dir = work / "index"
            say(f"building {collection.name} into {index_dir}")
            build = one_build([collection], index_dir, ["--precision", args.precision])
            version = store.current_version(index_dir)
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
            result["build"] = {k: build[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb", "passages", "sentences",
                                                      "texts", "distinct_texts_embedded", "embedded_texts_per_s")}
            result["build"]["index_bytes_by_file"] = folder_bytes(version)
            result["build"]["index_bytes"] = sum(result["build"]["index_bytes_by_file"].values())
            result["build"]["dense_index"] = manifest.get("dense_index")
        say(f"{result['build']['passages']} passages; dense recall against exact search")
        vectors = QueryEncoder(version / "encoder").encode(cranfield_queries())
        recall = dense_recall(version, vectors)
        truth = recall.pop("truth")
        result["folder"] = {"dense": recall}
        say(f"folder store: {recall}; serving")
        if not args.no_folder:
            result["folder"] |= serve_and_load(index_dir, {}, work / "serve-folder.log", paths, args.seconds)
        if not args.no_postgres:
            from service.stores.postgres import schema_for
            from service.stores.postgres_publish import publish_folder
            from tests import pgnode

            base = work / "pg"
            say("starting a PostgreSQL node")
            dsn = pgnode.start(base)
            try:
                began = time.perf_counter()
                schema = schema_for(publish_folder(version, dsn, progress=say))
                publish_s = time.perf_counter() - began
                import psycopg

                with psycopg.connect(dsn) as conn:
                    db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                pg = {"publish_s": publish_s, "database_bytes": db_bytes,
                      "dense": {"index": "pgvector hnsw", "recall@10": pg_recall(dsn, schema, vectors, truth)},
                      "database_rss_idle_mb": postgres_rss_mb(base)}
                say(f"published in {publish_s:.0f} s, {db_bytes / 1e6:.0f} MB; recall {pg['dense']['recall@10']:.3f}")
                pg |= serve_and_load(index_dir, {"KB_STORE": dsn}, work / "serve-pg.log", paths, args.seconds,
                                     extra_rss=lambda: postgres_rss_mb(base))
                result["postgres"] = pg
            finally:
                pgnode.stop(base)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.save:
        args.save.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(report(result))
    return 0


def report(r: dict) -> str:
    b = r["build"]
    lines = [machine_line(r["machine"]), f"collection: {r['collection']} ({r['precision']} encoder)", ""]
    if "prebuilt" in b:
        lines += [f"served the index already built at {b['prebuilt']}: {b['passages']} passages, "
                  f"{b['sentences']} sentences, {b['index_bytes'] / 1e6:.0f} MB on disk ({b['dense_index']})", ""]
    else:
        lines += [f"build: {b['seconds']:.0f} s wall, {b['cpu_seconds']:.0f} CPU s, "
                  f"peak RSS {b['peak_rss_mb']:.0f} MB; {b['passages']} passages, {b['sentences']} sentences, "
                  f"{b['distinct_texts_embedded']} texts through "
                  f"the model; index {b['index_bytes'] / 1e6:.0f} MB on disk ({b['dense_index']})", ""]
    rows = []
    for name in ("folder", "postgres"):
        s = r.get(name)
        if not s or "clients_1" not in s:
            continue
        for clients in (1, 32):
            c = s[f"clients_{clients}"]
            rows.append([name, clients, c["qps"], c["p50_ms"], c["p99_ms"], c["errors"], s["rss_ready_mb"],
                         c["server_peak_rss_mb"], c.get("database_rss_mb", float("nan")), s["dense"]["recall@10"]])
    lines.append(table(["store", "clients", "queries/s", "p50 ms", "p99 ms", "errors", "service RSS ready MB",
                        "service peak RSS MB", "database RSS MB", "dense recall@10"], rows))
    if "postgres" in r:
        p = r["postgres"]
        lines.append(f"\npublish into PostgreSQL: {p['publish_s']:.0f} s; database {p['database_bytes'] / 1e6:.0f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
