# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Question frames: does embedding the question without its frame ("How would you define ...?") help?

    .venv/bin/python bench/experiments/query_frames.py

A passage states; a question asks. The frame of a question (its question words, auxiliaries and verbs
of asking: "how would you define", "what happens to", "why does") is not in the passage that answers it,
and a small bi-encoder may weigh it. Variants of the query vector, the ranking otherwise shipped:

- shipped: the question as asked;
- mean: the normalised mean of the question's vector and the vector of its content (frame words removed);
- content: the content alone;
- content, keyword too: the content alone for the vector and for BM25.

Per set: mrr@10 and hit@1 of the first relevant passage (seed sets), nDCG@10 (Cranfield). The choosing
sets are those of bench/tune.py (seeds: shared + set 2; short queries; Cranfield) with sets 3 and 4; the
held-out sets are printed for reporting only.
"""

import os
import re
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
import numpy as np

from bench.tune import SHARED, BeirSet, QuestionSet, seed_searcher
from service.search import SearchParams

FRAME = {
    "what", "how", "why", "when", "where", "which", "who", "whom", "whose", "do", "does", "did", "is", "are",
    "was", "were", "can", "could", "should", "would", "will", "you", "i", "we", "define", "describe",
    "explain", "happens", "happen", "mean", "means", "meant", "according", "article", "articles", "say",
    "says", "the", "a", "an", "to", "of",
}
WORD = re.compile(r"[\w'’-]+")


def content(question: str) -> str:
    words = WORD.findall(question)
    kept = [w for w in words if w.lower() not in FRAME]
    return " ".join(kept) or question


P = SearchParams()


def question_figures(qs: QuestionSet, variant: str) -> tuple[float, float]:
    s = qs.searcher
    texts = [q["question"] for q in qs.questions]
    stripped = [content(t) for t in texts]
    cv = s.encode(stripped)
    rr = []
    for q, text, strip, v, c in zip(qs.questions, texts, stripped, qs.vectors, cv, strict=True):
        vec, kw = v, text
        if variant == "mean":
            vec = (v + c) / np.linalg.norm(v + c)
        elif variant == "content":
            vec = c
        elif variant == "content, keyword too":
            vec, kw = c, strip
        pool = s.pool(kw, vec, "hybrid", None, P)
        scores = s.fuse(pool, "hybrid", P)
        hits = s._present(pool, scores, 10, P)
        from kb.evaluation import is_relevant

        first = next((i for i, h in enumerate(hits) if is_relevant(h, q["relevant"], qs.texts)), None)
        rr.append(0.0 if first is None else 1.0 / (first + 1))
    rr = np.array(rr)
    return float(rr.mean()), float((rr == 1.0).mean())


def beir_figure(bs: BeirSet, variant: str) -> float:
    s = bs.searcher
    stripped = [content(t) for t in bs.queries]
    cv = s.encode(stripped)
    out = []
    from kb.evaluation import ndcg_at_k

    for qid, text, strip, v, c in zip(bs.ids, bs.queries, stripped, bs.vectors, cv, strict=True):
        vec, kw = v, text
        if variant == "mean":
            vec = (v + c) / np.linalg.norm(v + c)
        elif variant == "content":
            vec = c
        elif variant == "content, keyword too":
            vec, kw = c, strip
        pool = s.pool(kw, vec, "hybrid", None, P)
        score = s.fuse(pool, "hybrid", P)
        out.append(ndcg_at_k(bs.ranked_docs(pool, score, qid), bs.qrels[qid], 10))
    return float(np.mean(out))


S = seed_searcher()
E = ROOT_DIR / "eval"
SETS = {
    "seeds (shared + 2)": [SHARED / "questions.jsonl", E / "seed_questions_2.jsonl"],
    "set 3": [E / "seed_questions_3.jsonl"],
    "set 4": [E / "seed_questions_4.jsonl"],
    "short": [E / "short_queries.jsonl"],
    "held out 1 (report)": [E / "held_out_questions.jsonl"],
    "held out 2 (report)": [E / "held_out_questions_2.jsonl"],
}
qsets = {name: QuestionSet(name, S, paths) for name, paths in SETS.items()}
cran = BeirSet("cranfield", SHARED / "cranfield")
for variant in ("shipped", "mean", "content", "content, keyword too"):
    cells = [f"{n} {m:.3f} ({h:.3f})" for n, (m, h) in ((n, question_figures(q, variant)) for n, q in qsets.items())]
    print(f"{variant}: " + " | ".join(cells) + f" | cranfield {beir_figure(cran, variant):.4f}", flush=True)
