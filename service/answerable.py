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
from collections.abc import Hashable
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
    "numbers_missing",  # share of the quantities the query states ("7 years", "10%", "a fifth") that passage does not
    "names_missing",  # share of the capitalised names the query uses that passage and its title do not
    "markers_missing",  # comparison, frequency, extent and cause words of the query that passage lacks (0..1)
)

# A stated quantity: digits (a decimal, a share with "%" or "percent"), a number word, or a fraction or
# ordinal ("a fifth", "third"). Compared as whole tokens: "10%" is not found in "100" or "2010".
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s*%|\s*per\s?cent\b)?|\b(?:zero|one|two|three|four|five|six|seven"
                     r"|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|half"
                     r"|halves|third|thirds|quarter|quarters|fifth|fifths|tenth|tenths|dozen|percent)\b", re.IGNORECASE)
# A capitalised word that does not open the text: a name ("Slack", "Jason Fried", "Azure").
_NAME = re.compile(r"(?<=[\s(\"“'‘])([A-Z][\w&’'-]*)")
_I_CONTRACTION = re.compile(r"I['’](?:m|ll|ve|d)$")  # "I'll", "I’m": not names
_NOT_NAMES = frozenset("I A The What Which Who Whom Whose When Where Why How Is Are Do Does Did Can Could Should "
                       "Would Will In On At Of For And Or But To".split())

# Question words and auxiliaries the BM25 stop list keeps: a small corpus may never use them, which must
# not make a question look as if it asked about something the corpus does not know.
_FUNCTION_WORDS = re.compile(
    r"\b(?:how|what|which|who|whom|whose|when|where|why|do|does|did|doing|done|is|are|was|were|be|been|can|could"
    r"|should|would|will|shall|may|might|must|has|have|had|there|here|some|any|about|me|my|we|our|us)\b",
    re.IGNORECASE)

# Words that turn a statement into a stronger one: a comparison ("more ... than", "the single most"), a
# frequency or extent ("always", "every", "exactly", "mainly"), a cause ("because", "leads to"). A claim
# that adds one the passage does not use says more than the passage does.
_MARKERS = frozenset("""more less fewer better worse harder easier faster slower higher lower larger smaller most least
best worst single only twice than always never every each all usually typically mostly mainly primarily often
rarely exactly because cause causes caused leads result results due therefore guarantee guarantees ensures
weekly monthly quarterly daily annually once""".split())
_WORDS = re.compile(r"[a-z]+")

# Questions whose answer is a quantity (a year, an amount, a count, a share, a duration); "when" only where
# it opens the question ("When was..."), not as a conjunction ("...help when you decide?")...
_ASKS_QUANTITY = re.compile(
    r"(?:^|[.?!;:]\s+)when\b|\b(?:what year|which year|how (?:much|many|long|often|old)|percentage|percent|share of"
    r"|rate|ratio|salary|salaries|cost|costs|price|budget|revenue|valuation|formula|number of)\b", re.IGNORECASE)
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
    fifth = float(np.sort(pool.exact)[::-1][min(4, len(pool) - 1)])
    content = _FUNCTION_WORDS.sub(" ", query)  # "how", "do": known or not, they say nothing of the corpus
    body = searcher.keyword.analyse(content)
    title = searcher.title_keyword.analyse(content) if searcher.title_keyword is not None else [None] * len(body)
    known = [(b, t) for b, t in zip(body, title, strict=True) if b is not None or t is not None]
    unknown = 1.0 - len(known) / len(body) if body else 0.0
    coverage, missing = float(pool.coverage[top]), float(pool.missing[top])
    dense = float((pool.vectors[top:top + 1] @ qv)[0])  # the query as asked, not expanded
    brevity = 1.0 / max(len(body), 1)
    doc = searcher.documents[int(searcher.p_doc[row])]
    passage = doc.text[int(searcher.p_start[row]):int(searcher.p_end[row])]
    quantity_missing = float(bool(_ASKS_QUANTITY.search(query)) and not _STATES_QUANTITY.search(passage))
    return np.array([pool.exact[top], dense, pool.exact[top] - fifth, coverage, unknown,
                     _sentence_coverage(searcher, pool, top, body), missing,
                     brevity, brevity * coverage, quantity_missing,
                     _numbers_missing(query, passage),
                     _missing_share(_names(query), f"{doc.title} {passage}"),
                     _markers_missing(query, passage)])


def _markers_missing(query: str, passage: str) -> float:
    asked = _MARKERS.intersection(_WORDS.findall(query.lower()))
    return min(len(asked - set(_WORDS.findall(passage.lower()))), 3) / 3


