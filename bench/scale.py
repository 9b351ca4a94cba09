"""FAISS at growing corpus sizes: exact (IndexFlatIP) vs HNSW vs IVF on synthetic 384-d embeddings.

    .venv/bin/python bench/scale.py                                   # 10k, 100k, 1M; HNSW up to 100k (~5 min)
    .venv/bin/python bench/scale.py --sizes 1000000 --hnsw-max-size 0  # HNSW at 1M too (~30 min on 2 cores)
    .venv/bin/python bench/scale.py --sizes 10000 50000 --no-ivf --json
    .venv/bin/python bench/scale.py --end-to-end 100000   # the whole service on both stores (bench/end_to_end.py)

Data: normalised float32 vectors from a clustered Gaussian mixture shaped like sentence embeddings
(a shared direction, one topic cluster per ~200 vectors with Zipf-like sizes, each cluster spread over
its own low-rank subspace, plus isotropic noise). A realism check compares their cosine statistics
with the real sentence vectors of an index when one is found. Queries are held-out draws from the
same mixture moved away by --query-noise, so that a query's nearest vector is about as close as a real
question's nearest passage (harder for approximate search than queries drawn like passages).

Per size: build seconds, in-memory size (serialised bytes), single-query latency p50 (one query per
search call, as the service does; FAISS default threads) and recall@10 against exact search over
--queries queries, for HNSW (M=--hnsw-m, efConstruction=--ef-construction; defaults are the values
kb index uses, from indexer/dense.py) across efSearch values
and IVF (nlist ~ sqrt(N)) across nprobe values. The smallest efSearch / nprobe that reaches
--target-recall is marked. The output ends with a rule: exact search below N passages, HNSW above.

Memory: 1M x 384 float32 is 1.5 GB; a 1M run peaks near 5 GB resident (data, exact index, HNSW copy).
HNSW construction is the slow part on 2 cores (~0.8 ms per vector at 100k with efConstruction 200,
growing slowly with N),
so by default HNSW is built only up to --hnsw-max-size (100k); pass --hnsw-max-size 0 to build it at
every size.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from _common import ROOT, machine_info, machine_line, say, table, wait_until_quiet

from indexer import dense, layout

EF_SEARCH = [16, 24, 32, 48, 64, 96, 128, 192, 256]

# The values `kb index` uses, so that the benchmark checks the shipped configuration by default.
SHIPPED = {name: getattr(dense, name) for name in ("EXACT_MAX", "HNSW_M", "HNSW_EF_CONSTRUCTION", "HNSW_EF_SEARCH")}
NPROBE = [1, 2, 4, 8, 16, 32, 64, 128]


# ----------------------------------------------------------------------------------------------- data


def synthetic(n: int, d: int, seed: int, per_cluster: int = 200, rank: int = 24) -> np.ndarray:
    """Clustered, normalised float32 vectors (see the module docstring), generated cluster by cluster."""
    rng = np.random.default_rng(seed)
    k = max(8, n // per_cluster)
    shared = rng.standard_normal(d).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centers = rng.standard_normal((k, d), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    sizes = 1.0 / np.arange(1, k + 1) ** 0.5
    labels = rng.choice(k, size=n, p=sizes / sizes.sum())
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= 0.45 / math.sqrt(d)  # isotropic noise
    x += 0.45 * shared  # what all texts of one language/model have in common
    x += 0.8 * centers[labels]  # topic
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    for c in range(k):
        rows = order[bounds[c]:bounds[c + 1]]
        if len(rows):
            basis = np.linalg.qr(rng.standard_normal((d, rank)).astype(np.float32))[0]
            x[rows] += (rng.standard_normal((len(rows), rank), dtype=np.float32) * (0.75 / math.sqrt(rank))) @ basis.T
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def cosine_stats(base: np.ndarray, queries: np.ndarray) -> dict:
    """Mean cosine of random pairs, and mean cosine of each query's 1st and 10th nearest neighbour."""
    rng = np.random.default_rng(1)
    a = base[rng.integers(0, len(base), 20000)]
    b = base[rng.integers(0, len(base), 20000)]
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    scores, _ = flat.search(queries, min(10, len(base)))
    return {"mean_pair_cos": float(np.mean(np.sum(a * b, axis=1))), "nn1_cos": float(scores[:, 0].mean()),
            "nn10_cos": float(scores[:, -1].mean())}


