"""Collections of records (JSONL, BEIR corpora): every document findable, by its title too; records are
not cleaned as web pages; ranking depth and the first k independent of k. Real model, real index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpus.cleaning import clean
from corpus.documents import Document
from corpus.sentences import split_sentences
from indexer.build import build_index
from service.search import SearchParams, load_searcher

# Records the web-page rules used to lose: a one-line text, a text starting with "Copyright", a line
# that reads like site chrome, an empty text with a title, and lower-case abstracts without capitals.
RECORDS = [
    {"_id": "short", "title": "", "text": "Helium balloons rise."},
    {"_id": "copyright", "title": "Licensing", "text": "Copyright law protects the expression of ideas, not ideas."},
    {"_id": "chrome", "text": "Search\nThe heap allocator reuses freed blocks of memory."},
    {"_id": "empty", "title": "Quokka habitat survey", "text": ""},
    {"_id": "lower", "title": "boundary layers",
     "text": "the boundary layer thickens downstream . transition to turbulence follows . skin friction rises."},
    {"_id": "titled", "title": "Zeppelin mooring masts", "text": "Large airships were tied to tall towers."},
]
FILLER = [
    {"_id": f"f{i}", "title": f"Note {i}", "text": f"Filler record number {i} about gardening, tomatoes and rain {i}."}
    for i in range(150)
]


@pytest.fixture(scope="module")
def record_searcher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    source = folder / "corpus.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in RECORDS + FILLER), encoding="utf-8")
    build_index([source], folder / "index", metadata_file=None)
    return load_searcher(folder / "index")


def test_every_document_has_a_passage(record_searcher):
    counts = np.bincount(record_searcher.p_doc, minlength=len(record_searcher.documents))
    assert len(record_searcher.documents) == len(RECORDS) + len(FILLER)
    assert (counts >= 1).all(), [d.doc_id for d, c in zip(record_searcher.documents, counts, strict=True) if not c]


@pytest.mark.parametrize(("doc_id", "words"), [
    ("short", "Helium balloons"), ("copyright", "Copyright law"), ("chrome", "Search"),
    ("lower", "transition to turbulence"),
])
def test_record_text_is_kept_whole(record_searcher, doc_id, words):
    doc = record_searcher.documents[record_searcher.doc_number[doc_id]]
    rows = record_searcher.doc_rows(record_searcher.doc_number[doc_id])
    covered = "".join(doc.text[record_searcher.p_start[r]:record_searcher.p_end[r]] for r in rows)
    assert words in covered
    assert covered.strip() == doc.text.strip()  # a short record is one passage: all of it


def test_records_are_not_cleaned_as_web_pages():
    doc = Document(doc_id="x", text="Copyright 2020 by the author.\nShare\nMenu\nTrusted by experts", kind="record")
    cleaned = clean(doc)
    assert cleaned.dropped == []
    assert cleaned.title is None  # never guessed from the first line
    assert [cleaned.visible(b.start, b.end) for b in cleaned.blocks] == doc.text.split("\n")


def test_caseless_text_is_split_into_sentences():
    text = "the flow separates near the trailing edge . pressure recovery is poor. lift falls"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "the flow separates near the trailing edge .", "pressure recovery is poor.", "lift falls"]
    assert len(split_sentences("Hello there. this stays one sentence in cased text.")) == 1


@pytest.mark.parametrize(("query", "doc_id"), [
    ("quokka habitat", "empty"),  # only the title says it
    ("zeppelin mooring", "titled"),  # the title, not the text
    ("helium", "short"),
    ("copyright law", "copyright"),
])
def test_title_and_short_records_are_searchable(record_searcher, query, doc_id):
    for mode in ("keyword", "hybrid"):
        hits = record_searcher.search(query, k=5, mode=mode, min_score=0.0)
        assert hits and hits[0].doc_id == doc_id, (mode, [h.doc_id for h in hits])


def test_untitled_records_get_no_made_up_prefix(record_searcher):
    # The doc_id is not text: "short" must not match a query for its id.
    hits = record_searcher.search("short", k=10, mode="keyword", min_score=0.0)
    assert "short" not in [h.doc_id for h in hits]


@pytest.mark.parametrize("k", [1, 10, 100])
def test_each_list_contributes_at_least_k_candidates(record_searcher, k):
    s = record_searcher
    query = "gardening tomatoes rain"
    qv = s.encode([query])[0]
    params = SearchParams()
    pool = s.pool(query, qv, "hybrid", None, params)
    dense_top = set(s._dense_top(qv, k).tolist())
    keyword = s.keyword_scores(query, params)
    keyword_top = set(np.argsort(-keyword)[:k].tolist())
    assert len(dense_top) == k and len(keyword_top) == k
    assert dense_top <= set(pool.rows.tolist())
    assert keyword_top <= set(pool.rows.tolist())


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_first_results_do_not_depend_on_k(record_searcher, searcher, mode):
    for s, query in ((record_searcher, "rain on tomatoes in the garden"),
                     (searcher, "How should a product leader work with engineering teams?")):
        many = s.search(query, k=100, mode=mode, min_score=0.0)
        few = s.search(query, k=10, mode=mode, min_score=0.0)
        assert len(many) > 10
        assert [(h.doc_id, h.start, h.end) for h in many[:10]] == [(h.doc_id, h.start, h.end) for h in few]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_doc_ids_filter_restricts_results(record_searcher, mode):
    hits = record_searcher.search("gardening", k=10, mode=mode, doc_ids=["f3", "f7"], min_score=0.0)
    assert {h.doc_id for h in hits} == {"f3", "f7"}
    # Many ids (the filter is a FAISS id selector and per-document row lists, not a scan per id).
    wanted = [f"f{i}" for i in range(0, 150, 2)]
    hits = record_searcher.search("rain on tomatoes", k=50, mode=mode, doc_ids=wanted, min_score=0.0)
    assert len(hits) >= 10 and {h.doc_id for h in hits} <= set(wanted)



@pytest.mark.parametrize("k", [1, 7, 200])
def test_exact_dense_search_finds_what_faiss_finds(record_searcher, k):
    """The folder store searches an exact index by a matrix-vector product of its own: the same passages as
    FAISS's exact search, best first, and only allowed ones under a doc_ids filter."""
    import faiss

    s = record_searcher
    st = s.store
    assert st._flat is not None  # a small collection gets an exact index
    vectors = st.passage_vectors(np.arange(s.passage_count))
    allowed = s._allowed([f"f{i}" for i in range(0, 150, 3)])
    for query in ("rain on tomatoes", "gardening", "bees and flowers in spring", "zzzz"):
        qv = s.encode([query])[0]
        ours = st.dense_top(qv, k)
        _, theirs = st.dense.search(qv.reshape(1, -1), k)
        assert set(ours.tolist()) == set(theirs[0][theirs[0] >= 0].tolist())
        scores = vectors[ours] @ qv
        assert (np.diff(scores) <= 1e-6).all()  # best first
        within = st.dense_top(qv, k, allowed)
        assert set(within.tolist()) <= set(allowed.rows.tolist()) and len(within) == min(k, len(allowed.rows))
        selector = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.rows.astype(np.int64)))
        _, theirs = st.dense.search(qv.reshape(1, -1), k, params=selector)
        assert set(within.tolist()) == set(theirs[0][theirs[0] >= 0].tolist())


