"""Query-term coverage as a fourth ranking signal: measured on every set, not kept unless it wins on all.

A candidate's coverage is the IDF-weighted share of the query's known words that occur in the passage
or in its document's title (the "no answer" model's coverage feature, computed for the whole pool).
Score = shipped fusion + w x coverage, for a few w; mrr@10 for the seed sets, nDCG@10 for Cranfield.

    .venv/bin/python bench/experiments/coverage_signal.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tune import SHARED, BeirSet, QuestionSet, seed_searcher  # noqa: E402

from kb.evaluation import is_relevant, ndcg_at_k  # noqa: E402
from service.answerable import _FUNCTION_WORDS  # noqa: E402
from service.search import SearchParams  # noqa: E402

WEIGHTS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)


def coverage(searcher, query: str, pool) -> np.ndarray:
    content = _FUNCTION_WORDS.sub(" ", query)
    body = searcher.keyword.analyse(content)
    title = searcher.title_keyword.analyse(content) if searcher.title_keyword is not None else [None] * len(body)
    pairs = list(dict.fromkeys((b, t) for b, t in zip(body, title, strict=True) if b is not None or t is not None))
    out = np.zeros(len(pool))
    total = 0.0
    for b, t in pairs:
        index, term = (searcher.keyword, b) if b is not None else (searcher.title_keyword, t)
        w = index.idf(term) / index.max_idf
        total += w
        found = np.zeros(len(pool), dtype=bool)
        if b is not None:
            found |= np.isin(pool.rows, searcher.keyword.postings(b))
        if t is not None and searcher.title_keyword is not None:
            found |= np.isin(pool.docs, searcher.title_keyword.postings(t))
        out += w * found
    return out / total if total else out


def cross_validate(per_query: dict, folds_n: int = 5) -> tuple[list[str], list[np.ndarray], str]:
    """tune.py's rule: maximise the worst, over the sets, of each set's figure as a share of the best."""
    def objectives(masks):
        means = {n: [v[i][m].mean() for i, m in enumerate(masks)] for n, v in per_query.items()}
        best = [max(max(x[i] for x in means.values()), 1e-9) for i in range(len(masks))]
        return {n: min(x[i] / best[i] for i in range(len(masks))) for n, x in means.items()}
    rng = np.random.default_rng(7)
    folds = [rng.permutation(len(x)) % folds_n for x in per_query[next(iter(per_query))]]
    chosen, cv = [], [np.zeros(len(fo)) for fo in folds]
    for f in range(folds_n):
        on_train = objectives([fo != f for fo in folds])
        best = max(per_query, key=on_train.__getitem__)
        chosen.append(best)
        for i, fo in enumerate(folds):
            cv[i][fo == f] = per_query[best][i][fo == f]
    on_all = objectives([np.ones(len(fo), dtype=bool) for fo in folds])
    return chosen, cv, max(per_query, key=on_all.__getitem__)


def sentence_coverage(searcher, query: str, pool) -> np.ndarray:
    """Per candidate: the IDF-weighted share of the query's known body words in its best sentence (by the
    ranking's sentence cosine) and that sentence's neighbours within the passage."""
    body = [t for t in searcher.keyword.analyse(_FUNCTION_WORDS.sub(" ", query)) if t is not None]
    weights = {t: searcher.keyword.idf(t) for t in body}
    total = sum(weights.values())
    out = np.zeros(len(pool))
    if not total:
        return out
    for j in range(len(pool)):
        spans = pool.spans(j)
        if not len(spans):
            continue
        best = int(np.argmax(pool.sentence_cos(j)))
        lo, hi = max(best - 1, 0), min(best + 2, len(spans))
        text = searcher.documents[int(pool.docs[j])].text[int(spans[lo][1]):int(spans[hi - 1][2])]
        present = set(searcher.keyword.analyse(text))
        out[j] = sum(w for t, w in weights.items() if t in present) / total
    return out


def question_scores(qs: QuestionSet, pools, params, w: float, w2: float = 0.0) -> np.ndarray:
    s, out = qs.searcher, []
    for i, (q, pool, cov) in enumerate(zip(qs.questions, pools, qs.cov, strict=True)):
        scores = s.fuse(pool, "hybrid", params) + w * cov
        if w2:
            scores = scores + w2 * qs.scov[i]
        hits = s._present(pool, scores, 10, params)
        first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
        out.append(0.0 if first is None else 1.0 / (first + 1))
    return np.array(out)


def beir_scores(bs: BeirSet, pools, params, w: float, w2: float = 0.0) -> np.ndarray:
    out = []
    for i, (qid, pool, cov) in enumerate(zip(bs.ids, pools, bs.cov, strict=True)):
        score = bs.searcher.fuse(pool, "hybrid", params) + w * cov
        if w2:
            score = score + w2 * bs.scov[i]
        ranked = bs.ranked_docs(pool, score, qid)
        out.append(ndcg_at_k(ranked, bs.qrels[qid], 10))
    return np.array(out)


def main() -> None:
    seeds = seed_searcher()
    ev = ROOT / "eval"
    qsets = [QuestionSet("seeds (shared + set 2)", seeds, [SHARED / "questions.jsonl", ev / "seed_questions_2.jsonl"]),
             QuestionSet("set 3", seeds, [ev / "seed_questions_3.jsonl"]),
             QuestionSet("set 4", seeds, [ev / "seed_questions_4.jsonl"]),
             QuestionSet("held out", seeds, [ev / "held_out_questions.jsonl"]),
             QuestionSet("short", seeds, [ev / "short_queries.jsonl"])]
    cran = BeirSet("cranfield", SHARED / "cranfield")
    params = SearchParams()
    qpools = []
    for qs in qsets:
        pools = qs.pools(params)
        qs.cov = [coverage(qs.searcher, q["question"], p) for q, p in zip(qs.questions, pools, strict=True)]
        qpools.append(pools)
    cpools = cran.pools(params)
    cran.cov = [coverage(cran.searcher, q, p) for q, p in zip(cran.queries, cpools, strict=True)]
    if "--sentence" in sys.argv:
        for qs, pools in zip(qsets, qpools, strict=True):
            qs.scov = [
                sentence_coverage(qs.searcher, q["question"], p)
                for q, p in zip(qs.questions, pools, strict=True)
            ]
        cran.scov = [sentence_coverage(cran.searcher, q, p) for q, p in zip(cran.queries, cpools, strict=True)]
        names = [qs.name for qs in qsets] + ["cranfield"]
        print("| w coverage | w sentence coverage | " + " | ".join(names) + " |")
        for w in (0.0, 0.05):
            for w2 in (0.0, 0.025, 0.05, 0.1, 0.2):
                figs = [question_scores(qs, p, params, w, w2).mean() for qs, p in zip(qsets, qpools, strict=True)]
                figs.append(beir_scores(cran, cpools, params, w, w2).mean())
                print(f"| {w} | {w2} | " + " | ".join(f"{f:.3f}" for f in figs) + " |", flush=True)
        return
    if "--tune" in sys.argv:
        tune(qsets, qpools, cran, cpools)
        return
    names = [qs.name for qs in qsets] + ["cranfield"]
    print("| w coverage | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for w in WEIGHTS:
        figs = [question_scores(qs, p, params, w).mean() for qs, p in zip(qsets, qpools, strict=True)]
        figs.append(beir_scores(cran, cpools, params, w).mean())
        print(f"| {w} | " + " | ".join(f"{f:.3f}" for f in figs) + " |", flush=True)


def tune(qsets, qpools, cran, cpools) -> None:
    """Fusion weights x coverage weight, chosen by 5-fold CV on the choosing sets (not the held-out one)."""
    import itertools
    from dataclasses import replace
    base = SearchParams()
    choosing = [0, 4]  # seeds (shared + set 2), short; sets 3 and 4 are joined as in tune.py
    per_query, names = {}, []
    for a, b in itertools.product(range(11), repeat=2):
        if a + b > 10:
            continue
        p = replace(base, w_keyword=a / 10, w_dense=b / 10, w_sentence=(10 - a - b) / 10)
        for w in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
            name = f"kw={a / 10:.1f} dense={b / 10:.1f} sent={(10 - a - b) / 10:.1f} cov={w}"
            figs = [question_scores(qsets[i], qpools[i], p, w) for i in choosing]
            figs.append(beir_scores(cran, cpools, p, w))
            figs.append(np.concatenate([question_scores(qsets[i], qpools[i], p, w) for i in (1, 2)]))
            held = question_scores(qsets[3], qpools[3], p, w)
            per_query[name] = figs
            names.append((name, held.mean()))
    held_of = dict(names)
    for label, keep in (("with coverage", lambda n: True), ("without (cov=0 only)", lambda n: n.endswith("cov=0.0"))):
        chosen, cv, final = cross_validate({n: v for n, v in per_query.items() if keep(n)})
        print(f"{label}: CV seeds {cv[0].mean():.3f}, short {cv[1].mean():.3f}, cranfield {cv[2].mean():.3f}, "
              f"sets 3+4 {cv[3].mean():.3f}; chosen per fold {chosen}; on all: {final} "
              f"(held out {held_of[final]:.3f}; all sets " +
              ", ".join(f"{x.mean():.3f}" for x in per_query[final]) + ")", flush=True)


if __name__ == "__main__":
    main()
