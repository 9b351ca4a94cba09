"""Passages are exact slices that start and end on sentence boundaries and fit the model's window."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.cleaning import clean
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


def check(doc: Document, chunking: ChunkSettings = ChunkSettings()) -> None:
    c = clean(doc)
    for p in make_passages(c, count, chunking):
        assert 0 <= p.start < p.end <= len(doc.text)
        piece = doc.text[p.start:p.end]
        assert piece == piece.strip()
        # what the model reads, special tokens included, fits the window: nothing is invisible to search
        assert count(p.embed_text) + 2 <= MAX_SEQ_LENGTH
        for s, e in p.sentences:
            assert p.start <= s < e <= p.end


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
    check(Document(doc_id="long.txt", text=text, kind="text"))


@given(st.text(max_size=400))
def test_sentences_are_trimmed_ranges(text):
    for s, e in split_sentences(text):
        assert text[s:e] == text[s:e].strip() and e > s


def test_sentence_splitter_respects_abbreviations():
    text = "Product leaders, e.g. CPOs, set vision. They work with teams vs. alone! Is it hard? Yes."
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == ["Product leaders, e.g. CPOs, set vision.", "They work with teams vs. alone!", "Is it hard?", "Yes."]


def test_seed_passages_keep_headings_with_their_content():
    for doc in load_documents([SEEDS]):
        c = clean(doc)
        headings = {(b.start, b.end) for b in c.blocks if b.kind == "heading"}
        for p in make_passages(c, count):
            # a passage never ends on a heading: headings open the passage that holds their content
            assert (p.start, p.end) not in headings
            assert p.sentences, "every passage holds prose"
            assert p.end == p.sentences[-1][1]