def real_vectors(index_dir: Path | None) -> dict | None:
    """Passage vectors of a real index and the on-topic benchmark questions encoded by its query encoder."""
    candidates = [index_dir] if index_dir else [Path("/tmp/kb-bench-index"), ROOT / "index"]
    for folder in candidates:
        pointer = folder / layout.CURRENT
        if not pointer.is_file():
            continue
        version = folder / pointer.read_text().strip()
        try:
            from _questions import QUESTIONS

            from service.encoder import QueryEncoder

            dense = faiss.read_index(str(version / layout.DENSE))
            passages = dense.reconstruct_n(0, dense.ntotal)
            queries = QueryEncoder(version / layout.ENCODER).encode(QUESTIONS[:42])  # the on-topic ones
        except Exception as exc:  # the realism check is optional
            say(f"realism check skipped ({type(exc).__name__}: {exc})")
            return None
        return {"path": str(version), "n": len(passages), **cosine_stats(passages, queries)}
    return None


# ------------------------------------------------------------------------------------------- measures


def size_mb(index: faiss.Index) -> float:
    return faiss.serialize_index(index).nbytes / 1e6


def single_query_ms(index: faiss.Index, queries: np.ndarray, k: int, max_seconds: float = 10.0) -> float:
    """Median latency of one-query search calls (stops early after max_seconds, at least 5 queries)."""
    index.search(queries[:1], k)  # warm-up
    times = []
    began = time.perf_counter()
    for i in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[i:i + 1], k)
        times.append((time.perf_counter() - t) * 1000)
        if i >= 4 and time.perf_counter() - began > max_seconds:
            break
    return float(np.median(times))


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth, strict=True)]))


def sweep(index: faiss.Index, set_param, values: list[int], queries: np.ndarray, truth: np.ndarray,
          latency_queries: int, k: int) -> list[dict]:
    rows = []
    for v in values:
        set_param(v)
        _, found = index.search(queries, k)  # batched: same results as one by one, faster to collect
        rows.append({"param": v, "recall": recall_at(found, truth),
                     "p50_ms": single_query_ms(index, queries[:latency_queries], k)})
    return rows


def pick(rows: list[dict], target: float) -> dict | None:
    return next((r for r in rows if r["recall"] >= target), None)


