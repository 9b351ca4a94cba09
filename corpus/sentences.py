"""Sentence boundaries as offsets, so a passage can start and end on them without touching the text."""

from __future__ import annotations

import re

# Words that end with a full stop without ending a sentence.
_ABBREVIATIONS = frozenset(
    "e.g i.e vs etc al mr mrs ms dr prof st jr sr inc ltd co corp no nos fig approx dept est "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m ph.d".split()
)

# A candidate end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
# What may start the next sentence: an upper-case letter, a digit, an opening quote or bracket, a bullet.
_NEXT_START = re.compile(r"\s+[\"'“‘(\[•\-–—*]?[A-Z0-9À-Ý]")
# In a caseless text (lower-cased collections such as Cranfield) any letter may start a sentence.
_NEXT_START_CASELESS = re.compile(r"\s+[\"'“‘(\[•\-–—*]?[^\W_]")
_LIST_MARKER = re.compile(r"\s*(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)]$")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _is_abbreviation(text: str, dot: int) -> bool:
    match = _WORD_BEFORE.search(text, 0, dot)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    # Single letters are initials ("J. Smith"), except the pronoun "I".
    return word in _ABBREVIATIONS or (len(word) == 1 and word != "i")


def _is_caseless(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters > 0 and sum(c.isupper() for c in text) <= 0.01 * letters


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each sentence in ``text``, trimmed of surrounding whitespace.

    Line breaks always end a sentence (scraped text puts one block a line). A text with (almost) no
    capital letters cannot signal a sentence start by case, so there any word may start one.
    """
    next_start = _NEXT_START_CASELESS if _is_caseless(text) else _NEXT_START
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\r\n]+", text):
        pos, stop = line.start(), line.end()
        cut = pos
        for end in _END.finditer(text, pos, stop):
            if text[end.start()] == "." and end.end() - end.start() == 1 and _is_abbreviation(text, end.start()):
                continue
            if not next_start.match(text, end.end(), stop):
                continue
            if _LIST_MARKER.match(text, cut, end.end()):
                continue  # "3. Working with teams": the number opens the item, it is not a sentence
            spans.append((cut, end.end()))
            cut = end.end()
        spans.append((cut, stop))
    trimmed = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            trimmed.append((start, end))
    return trimmed
