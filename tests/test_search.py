"""Retrieval as plain functions (no server): verbatim highlights and context, duplicates, no-answer, filters."""

from __future__ import annotations

import numpy as np
import pytest

from kb.evaluation import load_questions
from service.search import QueryError, SearchParams
from tests.conftest import EVAL_QUESTIONS

QUESTIONS = [
    "What is product leadership?", "Is a product manager just a backlog administrator?",
    "How many years ahead should a product leader plan?", "What does RICE help with?",
    "Who are some inspirational product leaders?", "What is the job of a product management leader?",
]
# The seeds answer every question above. The "no answer" model keeps about 98 % of answerable questions
# in cross-validation (bench/fit_answer_model.py), so a few may be refused ("What does RICE help with?"
# is one: the model's cosines do not know the acronym); the test bounds how many.
ANSWERABLE = list(QUESTIONS)
KEPT_AT_LEAST = 0.9
if EVAL_QUESTIONS.exists():
    labelled = load_questions(EVAL_QUESTIONS)
    QUESTIONS += [q["question"] for q in labelled]
    ANSWERABLE += [q["question"] for q in labelled if q.get("relevant")]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_every_returned_range_is_verbatim(searcher, seed_texts, mode):
    unanswered = []
    for question in QUESTIONS:
        hits = searcher.search(question, k=10, mode=mode)
        if not hits and question in ANSWERABLE:
            unanswered.append(question)
        for hit in hits:
            source = seed_texts[hit.doc_id]
            assert source[hit.start:hit.end] == hit.text
            assert source[hit.highlight.start:hit.highlight.end] == hit.highlight.text
            assert hit.start <= hit.highlight.start < hit.highlight.end <= hit.end
            if hit.context_before:
                assert source[hit.context_before.start:hit.context_before.end] == hit.context_before.text
                assert hit.context_before.end <= hit.start
            if hit.context_after:
                assert source[hit.context_after.start:hit.context_after.end] == hit.context_after.text
                assert hit.context_after.start >= hit.end
    # An empty result list would check nothing above: nearly every answerable question must be answered.
    assert len(unanswered) <= max(1, int((1 - KEPT_AT_LEAST) * len(ANSWERABLE))), unanswered


def test_highlight_is_the_answering_sentence(searcher):
    hit = searcher.search("Which agile methodologies support product leadership?", k=1)[0]
    assert "Scrum, Kanban, or SAFe" in hit.highlight.text
    assert len(hit.highlight.text) < len(hit.text)


def test_repeated_sentences_come_back_once(searcher):
    # 002 repeats its summary bullets in its body: the same sentence must not fill two results.
    hits = searcher.search("Is a product manager just a coordinator of tasks or backlog administrator?", k=10)
    highlights = [" ".join(h.highlight.text.lstrip("- ").split()) for h in hits]
    assert len(highlights) == len(set(highlights))
    about_backlog = [h for h in hits if "backlog administrator" in h.text]
    assert len(about_backlog) == 1


def test_results_never_overlap_heavily(searcher):
    for question in ANSWERABLE[:10]:
        hits = searcher.search(question, k=10, min_score=0.0)  # ranking only: the no-answer rule is off
        assert len(hits) > 1, question
        for i, a in enumerate(hits):
            for b in hits[i + 1:]:
                if a.doc_id == b.doc_id:
                    overlap = min(a.end, b.end) - max(a.start, b.start)
                    assert overlap < 0.5 * min(a.end - a.start, b.end - b.start)


@pytest.mark.parametrize("question", [
    "How do I bake sourdough bread at home?", "What is the capital city of Australia?",
    "How do I configure a Kubernetes ingress controller?", "What's the weather in Paris tomorrow?",
])
def test_unanswerable_questions_get_nothing(searcher, question):
    assert searcher.search(question, k=10) == []


def test_threshold_is_a_parameter(searcher):
    assert searcher.search("What is the capital city of Australia?", k=3, min_score=0.0)
    assert searcher.search("What does a product leader do all day at work?", k=3, min_score=0.99) == []


def test_doc_filter(searcher):
    hits = searcher.search("product leadership", k=10, doc_ids=["001_e28bdbd0f2a78354.txt"])
    assert hits and all(h.doc_id == "001_e28bdbd0f2a78354.txt" for h in hits)
    with pytest.raises(QueryError):
        searcher.search("product leadership", doc_ids=["nope.txt"])


def test_rare_words_are_found(searcher):
    # keyword evidence: acronyms and names that an embedding alone blurs
    assert "RICE" in searcher.search("RICE", k=3)[0].text
    assert "Nadella" in searcher.search("Nadella", k=3)[0].text


@pytest.mark.parametrize("lane", [False, True], ids=["all-cores call", "single-thread lane"])
def test_serve_path_embeddings_equal_the_indexers(searcher, lane):
    import numpy as np

    from indexer.model import embed

    texts = ["What is RICE?", "How do product leaders deal with burnout?", "word " * 400, "é ü 中文 🙂 عربى",
             "", "Product leadership typically comes before product management in the product build journey.",
             "NPS", "a" * 3000, "Line one.\nLine two.\tTabbed.", "RICE", "Who is Satya Nadella?",
             *[f"question number {n} about product strategy and team leadership" for n in range(40)]]
    want = embed(texts)
    together = searcher.encode(texts, lane=lane)  # one batch: sorted by length, cut into calls
    alone = np.stack([searcher.encode([t], lane=lane)[0] for t in texts])
    for got in (together, alone):
        cosine = (want * got).sum(axis=1)
        assert np.all(cosine >= 0.99999), cosine


