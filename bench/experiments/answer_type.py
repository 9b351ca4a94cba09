# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Answer-type features for the "no answer" model: does the best passage's answering place hold the kind of
thing the question asks for?

    .venv/bin/python bench/experiments/answer_type.py

Near-topic questions that are still answered name something the articles mention and ask for a fact
about it that they do not give ("Which company did X found?", "In which city is Y?", "In what year did Z
become CEO?"). ``quantity_missing`` already asks "does the passage state a number" for questions that ask
for one, but a passage of 120 tokens usually holds some number. Candidates, read from the best-ranked
passage's best sentence (by the sentence-alone cosine) with a neighbour on either side:

- ``quantity_missing_here``: the question asks for a quantity and those sentences state none;
- ``entity_missing_here``: the question asks for a name (who, where, which company, city, book, ...) and
  those sentences hold no capitalised name the question does not already use;
- both.

Same labels, folds and threshold rule as bench/fit_answer_model.py (kept / refused in 5-fold CV x 10 at
the rule's threshold, then on every file not fitted on, the second held-out set included).
"""

import os
import re
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
import numpy as np

import bench.fit_answer_model as f
from bench.experiments._report import feature_table, report
from bench.tune import seed_searcher
from service.answerable import _ASKS_QUANTITY, _STATES_QUANTITY, FEATURES, _names
from service.search import SearchParams

S = seed_searcher()
P = SearchParams()
_ASKS_NAME = re.compile(
    r"^\s*(?:who|whom|whose|where)\b|\b(?:who|whom|whose|where)\b.*\?$|\b(?:which|what|name the|name of the)\s+"
    r"(?:\w+\s+)?(?:company|companies|firm|firms|organi[sz]ations?|city|cities|country|countries|place|places"
    r"|university|universities|school|schools|book|books|product|products|tool|tools|person|people|founder"
    r"|founders|ceo|author|authors|brand|brands|platform|platforms|startup|startups|team|teams)\b", re.I)
CANDIDATES = ("quantity_missing_here", "entity_missing_here")


def around_best(pool, top: int) -> list[str]:
    """The best sentence of the top passage and its neighbours, one string each."""
    spans = pool.spans(top)
    if not len(spans):
        return []
    best = int(np.argmax(pool.sentence_cos(top)))
    text = S.documents[int(pool.docs[top])].text
    return [text[int(s):int(e)] for _, s, e in spans[max(best - 1, 0):best + 2].tolist()]


def names_in(sentences: list[str]) -> set[str]:
    """Capitalised words that do not open their sentence or line (a sentence's first word is no name)."""
    return {n for s in sentences for line in s.splitlines() for n in _names(line.strip())}


def extra(text: str, pool, scores, top: int) -> list[float]:
    here = around_best(pool, top)
    quantity = float(bool(_ASKS_QUANTITY.search(text)) and not _STATES_QUANTITY.search(" ".join(here)))
    entity = float(bool(_ASKS_NAME.search(text)) and not (names_in(here) - set(_names(text))))
    return [quantity, entity]


def table(files):
    return feature_table(S, P, files, extra)


def main() -> None:
    kind = "question"
    used = [FEATURES.index(n) for n in f.KIND_FEATURES[kind]]
    x, y = table(f.FILES[kind])
    held_files = [*f.HELD_OUT[kind], ROOT_DIR / "eval" / "held_out_questions_2.jsonl"]
    held = [(path, *table([path])) for path in held_files]
    n = len(FEATURES)
    asks = x[:, n:]
    print(f"labelled: {int(y.sum())} answerable, {int((1 - y).sum())} not; candidate = 1 among answerable "
          f"{asks[y == 1].sum(axis=0).tolist()}, among the others {asks[y == 0].sum(axis=0).tolist()}")
    for name, cols in (("shipped", used), ("+ quantity_missing_here", used + [n]),
                       ("+ entity_missing_here", used + [n + 1]), ("+ both", used + [n, n + 1])):
        report(kind, name, x[:, cols], y, [(p, hx[:, cols], hy) for p, hx, hy in held])


if __name__ == "__main__":
    main()
