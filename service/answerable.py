"""The "no answer" decision: does the best passage actually answer the question (or state the claim)?

One cosine threshold cannot tell an answer from a passage that is merely on the topic (near-topic
questions reach the same cosines as answerable ones). So the decision combines several kinds of
evidence in a small logistic model fitted by cross-validation on labelled questions
(`bench/fit_answer_model.py`, labels in `eval/`; coefficients in `answer_model.json` beside this file):

- how close the best sentence and the best passage are to the question (cosines);
- how far the best passage stands out from the rest of the pool (a near-topic question finds
  many passages about equally close);
- how much of the question's distinctive vocabulary the best passage holds (IDF-weighted), and
  how much of it the corpus does not know at all.

The same decision serves search ("no answer") and the draft check ("unsupported").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from service.search import Pool, Searcher

MODEL_FILE = Path(__file__).with_name("answer_model.json")

FEATURES = (
    "sentence_top",  # best-sentence cosine of the best-ranked passage
    "dense_top",  # passage cosine of the best-ranked passage
    "sentence_margin",  # sentence_top minus the pool's 5th best sentence cosine
    "coverage_top",  # IDF-weighted share of the query's known terms found in that passage or its title
    "unknown_share",  # share of the query's content words the corpus never uses
    "coverage_sentence",  # IDF-weighted share of the query's known terms found in that passage's best sentence
    "missing_idf",  # the most distinctive known query term that passage and its title lack (IDF / max IDF)
    "brevity",  # 1 / the query's content words: a bare name or term ("RICE") is judged by its words, not cosines
    "brevity_coverage",  # brevity x coverage_top
    "quantity_missing",  # 1 when the question asks for a number, date or amount and that passage states none
)

# Questions whose answer is a quantity (a year, an amount, a count, a share, a duration)...
_ASKS_QUANTITY = re.compile(
    r"\b(?:when|what year|which year|how (?:much|many|long|often|old)|percentage|percent|share of|rate|ratio"
    r"|salary|salaries|cost|costs|price|budget|revenue|valuation|formula|number of)\b", re.IGNORECASE)
# ...and what stating one looks like.
_STATES_QUANTITY = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|hundred|thousand|million|billion"
    r"|dozen|half|twice|annual(?:ly)?|yearly|weekly|daily|monthly|decade|century)\b", re.IGNORECASE)


def answer_features(searcher: Searcher, query: str, qv: np.ndarray, pool: Pool, scores: np.ndarray) -> np.ndarray:
    """The features above for one query, from its pool and the pool's scores (the best-scored passage).

    (Taking the best evidence among the three best-scored passages instead measured no better: the
    table in docs/RETRIEVAL.md.)"""
    top = int(np.argmax(scores))
    row = int(pool.rows[top])
    fifth = float(np.sort(pool.sentence)[::-1][min(4, len(pool) - 1)])
    body = searcher.keyword.analyse(query)
    title = searcher.title_keyword.analyse(query) if searcher.title_keyword is not None else [None] * len(body)
    known = [(b, t) for b, t in zip(body, title, strict=True) if b is not None or t is not None]
    unknown = 1.0 - len(known) / len(body) if body else 0.0
    coverage, missing = _coverage(searcher, row, known)
    dense = float((searcher.passage_vectors(pool.rows[top:top + 1]) @ qv)[0])  # the query as asked, not expanded
    brevity = 1.0 / max(len(body), 1)
    doc = searcher.documents[int(searcher.p_doc[row])]
    passage = doc.text[int(searcher.p_start[row]):int(searcher.p_end[row])]
    quantity_missing = float(bool(_ASKS_QUANTITY.search(query)) and not _STATES_QUANTITY.search(passage))
    return np.array([pool.sentence[top], dense, pool.sentence[top] - fifth, coverage, unknown,
                     _sentence_coverage(searcher, row, pool.sentence_cos[top], body), missing,
                     brevity, brevity * coverage, quantity_missing])


def _coverage(searcher: Searcher, row: int, terms: list[tuple[int | None, int | None]]) -> tuple[float, float]:
    """IDF-weighted share of the query's known words found in passage ``row`` or in its document's title,
    and the largest IDF (as a share of the largest possible) of a known word found in neither."""
    doc = int(searcher.p_doc[row])
    total = found = missing = 0.0
    for body, title in dict.fromkeys(terms):
        index, term = (searcher.keyword, body) if body is not None else (searcher.title_keyword, title)
        weight = index.idf(term) / index.max_idf
        total += weight
        if (body is not None and _contains(searcher.keyword.postings(body), row)) or \
                (title is not None and _contains(searcher.title_keyword.postings(title), doc)):
            found += weight
        else:
            missing = max(missing, weight)
    return (found / total if total else 0.0), missing


def _sentence_coverage(searcher: Searcher, row: int, sentence_cos: np.ndarray, body: list[int | None]) -> float:
    """IDF-weighted share of the query's known body terms that occur in the passage's best sentence."""
    sentences = searcher.p_sentences[row]
    terms = {t for t in body if t is not None}
    if not len(sentences) or not terms:
        return 0.0
    d, s, e = searcher.sentences[sentences[int(np.argmax(sentence_cos))]].tolist()
    present = {t for t in searcher.keyword.analyse(searcher.documents[d].text[s:e]) if t is not None}
    weights = {t: searcher.keyword.idf(t) for t in terms}
    return sum(w for t, w in weights.items() if t in present) / sum(weights.values())


def _contains(sorted_rows: np.ndarray, row: int) -> bool:
    i = int(np.searchsorted(sorted_rows, row))
    return i < len(sorted_rows) and int(sorted_rows[i]) == row


@dataclass(frozen=True)
class AnswerModel:
    """Logistic regression on standardised features: P(the first passage answers the question)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: fitted on features {data['features']}, expected {list(FEATURES)}")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]), float(data["intercept"]))

    def probability(self, features: np.ndarray) -> float:
        z = self.intercept + sum(c * (x - m) / s for c, x, m, s in
                                 zip(self.coef, features, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-z))
