"""Ranking choices by cross-validation over several sets at once, and every configuration on every set.

Sets used to choose: the seed questions (the shared ones and eval/seed_questions_2.jsonl together,
mrr@10 of the first relevant passage), Cranfield (nDCG@10, document level) and the short queries of
eval/short_queries.jsonl (bare names and terms, mrr@10). A configuration is a
BM25 title weight, pseudo-relevance feedback (passages, weight), the fusion weights (keyword,
passage cosine, best-sentence cosine) and the within-document sentence weight. The choice maximises
the worst, over the sets, of each set's figure as a share of the best any configuration reaches on
that set: a configuration must be near the best everywhere, and a win on one set cannot buy a loss
on another. The cross-validated figures come from choosing on four folds of every set and measuring
on the fifth. eval/held_out_questions.jsonl is never used to choose; it is only reported. The query-word
coverage weight (``w_coverage``) stays at its shipped value here; bench/experiments/coverage_signal.py
--tune chooses it jointly with the fusion weights.

    .venv/bin/python bench/tune.py [--folds 5] [--json bench/results/tune.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.build import build_index  # noqa: E402
from kb.evaluation import is_relevant, load_beir, load_questions, ndcg_at_k, recall_at_k  # noqa: E402
from service.search import Searcher, SearchParams, load_searcher  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
CACHE = ROOT / "bench" / ".cache"
# Pool settings (each needs its own candidate pools) and fusion settings (scored on the same pools).
POOLS = [{"title_weight": 1.0, "prf_passages": m, "prf_weight": b}
         for m, b in ((0, 0.0), (3, 0.5), (3, 1.0), (5, 0.5))] + [
        {"title_weight": t, "prf_passages": 3, "prf_weight": 0.5} for t in (0.0, 2.0)]
WITHIN = (0.0, 0.25, 0.5, 1.0)
STEP = 0.1


def seed_searcher() -> Searcher:
    build_index([ROOT / "seeds"], CACHE / "seeds-index", only_if_stale=True)
    return load_searcher(CACHE / "seeds-index")


def beir_searcher(folder: Path) -> Searcher:
    build_index([folder / "corpus.jsonl"], CACHE / f"{folder.name}-index", only_if_stale=True, metadata_file=None)
    return load_searcher(CACHE / f"{folder.name}-index")


class QuestionSet:
    """Seed questions: per-query reciprocal rank of the first relevant passage within 10."""

    def __init__(self, name: str, searcher: Searcher, paths: list[Path]) -> None:
        self.name, self.searcher = name, searcher
        self.questions = [q for path in paths for q in load_questions(path) if q["relevant"]]
        self.texts = {d.doc_id: d.text for d in searcher.documents}
        self.vectors = searcher.encode([q["question"] for q in self.questions])

    def scores(self, params: SearchParams, pools: list, rrf: bool = False) -> np.ndarray:
        out = []
        for q, pool in zip(self.questions, pools, strict=True):
            s = self.searcher
            scores = s.rrf(pool, "hybrid", params) if rrf else s.fuse(pool, "hybrid", params)
            hits = s._present(pool, scores, 10, params)
            first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], self.texts)), None)
            out.append(0.0 if first is None else 1.0 / (first + 1))
        return np.array(out)

    def pools(self, params: SearchParams) -> list:
        return [self.searcher.pool(q["question"], v, "hybrid", None, params)
                for q, v in zip(self.questions, self.vectors, strict=True)]


class BeirSet:
    """A BEIR collection: per-query nDCG@10 (and recall@100 on request), document level."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.searcher = beir_searcher(folder)
        queries, self.qrels = load_beir(folder)
        self.ids = [q for q in queries if any(g > 0 for g in self.qrels[q].values())]
        self.queries = [queries[q] for q in self.ids]
        self.vectors = self.searcher.encode(self.queries)

    def ranked_docs(self, pool, score: np.ndarray, qid: str) -> list[str]:
        docs = self.searcher.p_doc[pool.rows[np.argsort(-score, kind="stable")]]
        ids = [self.searcher.documents[d].doc_id for d in dict.fromkeys(docs.tolist())]
        return [d for d in ids if d != qid]

    def scores(self, params: SearchParams, pools: list, rrf: bool = False, recall: bool = False) -> np.ndarray:
        s = self.searcher
        out = []
        for qid, pool in zip(self.ids, pools, strict=True):
            score = s.rrf(pool, "hybrid", params) if rrf else s.fuse(pool, "hybrid", params)
            ranked = self.ranked_docs(pool, score, qid)
            out.append(recall_at_k(ranked, self.qrels[qid], 100) if recall else ndcg_at_k(ranked, self.qrels[qid], 10))
        return np.array(out)

    def pools(self, params: SearchParams) -> list:
        return [self.searcher.pool(q, v, "hybrid", None, params)
                for q, v in zip(self.queries, self.vectors, strict=True)]


