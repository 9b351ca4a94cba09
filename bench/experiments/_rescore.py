"""One harness for the ranking experiments that rescore the shipped candidate pools: every set's pools are
taken once, each variant says how to score a pool, and the sweep prints mrr@10 (hit@1 in brackets) of every
seed question set with the no-answer decision off, Cranfield nDCG@10, then 5-fold cross-validation by
tune.py's rule over the choosing sets (seeds, short, sets 3 and 4, Cranfield; the held-out sets are only
reported)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from coverage_signal import cross_validate
from tune import ROOT, SHARED, BeirSet, QuestionSet, seed_searcher

from kb.evaluation import is_relevant, ndcg_at_k
from service.search import Pool, Searcher, SearchParams

#: How a variant scores one pool: (searcher, query, pool, shipped params) -> (scores, params for presenting).
Rescore = Callable[[Searcher, str, Pool, SearchParams], tuple[np.ndarray, SearchParams]]

EVAL = ROOT / "eval"
SETS = {"seeds (shared + set 2)": [SHARED / "questions.jsonl", EVAL / "seed_questions_2.jsonl"],
        "short": [EVAL / "short_queries.jsonl"],
        "sets 3, 4": [EVAL / "seed_questions_3.jsonl", EVAL / "seed_questions_4.jsonl"],
        "held out": [EVAL / "held_out_questions.jsonl"],
        "held out 2": [EVAL / "held_out_questions_2.jsonl"]}
CHOOSING = 3  # the first three question sets, with Cranfield, choose; the rest are reported


class Sets:
    """The question sets over the seeds and Cranfield, with their shipped pools."""

    def __init__(self, params: SearchParams = SearchParams()) -> None:
        self.params = params
        seeds = seed_searcher()
        self.questions = [QuestionSet(name, seeds, paths) for name, paths in SETS.items()]
        self.cranfield = BeirSet("cranfield", SHARED / "cranfield")
        self.question_pools = [qs.pools(params) for qs in self.questions]
        self.cranfield_pools = self.cranfield.pools(params)

    def names(self) -> list[str]:
        return [qs.name for qs in self.questions] + ["cranfield"]

    def score(self, rescore: Rescore) -> list[np.ndarray]:
        """Per query: reciprocal rank of the first relevant passage in each question set, then nDCG@10."""
        out = []
        for qs, pools in zip(self.questions, self.question_pools, strict=True):
            s, rr = qs.searcher, []
            for q, pool in zip(qs.questions, pools, strict=True):
                scores, params = rescore(s, q["question"], pool, self.params)
                hits = s._present(pool, scores, 10, params)
                first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
                rr.append(0.0 if first is None else 1.0 / (first + 1))
            out.append(np.array(rr))
        bs, ndcg = self.cranfield, []
        for qid, query, pool in zip(bs.ids, bs.queries, self.cranfield_pools, strict=True):
            scores, _ = rescore(bs.searcher, query, pool, self.params)
            ndcg.append(ndcg_at_k(bs.ranked_docs(pool, scores, qid), bs.qrels[qid], 10))
        out.append(np.array(ndcg))
        return out

    def sweep(self, variants: dict[str, Rescore], label: str = "variant") -> None:
        """Print every variant's row, then the cross-validated choice among them."""
        print(f"| {label} | " + " | ".join(self.names()) + " |")
        print("| --- |" + " --- |" * len(self.names()))
        per_query = {}
        for name, rescore in variants.items():
            figures = self.score(rescore)
            per_query[name] = [*figures[:CHOOSING], figures[-1]]
            cells = [f"{x.mean():.3f} ({(x == 1).mean():.3f})" for x in figures[:-1]] + [f"{figures[-1].mean():.4f}"]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        chosen, cv, final = cross_validate(per_query)
        print(f"\nCV ({', '.join(self.names()[:CHOOSING])}, cranfield): {', '.join(f'{x.mean():.3f}' for x in cv)}; "
              f"chosen per fold {chosen}; on all {final}")


def shipped(searcher: Searcher, query: str, pool: Pool, params: SearchParams) -> tuple[np.ndarray, SearchParams]:
    return searcher.fuse(pool, "hybrid", params), params
