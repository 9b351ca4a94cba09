"""The draft check: each sentence of a writer's draft, with the sources that state it or a flag.

A sentence is ``supported`` when the "no answer" decision of search (service/answerable.py, the
same model and threshold) finds that its best passage states it; its sources are then the best
passages, each cited by the sentence that matches best (a verbatim range, quotable as is). A
sentence that is not supported gets no sources, only ``related`` passages, clearly marked as not
support. The whole draft is embedded in one batched call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from corpus.sentences import split_sentences
from service.search import Hit, Searcher, SearchParams

MAX_DRAFT_CHARS = 20_000
MAX_DRAFT_SENTENCES = 200
SOURCES_PER_SENTENCE = 3
# A line or sentence with no word of three letters is markup or a number, not a claim ("---", "1.").
_HAS_WORDS = re.compile(r"[^\W\d_]{3,}")


class DraftTooLarge(ValueError):
    """A draft over the size limits (the HTTP layer answers 413)."""


@dataclass(frozen=True)
class CheckedSentence:
    start: int
    end: int
    text: str
    supported: bool
    probability: float
    sources: list[Hit] = field(default_factory=list)  # what states it, best first (empty when unsupported)
    related: list[Hit] = field(default_factory=list)  # closest passages of an unsupported sentence: not support


def draft_sentences(draft: str) -> list[tuple[int, int]]:
    """Sentence ranges of a draft (offsets into it), leaving out pieces with no words."""
    return [(s, e) for s, e in split_sentences(draft) if _HAS_WORDS.search(draft[s:e])]


def check_draft(searcher: Searcher, draft: str, params: SearchParams = SearchParams()) -> list[CheckedSentence]:
    if len(draft) > MAX_DRAFT_CHARS:
        raise DraftTooLarge(f"the draft has {len(draft)} characters; the limit is {MAX_DRAFT_CHARS}")
    spans = draft_sentences(draft)
    if len(spans) > MAX_DRAFT_SENTENCES:
        raise DraftTooLarge(f"the draft has {len(spans)} sentences; the limit is {MAX_DRAFT_SENTENCES}")
    if not spans:
        return []
    texts = [" ".join(draft[s:e].split()) for s, e in spans]
    vectors = searcher.encode(texts)  # one batched call for the whole draft
    threshold = params.min_score if params.min_score is not None else searcher.claim_model.threshold
    checked = []
    for (start, end), text, vector in zip(spans, texts, vectors, strict=True):
        probability, hits = searcher.evidence(text, vector, SOURCES_PER_SENTENCE, params)
        supported = probability >= threshold
        checked.append(CheckedSentence(
            start=start, end=end, text=draft[start:end], supported=supported, probability=probability,
            sources=hits if supported else [], related=[] if supported else hits,
        ))
    return checked