def test_query_word_coverage_counts_distinctive_words(searcher):
    """Coverage is the IDF-weighted share of the query's known words a passage (or its title) holds; the
    most distinctive word it lacks is reported beside it. Checked against the passages' own text."""
    from service.answerable import term_coverage

    query = "product leader time management calendar"
    rows = np.arange(searcher.passage_count, dtype=np.int64)
    coverage, missing = term_coverage(searcher, query, rows, searcher.p_doc[rows])
    assert coverage.shape == missing.shape == (len(rows),)
    assert ((coverage >= 0) & (coverage <= 1)).all()
    text = [searcher.documents[int(searcher.p_doc[r])].text[int(searcher.p_start[r]):int(searcher.p_end[r])].lower()
            for r in rows]
    with_calendar = [i for i, t in enumerate(text) if "calendar" in t]
    without_calendar = [i for i, t in enumerate(text) if "calendar" not in t and "time" in t]
    assert with_calendar and without_calendar
    # "calendar" is the rarest word of the query: a passage without it misses it, one with it does not.
    assert missing[without_calendar].min() > 0
    assert coverage[with_calendar].max() > coverage[without_calendar].max()
    best = int(np.argmax(coverage))
    assert "calendar" in text[best] and "time" in text[best]


def test_coverage_lifts_the_passage_that_holds_the_query_words(searcher):
    """The coverage weight only adds to the fused score: a passage holding every query word gains most."""
    from dataclasses import replace

    query = "product leader time management"
    qv = searcher.encode([query])[0]
    pool = searcher.pool(query, qv, "hybrid", None, SearchParams())
    off = searcher.fuse(pool, "hybrid", replace(SearchParams(), w_coverage=0.0))
    on = searcher.fuse(pool, "hybrid", SearchParams())
    assert np.allclose(on - off, SearchParams().w_coverage * pool.coverage)
    assert searcher.fuse(pool, "dense", SearchParams()).tolist() == \
        searcher.fuse(pool, "dense", replace(SearchParams(), w_coverage=0.0)).tolist()


def test_sentence_signal_mixes_the_window_and_the_sentence_alone(searcher):
    """The ranking's sentence signal is window_share of the best window cosine plus the rest of the best
    sentence-alone cosine: at 1 only windows count, at 0 only sentences alone, and the default lies between."""
    from dataclasses import replace

    query = "How do product leaders handle burnout?"
    qv = searcher.encode([query])[0]
    pool = searcher.pool(query, qv, "hybrid", None, SearchParams())
    windows_only = replace(pool, exact=np.zeros_like(pool.exact))
    alone_only = replace(pool, sentence=pool.exact)
    one, zero = replace(SearchParams(), window_share=1.0), replace(SearchParams(), window_share=0.0)
    assert np.allclose(searcher.fuse(pool, "hybrid", one), searcher.fuse(windows_only, "hybrid", one))
    assert np.allclose(searcher.fuse(pool, "hybrid", zero), searcher.fuse(alone_only, "hybrid", one))
    default = searcher.fuse(pool, "hybrid", SearchParams())
    assert 0.0 < SearchParams().window_share < 1.0
    assert not np.allclose(default, searcher.fuse(pool, "hybrid", one))
    assert not np.allclose(default, searcher.fuse(pool, "hybrid", zero))


def test_keyword_list_is_the_best_matched_passages(searcher):
    """The keyword candidates are the passages with the highest BM25 among those that share a word with
    the query, best first; a document filter keeps only its rows."""
    query = "difficult conversations with stakeholders"
    scores = searcher.keyword_scores(query, SearchParams())
    depth = 5
    top = searcher._keyword_top(scores, None, depth)
    matched = np.flatnonzero(scores > 0)
    assert len(matched) > depth
    assert list(scores[top]) == sorted(scores[matched], reverse=True)[:depth]
    assert (scores[top] > 0).all()
    allowed = np.flatnonzero(searcher.p_doc == searcher.p_doc[top[-1]])
    within = searcher._keyword_top(scores, allowed, len(allowed))
    assert set(within) == {r for r in allowed if scores[r] > 0}
    assert list(scores[within]) == sorted(scores[within], reverse=True)


def test_neighbouring_sentences_are_the_nearest_outside_the_passage(searcher):
    """The folder store's context lookup against a plain scan of the document's sentences."""
    store = searcher.store
    table = store.sentence_table
    rows = range(0, searcher.passage_count, max(1, searcher.passage_count // 40))
    asked = [(int(searcher.p_doc[i]), int(searcher.p_start[i]), int(searcher.p_end[i])) for i in rows]
    found = store.neighbours(asked)
    rows_of_table = table.tolist()
    for (d, start, end), (before, after) in zip(asked, found, strict=True):
        spans = sorted((int(s), int(e)) for doc, s, e in rows_of_table if doc == d)
        ended = [sp for sp in spans if sp[0] < start and sp[1] <= start]
        begun = [sp for sp in spans if sp[0] >= end]
        assert before == (ended[-1] if ended else None)
        assert after == (begun[0] if begun else None)
    assert any(b is not None for b, _ in found) and any(a is not None for _, a in found)