def test_exact_search_of_a_large_index_uses_one_blas_thread_and_restores_it():
    """Above a few thousand vectors the product runs with BLAS limited to one thread, and the process's
    BLAS settings are as before afterwards; the passages are the best by score, ties by row."""
    from threadpoolctl import threadpool_info

    from service.stores import Within
    from service.stores.folder import _BLAS_THREADS_FROM, FolderStore

    rng = np.random.default_rng(3)
    store = FolderStore.__new__(FolderStore)  # only the exact-search state, no folder
    vectors = rng.standard_normal((_BLAS_THREADS_FROM + 1000, 16)).astype(np.float32)
    store._flat = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # unit length, as the index's
    store._flat[7] = store._flat[3]  # a tie: the lower row comes first
    query = store._flat[3].copy()
    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    top = store._exact_top(query, 50, None)
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before
    scores = store._flat @ query
    assert top[:2].tolist() == [3, 7]
    assert set(top.tolist()) == set(np.argsort(-scores, kind="stable")[:50].tolist())
    rows = np.arange(0, len(store._flat), 2)
    within = store._exact_top(query, 10, Within(np.zeros(0, dtype=np.int64), rows))
    assert set(within.tolist()) == set(rows[np.argsort(-scores[rows], kind="stable")[:10]].tolist())