def grid() -> list[tuple[float, float, float]]:
    steps = int(round(1 / STEP))
    return [(a * STEP, b * STEP, (steps - a - b) * STEP)
            for a, b in itertools.product(range(steps + 1), repeat=2) if a + b <= steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "tune.json")
    args = parser.parse_args()

    seeds = seed_searcher()
    sets = [QuestionSet("seeds", seeds, [SHARED / "questions.jsonl", ROOT / "eval" / "seed_questions_2.jsonl"]),
            BeirSet("cranfield", SHARED / "cranfield"),
            QuestionSet("short queries", seeds, [ROOT / "eval" / "short_queries.jsonl"]),
            QuestionSet("seeds (sets 3, 4)", seeds, [ROOT / "eval" / "seed_questions_3.jsonl",
                                                    ROOT / "eval" / "seed_questions_4.jsonl"])]
    held_out = QuestionSet("seeds held out", seeds, [ROOT / "eval" / "held_out_questions.jsonl"])
    shared_count = len([q for q in load_questions(SHARED / "questions.jsonl") if q["relevant"]])
    base = SearchParams()
    per_query: dict[str, list[np.ndarray]] = {}
    configs: dict[str, SearchParams] = {}
    for pool_settings in POOLS:
        params = replace(base, **pool_settings)
        pools = [s.pools(params) for s in sets]
        label = "title={title_weight} prf={prf_passages}x{prf_weight}".format(**pool_settings)
        runs = [(f"rrf {label}", params, True)] + [
            (f"fuse {label} kw={a:.1f} dense={b:.1f} sent={c:.1f} within={w}",
             replace(params, w_keyword=a, w_dense=b, w_sentence=c, within_weight=w), False)
            for a, b, c in grid() for w in WITHIN]
        for name, p, rrf in runs:
            configs[name] = p
            per_query[name] = [s.scores(p, pl, rrf=rrf) for s, pl in zip(sets, pools, strict=True)]
        print(f"{label}: {len(runs)} configurations scored", file=sys.stderr)

    def objectives(masks: list[np.ndarray]) -> dict[str, float]:
        means = {n: [v[i][m].mean() for i, m in enumerate(masks)] for n, v in per_query.items()}
        best = [max(max(x[i] for x in means.values()), 1e-9) for i in range(len(masks))]
        return {n: min(x[i] / best[i] for i in range(len(masks))) for n, x in means.items()}

    rng = np.random.default_rng(7)
    folds = [rng.permutation(len(x)) % args.folds for x in per_query[next(iter(per_query))]]
    chosen_per_fold = []
    cv = [np.zeros(len(fo)) for fo in folds]
    for f in range(args.folds):
        on_train = objectives([fo != f for fo in folds])
        best = max(per_query, key=on_train.__getitem__)
        chosen_per_fold.append(best)
        for i, fo in enumerate(folds):
            cv[i][fo == f] = per_query[best][i][fo == f]
    on_all = objectives([np.ones(len(fo), dtype=bool) for fo in folds])
    final = max(per_query, key=on_all.__getitem__)

    names = [s.name for s in sets]
    rows = sorted(per_query, key=lambda n: -on_all[n])
    final_params = configs[final]
    held = held_out.scores(final_params, held_out.pools(final_params), rrf=final.startswith("rrf"))

    def figures(n: str) -> dict[str, float]:
        seeds_rr, cran, short, later = per_query[n]
        return {"seeds (shared)": float(seeds_rr[:shared_count].mean()),
                "seeds (eval/ set 2)": float(seeds_rr[shared_count:].mean()),
                "cranfield": float(cran.mean()), "short queries": float(short.mean()),
                "seeds (sets 3, 4)": float(later.mean()),
                "worst share of best": on_all[n]}

    report = {
        "objective": "min over sets of (figure / best figure on that set)",
        "cross_validated": {"chosen_per_fold": chosen_per_fold,
                            "figures": {s: float(h.mean()) for s, h in zip(names, cv, strict=True)}},
        "chosen_on_all": final,
        "held_out_mrr@10 (chosen config)": float(held.mean()),
        "table": [{"config": n, **figures(n)} for n in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    columns = list(figures(final))
    print("| configuration | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for n in dict.fromkeys(rows[:15] + [n for n in per_query if n.startswith("rrf")]):
        print(f"| {n} | " + " | ".join(f"{v:.3f}" for v in figures(n).values()) + " |")
    print(f"\ncross-validated ({args.folds} folds): " +
          ", ".join(f"{s} {h.mean():.3f}" for s, h in zip(names, cv, strict=True)))
    print("chosen per fold:", chosen_per_fold)
    print("chosen on all:", final)
    print(f"held-out seed questions (never used to choose), mrr@10 with it: {held.mean():.3f}")


if __name__ == "__main__":
    main()
