"""The sets the experiments here score, and the one way they score them (mrr@10 and hit@1 of a question
set, nDCG@10 of Cranfield), with bench/tune.py's set classes."""

from __future__ import annotations

from tune import ROOT, SHARED, BeirSet, QuestionSet

EVAL = ROOT / "eval"


def question_sets(seeds, names: tuple[str, ...] = ("seeds", "set 3", "short")) -> list[QuestionSet]:
    """Named question sets over the seeds index: "seeds" is the shared questions with set 2; "set 3" was
    the held-out set when the window, int8 and centring experiments ran (late 2026-12-01)."""
    files = {
        "seeds": [SHARED / "questions.jsonl", EVAL / "seed_questions_2.jsonl"],
        "set 3": [EVAL / "seed_questions_3.jsonl"],
        "set 4": [EVAL / "seed_questions_4.jsonl"],
        "held out": [EVAL / "held_out_questions.jsonl"],
        "short": [EVAL / "short_queries.jsonl"],
    }
    return [QuestionSet(name, seeds, files[name]) for name in names]


def cranfield() -> BeirSet:
    return BeirSet("cranfield", SHARED / "cranfield")


def reencode(sets: list) -> None:
    """Embed every set's queries again (after the searcher's encoder changed)."""
    for s in sets:
        texts = [q["question"] for q in s.questions] if hasattr(s, "questions") else s.queries
        s.vectors = s.searcher.encode(texts)


def evaluate(sets: list, params, digits: int = 4) -> dict[str, float]:
    out = {}
    for s in sets:
        scores = s.scores(params, s.pools(params))
        out[s.name] = round(float(scores.mean()), digits)
        if hasattr(s, "questions"):
            out[s.name + " hit@1"] = round(float((scores == 1).mean()), digits)
    return out
