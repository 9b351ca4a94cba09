"""Cutting cleaned documents into passages that start and end on sentence boundaries.

A passage is a ``[start, end)`` range of its document. It never crosses dropped chrome, never ends
on a heading (headings open the passage that holds their content), and its embedding input (title
and section prefix plus its text) fits the model's window, so nothing in it is invisible to search.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from corpus.cleaning import CleanDocument
from corpus.sentences import split_sentences

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ChunkSettings:
    target_tokens: int = 120  # fill a passage up to about this many word pieces
    max_tokens: int = 256  # the model's window, special tokens included
    overlap_sentences: int = 1  # sentences repeated at the start of the next passage
    prefix: str = "title"  # what is embedded before the text: "none", "title" or "title+section"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    title: str
    section: str | None
    text: str  # readable text (whitespace squashed): what BM25 sees
    embed_text: str  # prefix + readable text: what the model sees, never returned as a quote
    sentences: tuple[tuple[int, int], ...]  # the prose sentences inside it (headings left out)


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a heading) with the passage-relevant facts about it."""

    start: int
    end: int
    text: str
    tokens: int
    heading: bool
    section: str | None
    region: int  # changes wherever dropped chrome separates two blocks


def _squash(text: str) -> str:
    return " ".join(text.split())


def embed_prefix(title: str, section: str | None, settings: ChunkSettings) -> str:
    if settings.prefix == "none":
        return ""
    if settings.prefix == "title+section" and section and section != title:
        return f"{title} — {section}: "
    return f"{title}: " if title else ""


def _units(clean_doc: CleanDocument, count_tokens: TokenCounter, budget: int) -> list[_Unit]:
    units: list[_Unit] = []
    section: str | None = None
    region = 0
    previous_end = None
    dropped_starts = sorted(s for s, _ in clean_doc.dropped)
    for block in clean_doc.blocks:
        # Some dropped range starts between the previous block and this one (a binary search: linear overall).
        if previous_end is not None and bisect.bisect_left(dropped_starts, previous_end) < \
                bisect.bisect_left(dropped_starts, block.start):
            region += 1
        previous_end = block.end
        is_heading = block.kind == "heading"
        if is_heading:
            section = _squash(clean_doc.visible(block.start, block.end))
        for start, end in _block_sentences(clean_doc, block):
            text = _squash(clean_doc.visible(start, end))
            if not text:
                continue
            tokens = count_tokens(text)
            if tokens <= budget:
                units.append(_Unit(start, end, text, tokens, is_heading, section, region))
                continue
            for s, e in _split_long(clean_doc, start, end, count_tokens, budget):
                piece = _squash(clean_doc.visible(s, e))
                units.append(_Unit(s, e, piece, count_tokens(piece), is_heading, section, region))
    return units


def _block_sentences(clean_doc: CleanDocument, block) -> list[tuple[int, int]]:
    """Sentence ranges of a block, in document offsets."""
    return [(run_start + s, run_start + e) for run_start, run_end in block.runs
            for s, e in split_sentences(clean_doc.doc.text[run_start:run_end])]


def _split_long(clean_doc: CleanDocument, start: int, end: int, count_tokens: TokenCounter, budget: int):
    """A sentence too long for the window is cut at word boundaries (the only non-sentence cut)."""
    text = clean_doc.doc.text
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    piece_start = 0
    while piece_start < len(words):
        lo, hi = piece_start + 1, len(words)
        # largest prefix of the remaining words that fits (binary search on token count)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(_squash(clean_doc.visible(words[piece_start][0], words[mid - 1][1]))) <= budget:
                lo = mid
            else:
                hi = mid - 1
        yield words[piece_start][0], words[lo - 1][1]
        piece_start = lo


def make_passages(
    clean_doc: CleanDocument, count_tokens: TokenCounter, settings: ChunkSettings = ChunkSettings()
) -> list[Passage]:
    title = clean_doc.title or ""  # no made-up title: the doc_id is not text the model or BM25 should see
    # Room for the text: the window minus [CLS]/[SEP] and the longest prefix a passage may carry.
    longest_prefix = max(
        [count_tokens(embed_prefix(title, None, settings))]
        + [count_tokens(embed_prefix(title, _squash(clean_doc.visible(b.start, b.end)), settings))
           for b in clean_doc.blocks if b.kind == "heading"]
    )
    window = settings.max_tokens - 2 - longest_prefix
    target = min(settings.target_tokens, window)
    units = _units(clean_doc, count_tokens, window)
    if not units:
        # Every line was metadata (a lone headline) or there is no text at all: one passage of whatever
        # text there is keeps the document findable, by its title too (an empty titled record: [0, 0)).
        raw = clean_doc.doc.text
        start = len(raw) - len(raw.lstrip())
        end = max(len(raw.rstrip()), start)
        text = _squash(clean_doc.visible(start, end))
        if not text and not title:
            return []  # neither text nor title: nothing anyone could find or quote
        return [Passage(doc_id=clean_doc.doc.doc_id, start=start if text else 0, end=end if text else 0,
                        title=title, section=None, text=text,
                        embed_text=(embed_prefix(title, None, settings) + text).rstrip(": "), sentences=())]
    if sum(u.tokens + 1 for u in units) <= window and len({u.region for u in units}) == 1:
        # A document that fits the model's window is one passage: cutting a short abstract only
        # hides half of its context from each piece (measured: docs/RETRIEVAL.md).
        target = window

    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units):
            unit = units[j]
            if j > i and (unit.region != units[i].region or used + unit.tokens + 1 > window):
                break
            # Prefer to break before a heading once the passage holds some prose.
            if j > i and unit.heading and used >= target // 2:
                break
            if j > i and used >= target:
                break
            used += unit.tokens + 1
            j += 1
        # Never end on a heading: leave trailing headings to the next passage.
        while j - 1 > i and units[j - 1].heading:
            j -= 1
        chunk = units[i:j]
        section = next((u.section for u in chunk if not u.heading), chunk[0].section)
        text = " ".join(u.text for u in chunk)
        passages.append(
            Passage(
                doc_id=clean_doc.doc.doc_id,
                start=chunk[0].start,
                end=chunk[-1].end,
                title=title,
                section=section,
                text=text,
                embed_text=embed_prefix(title, section, settings) + text,
                sentences=tuple((u.start, u.end) for u in chunk if not u.heading),
            )
        )
        if j >= len(units):
            break
        # Step back for overlap, but never into a heading, another region, or to where we started.
        nxt = j
        for _ in range(settings.overlap_sentences):
            cand = nxt - 1
            if cand <= i or units[cand].heading or units[j].heading or units[cand].region != units[j].region:
                break
            nxt = cand
        i = nxt
    return passages