def run_size(n: int, args: argparse.Namespace) -> dict:
    d, k = args.dim, 10
    say(f"N={n:,}: generating {n:,} + {args.queries} vectors")
    t = time.perf_counter()
    data = synthetic(n + args.queries, d, seed=args.seed + n)
    base, queries = data[:n], data[n:].copy()
    del data
    if args.query_noise:  # questions sit farther from their passages than passages from each other
        rng = np.random.default_rng(args.seed + 1)
        queries += rng.standard_normal(queries.shape, dtype=np.float32) * (args.query_noise / math.sqrt(args.dim))
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    out: dict = {"n": n, "generate_s": time.perf_counter() - t}

    say(f"N={n:,}: exact (IndexFlatIP)")
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(base)
    build = time.perf_counter() - t
    t = time.perf_counter()
    _, truth = flat.search(queries, k)
    out["truth_batch_s"] = time.perf_counter() - t
    out["data"] = cosine_stats(base[: min(n, 200_000)], queries)
    out["flat"] = {"build_s": build, "size_mb": n * d * 4 / 1e6, "recall": 1.0,
                   "p50_ms": single_query_ms(flat, queries[: args.latency_queries], k)}
    say(f"  flat p50 {out['flat']['p50_ms']:.2f} ms")
    del flat

    if args.hnsw_max_size and n > args.hnsw_max_size:
        out["hnsw"] = {"skipped": f"N > --hnsw-max-size {args.hnsw_max_size}"}
    else:
        say(f"N={n:,}: HNSW M={args.hnsw_m} efConstruction={args.ef_construction}")
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(d, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = args.ef_construction
        hnsw.add(base)
        build = time.perf_counter() - t
        say(f"  built in {build:.1f}s")

        def set_ef(v: int, index=hnsw) -> None:
            index.hnsw.efSearch = v

        rows = sweep(hnsw, set_ef, EF_SEARCH, queries, truth, args.latency_queries, k)
        out["hnsw"] = {"build_s": build, "size_mb": size_mb(hnsw), "sweep": rows,
                       "pick": pick(rows, args.target_recall)}
        del hnsw

    if not args.no_ivf:
        nlist = max(16, int(round(math.sqrt(n))))
        say(f"N={n:,}: IVF nlist={nlist}")
        t = time.perf_counter()
        quantizer = faiss.IndexFlatIP(d)
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = base[np.random.default_rng(0).choice(n, size=min(n, 50 * nlist), replace=False)]
        ivf.train(sample)
        ivf.add(base)
        build = time.perf_counter() - t

        def set_nprobe(v: int, index=ivf) -> None:
            index.nprobe = v

        rows = sweep(ivf, set_nprobe, [p for p in NPROBE if p <= nlist], queries, truth, args.latency_queries, k)
        out["ivf"] = {"nlist": nlist, "build_s": build, "size_mb": size_mb(ivf), "sweep": rows,
                      "pick": pick(rows, args.target_recall)}
        del ivf, quantizer
    return out


# -------------------------------------------------------------------------------------- recommendation


def recommend(results: list[dict], args: argparse.Namespace) -> dict:
    """Exact while a flat search stays within --budget-ms (p50, fitted linearly in N); HNSW above, with the
    smallest efSearch that reached the target recall at every size where HNSW was built."""
    ns = np.array([r["n"] for r in results], dtype=np.float64)
    ms = np.array([r["flat"]["p50_ms"] for r in results])
    if len(ns) >= 2:
        slope, intercept = np.polyfit(ns, ms, 1)
    else:
        slope, intercept = ms[0] / ns[0], 0.0
    raw = (args.budget_ms - intercept) / slope if slope > 0 else float("inf")
    nice = [1, 2, 3, 5]
    exp = 10 ** math.floor(math.log10(max(raw, 1)))
    threshold = max(m * exp for m in nice if m * exp <= max(raw, 1))
    built = [r for r in results if "sweep" in r.get("hnsw", {})]
    ef_needed = [r["hnsw"]["pick"]["param"] if r["hnsw"]["pick"] else None for r in built]
    ef = None if (not ef_needed or None in ef_needed) else max(ef_needed)
    largest = built[-1] if built else None
    at_ef = next((row for row in largest["hnsw"]["sweep"] if row["param"] == ef), None) if largest and ef else None
    return {"budget_ms": args.budget_ms, "flat_ms_per_million": slope * 1e6, "flat_intercept_ms": intercept,
            "exact_below": int(threshold), "hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction,
            "ef_search": ef, "largest_hnsw_n": largest["n"] if largest else None,
            "recall_at_largest": at_ef["recall"] if at_ef else None,
            "p50_ms_at_largest": at_ef["p50_ms"] if at_ef else None}


# ----------------------------------------------------------------------------------------------- main


def main() -> int:
    if "--end-to-end" in sys.argv:  # the whole service at N passages on both stores: bench/end_to_end.py
        import end_to_end

        rest = sys.argv[1:]
        at = rest.index("--end-to-end")
        return end_to_end.main(rest[:at] + ["--docs", rest[at + 1]] + rest[at + 2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["10000,100000,1000000"],
                    help="corpus sizes, separated by spaces or commas (default 10000 100000 1000000)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200, help="queries for recall@10 (default 200)")
    ap.add_argument("--latency-queries", type=int, default=200, help="one-query calls timed per setting")
    ap.add_argument("--hnsw-m", type=int, default=SHIPPED["HNSW_M"],
                    help=f"HNSW M (default {SHIPPED['HNSW_M']}, as kb index)")
    ap.add_argument("--ef-construction", type=int, default=SHIPPED["HNSW_EF_CONSTRUCTION"],
                    help=f"HNSW efConstruction (default {SHIPPED['HNSW_EF_CONSTRUCTION']}, as kb index)")
    ap.add_argument("--hnsw-max-size", type=int, default=100_000,
                    help="build HNSW only up to this N (0: always; default 100000 keeps the run near 5 min)")
    ap.add_argument("--no-ivf", action="store_true", help="skip IndexIVFFlat")
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--budget-ms", type=float, default=5.0,
                    help="exact search is recommended while its single-query p50 stays within this (default 5 ms)")
    ap.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--query-noise", type=float, default=0.66,
                    help="isotropic noise added to the held-out queries (default 0.66: their nearest passage "
                         "is about as close as a real question's; 0 for queries drawn like passages)")
    ap.add_argument("--real-index", type=Path, help="index folder whose sentence vectors anchor the realism check")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="wait up to this long for other processes to leave the CPUs idle (default 60)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args()
    sizes = [int(float(s)) for arg in args.sizes for s in arg.split(",") if s.strip()]
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    began = time.perf_counter()
    result: dict = {"machine": machine_info(), "command": " ".join(sys.argv), "faiss": faiss.__version__,
                    "shipped": SHIPPED,
                    "faiss_threads": faiss.omp_get_max_threads(), "busy_before": wait_until_quiet(args.quiet_wait,
                                                                                                   log=say)}
    real = real_vectors(args.real_index)
    if real is not None:
        result["real"] = real
    result["sizes"] = [run_size(n, args) for n in sizes]
    result["recommendation"] = recommend(result["sizes"], args)
    result["total_s"] = time.perf_counter() - began
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(report_text(result, args))
    return 0


def report_text(r: dict, args: argparse.Namespace) -> str:
    out = [machine_line(r["machine"]),
           f"FAISS {r['faiss']}, {r['faiss_threads']} threads; machine busy before the run: {r['busy_before']:.0%}; "
           f"total {r['total_s']:.0f} s, peak resident {r['peak_rss_mb']:,.0f} MB", "",
           "## Data realism check (cosine similarities)", ""]
    rows = []
    if "real" in r:
        x = r["real"]
        rows.append([f"real: seed index passages (N={x['n']}, one narrow topic), 42 on-topic questions",
                     x["mean_pair_cos"], x["nn1_cos"], x["nn10_cos"]])
    for s in r["sizes"]:
        rows.append([f"synthetic, N={s['n']:,}", s["data"]["mean_pair_cos"], s["data"]["nn1_cos"],
                     s["data"]["nn10_cos"]])
    out.append(table(["vectors", "mean cos of random pairs", "query's 1st neighbour cos", "10th neighbour cos"],
                     rows))

    out += ["", "## Indexes", ""]
    rows = []
    for s in r["sizes"]:
        n = f"{s['n']:,}"
        f = s["flat"]
        rows.append([n, "exact IndexFlatIP", "", f["build_s"], f["size_mb"], f["p50_ms"], 1.0])
        h = s["hnsw"]
        if "skipped" in h:
            rows.append([n, f"HNSW M={args.hnsw_m}", "skipped: " + h["skipped"], "", "", "", ""])
        else:
            p = h["pick"] or h["sweep"][-1]
            rows.append([n, f"HNSW M={args.hnsw_m} efC={args.ef_construction}", f"efSearch={p['param']}"
                         + ("" if h["pick"] else " (target not reached)"), h["build_s"], h["size_mb"], p["p50_ms"],
                         p["recall"]])
        if "ivf" in s:
            v = s["ivf"]
            p = v["pick"] or v["sweep"][-1]
            rows.append([n, f"IVFFlat nlist={v['nlist']}", f"nprobe={p['param']}"
                         + ("" if v["pick"] else " (target not reached)"), v["build_s"], v["size_mb"], p["p50_ms"],
                         p["recall"]])
    out.append(table(["N", "index", f"setting (smallest with recall@10 ≥ {args.target_recall})", "build s",
                      "size MB", "1-query p50 ms", "recall@10"], rows))

    for s in r["sizes"]:
        if "sweep" in s["hnsw"]:
            out += ["", f"HNSW efSearch sweep, N={s['n']:,}:", "",
                    table(["efSearch", "recall@10", "1-query p50 ms"],
                          [[row["param"], row["recall"], row["p50_ms"]] for row in s["hnsw"]["sweep"]])]
        if "ivf" in s:
            out += ["", f"IVF nprobe sweep, N={s['n']:,} (nlist={s['ivf']['nlist']}):", "",
                    table(["nprobe", "recall@10", "1-query p50 ms"],
                          [[row["param"], row["recall"], row["p50_ms"]] for row in s["ivf"]["sweep"]])]

    rec = r["recommendation"]
    out += ["", "## Recommendation", "",
            f"Exact search costs about {rec['flat_ms_per_million']:.0f} ms per million vectors per query here "
            f"(linear fit of the 1-query p50). With a budget of {rec['budget_ms']:g} ms for the dense search:"]
    if rec["ef_search"]:
        out.append(f"  exact IndexFlatIP below {rec['exact_below']:,} passages; above, IndexHNSWFlat(inner product, "
                   f"M={rec['hnsw_m']}, efConstruction={rec['ef_construction']}) with efSearch={rec['ef_search']} "
                   f"(recall@10 {rec['recall_at_largest']:.3f}, p50 {rec['p50_ms_at_largest']:.2f} ms at "
                   f"N={rec['largest_hnsw_n']:,}, the largest size HNSW was built at; efSearch needs re-checking "
                   "with --sizes/--hnsw-max-size beyond that).")
    else:
        out.append(f"  exact IndexFlatIP below {rec['exact_below']:,} passages; no efSearch in "
                   f"{EF_SEARCH} reached recall@10 {args.target_recall} at every size: keep exact search or raise "
                   "efConstruction.")
    sh = r["shipped"]
    out.append(f"  kb index today (indexer/dense.py): exact up to {sh['EXACT_MAX']:,} vectors, then HNSW M="
               f"{sh['HNSW_M']}, efConstruction={sh['HNSW_EF_CONSTRUCTION']}, efSearch={sh['HNSW_EF_SEARCH']}.")
    for s in r["sizes"]:
        row = next((x for x in s["hnsw"].get("sweep", []) if x["param"] == sh["HNSW_EF_SEARCH"]), None)
        if row and s["hnsw"].get("build_s") is not None and args.ef_construction == sh["HNSW_EF_CONSTRUCTION"]:
            out.append(f"  shipped efSearch={sh['HNSW_EF_SEARCH']} at N={s['n']:,}: recall@10 {row['recall']:.3f}, "
                       f"1-query p50 {row['p50_ms']:.2f} ms")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