def _names(text: str) -> list[str]:
    return [n for n in _NAME.findall(text) if n not in _NOT_NAMES and not _I_CONTRACTION.match(n)]


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


def _quantities(text: str) -> list[str]:
    """The quantities a text states, normalised: small number words as digits, "percent" as "%"."""
    out = []
    for found in _NUMBER.findall(text.lower()):
        token = re.sub(r"\s*per\s?cent$", "%", re.sub(r"\s+%", "%", found))
        out.append(_NUMBER_WORDS.get(token, token))
    return out


def _numbers_missing(query: str, passage: str) -> float:
    """Share of the quantities the query states that the passage does not state (as whole tokens)."""
    asked = _quantities(query)
    if not asked:
        return 0.0
    stated = set(_quantities(passage))
    return sum(q not in stated for q in asked) / len(asked)


def _missing_share(items: list[str], text: str) -> float:
    """Share of the items (names) that do not occur in a text, ignoring case; 0 with no items."""
    if not items:
        return 0.0
    lowered = text.lower()
    return sum(i.lower() not in lowered for i in items) / len(items)


def term_coverage(searcher: Searcher, query: str, rows: np.ndarray, docs: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For each passage of ``rows`` (documents ``docs``): the IDF-weighted share of the query's known words
    found in the passage or in its document's title, and the largest IDF (as a share of the largest
    possible) of a known word found in neither. A ranking signal and two "no answer" features."""
    content = _FUNCTION_WORDS.sub(" ", query)
    body = searcher.keyword.analyse(content)
    title = searcher.title_keyword.analyse(content) if searcher.title_keyword is not None else [None] * len(body)
    pairs = list(dict.fromkeys((b, t) for b, t in zip(body, title, strict=True) if b is not None or t is not None))
    found = np.zeros(len(rows))
    missing = np.zeros(len(rows))
    if not pairs or not len(rows):
        return found, missing
    in_body = searcher.keyword.holding([b for b, _ in pairs if b is not None], rows)
    in_title = (searcher.title_keyword.holding([t for _, t in pairs if t is not None], docs)
                if searcher.title_keyword is not None else None)
    total = 0.0
    b_at = t_at = 0
    for b, t in pairs:
        index, term = (searcher.keyword, b) if b is not None else (searcher.title_keyword, t)
        weight = index.idf(term) / index.max_idf
        total += weight
        held = np.zeros(len(rows), dtype=bool)
        if b is not None:
            held |= in_body[b_at]
            b_at += 1
        if t is not None and in_title is not None:
            held |= in_title[t_at]
            t_at += 1
        found += weight * held
        missing = np.where(held, missing, np.maximum(missing, weight))
    return found / total, missing


def _sentence_coverage(searcher: Searcher, pool: Pool, top: int, body: list[Hashable | None]) -> float:
    """IDF-weighted share of the query's known body terms that occur in the best passage's best sentence."""
    spans = pool.spans(top)
    terms = {t for t in body if t is not None}
    if not len(spans) or not terms:
        return 0.0
    _, s, e = spans[int(np.argmax(pool.sentence_cos(top)))].tolist()
    text = searcher.documents[int(pool.docs[top])].text[s:e]
    present = {t for t in searcher.keyword.analyse(text) if t is not None}
    weights = {t: searcher.keyword.idf(t) for t in terms}
    return sum(w for t, w in weights.items() if t in present) / sum(weights.values())


KINDS = ("question", "claim")  # a search query; a sentence of a draft


@dataclass(frozen=True)
class AnswerModel:
    """Logistic regression on standardised features: P(the best passage answers the question, or states
    the claim). Questions and claims share the feature code; each kind has its own fitted coefficients,
    threshold and feature subset (chosen by cross-validation), because a claim must be stated, not just
    addressed."""

    used: tuple[int, ...]  # positions in FEATURES of the features this kind's model reads
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # the default "no answer" / "unsupported" cut on the probability, chosen by CV

    @classmethod
    def load(cls, kind: str, path: Path = MODEL_FILE) -> AnswerModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: fitted on features {data['features']}, expected {list(FEATURES)}")
        m = data[kind]
        names = m.get("features", data["features"])
        if not set(names) <= set(FEATURES) or len(names) != len(m["coef"]):
            raise ValueError(f"{path}: the {kind} model's features {names} do not match its coefficients")
        return cls(tuple(FEATURES.index(n) for n in names), tuple(m["mean"]), tuple(m["scale"]), tuple(m["coef"]),
                   float(m["intercept"]), float(m["threshold"]))

    def probability(self, features: np.ndarray) -> float:
        z = self.intercept + sum(c * (features[i] - m) / s for c, i, m, s in
                                 zip(self.coef, self.used, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-z))
