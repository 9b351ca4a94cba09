"""Passages are exact slices that start and end on sentence boundaries and fit the model's window."""

from __future__ import annotations

import bisect
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.cleaning import CleanDocument, clean
from corpus.documents import Document, load_documents
from corpus.passages import ChunkSettings, make_passages
from corpus.sentences import split_sentences
from indexer.model import MAX_SEQ_LENGTH, token_counter
from tests.conftest import SEEDS

count = token_counter()

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
sentence = st.builds(lambda ws, end: " ".join(ws) + end, st.lists(words, min_size=1, max_size=40),
                     st.sampled_from([".", "!", "?", "", ":", "…"]))
line = st.builds(lambda ss, indent: indent + " ".join(ss), st.lists(sentence, min_size=1, max_size=6),
                 st.sampled_from(["", "  ", "• ", "- ", "1. ", "# "]))
document_text = st.builds(lambda ls, sep: sep.join(ls), st.lists(line, min_size=1, max_size=25),
                          st.sampled_from(["\n", "\n\n", "\r\n", "\r\n\r\n"]))


def prose_words(c: CleanDocument) -> list[tuple[int, int]]:
    """Every word of the cleaned document's prose blocks (headings aside): what search must be able to find."""
    words = []
    for block in c.blocks:
        if block.kind == "heading":
            continue
        for run_start, run_end in block.runs:
            words += [(run_start + m.start(), run_start + m.end())
                      for m in re.finditer(r"\S+", c.doc.text[run_start:run_end])]
    return words


def uncovered(words: list[tuple[int, int]], passages) -> list[tuple[int, int]]:
    """The words no passage (nor a run of adjoining passages) holds whole."""
    merged: list[list[int]] = []
    for p in sorted(passages, key=lambda p: p.start):
        if merged and p.start <= merged[-1][1]:  # overlapping or touching
            merged[-1][1] = max(merged[-1][1], p.end)
        else:
            merged.append([p.start, p.end])
    starts = [m[0] for m in merged]
    missing = []
    for s, e in words:
        i = bisect.bisect_right(starts, s) - 1
        if i < 0 or e > merged[i][1]:
            missing.append((s, e))
    return missing


def check(doc: Document, chunking: ChunkSettings = ChunkSettings()) -> list:
    c = clean(doc)
    passages = make_passages(c, count, chunking)
    for p in passages:
        assert 0 <= p.start < p.end <= len(doc.text)
        piece = doc.text[p.start:p.end]
        assert piece == piece.strip()
        # what the model reads, special tokens included, fits the window: nothing is invisible to search
        assert count(p.embed_text) + 2 <= MAX_SEQ_LENGTH
        for s, e in p.sentences:
            assert p.start <= s < e <= p.end
    # ...and no prose is dropped: every word of it is in a passage (so an empty result fails when there is text)
    missing = uncovered(prose_words(c), passages)
    assert not missing, [doc.text[s:e] for s, e in missing[:5]]
    return passages


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_text, st.sampled_from(["text", "markdown"]))
def test_every_passage_is_an_exact_slice_within_the_window(text, kind):
    check(Document(doc_id="doc.txt", text=text, kind=kind))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=3000))
def test_arbitrary_unicode_never_breaks_the_chunker(text):
    check(Document(doc_id="doc.txt", text=text, kind="text"), ChunkSettings(target_tokens=60))


def test_a_sentence_longer_than_the_window_is_cut_to_fit():
    text = "word " * 2000 + "end."
    passages = check(Document(doc_id="long.txt", text=text, kind="text"))
    assert len(passages) > 1  # one sentence of 2001 words: cut at word boundaries, all of it kept
    assert passages[0].start == 0 and passages[-1].end == len(text)


@given(st.text(max_size=400))
def test_sentences_are_trimmed_ranges(text):
    for s, e in split_sentences(text):
        assert text[s:e] == text[s:e].strip() and e > s


def test_sentence_splitter_respects_abbreviations():
    text = "Product leaders, e.g. CPOs, set vision. They work with teams vs. alone! Is it hard? Yes."
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == ["Product leaders, e.g. CPOs, set vision.", "They work with teams vs. alone!", "Is it hard?", "Yes."]


def test_seed_passages_keep_headings_with_their_content():
    docs = load_documents([SEEDS])
    assert len(docs) == 5
    for doc in docs:
        c = clean(doc)
        headings = {(b.start, b.end) for b in c.blocks if b.kind == "heading"}
        passages = check(doc)
        assert len(passages) >= 5
        for p in passages:
            # a passage never ends on a heading: headings open the passage that holds their content
            assert (p.start, p.end) not in headings
            assert p.sentences, "every passage holds prose"
            assert p.end == p.sentences[-1][1]
