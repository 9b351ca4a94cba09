"""Retrieval as plain functions over a loaded index: no HTTP here.

A search runs in four steps:
1. candidates: dense (FAISS inner product) and keyword (BM25) lists, fused by reciprocal rank;
2. rerank: each candidate is scored by how well its best sentence and the whole passage match the
   question (cosine with the same model), plus a small share of its keyword evidence;
3. "no answer": if even the best sentence is not close enough to the question, nothing is returned;
4. presentation: near-duplicates are dropped, each hit gets its best sentences as a highlight and a
   sentence of context on either side, all as verbatim ranges of the document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import store
from service.answerable import AnswerModel, answer_features, term_coverage
from service.encoder import QueryEncoder
from service.spelling import Speller
from service.stores import DocumentRecord, Store, Within, open_store

MODES = ("hybrid", "dense", "keyword")


@dataclass(frozen=True)
class SearchParams:
    """Tunable knobs, chosen by cross-validation over several sets (see docs/RETRIEVAL.md)."""

    depth: int = 200  # candidates taken from each list, whatever k is
    title_weight: float = 1.0  # BM25 of the title field, added to each passage of the document
    w_keyword: float = 0.1  # fusion: BM25 / best BM25 in the pool
    w_dense: float = 0.4  # fusion: passage cosine, min-max scaled over the pool
    w_sentence: float = 0.5  # fusion: best-sentence cosine, min-max scaled over the pool
    window_share: float = 0.75  # that cosine: this share from the sentence read with its neighbours, the rest alone
    w_coverage: float = 0.05  # added to the fused score: IDF-weighted share of the query's words the passage holds
    within_weight: float = 0.0  # within a document: best-sentence score relative to the document's best
    prf_passages: int = 3  # pseudo-relevance feedback: passages the query vector moves towards (0: off)
    prf_weight: float = 1.0  # how far it moves (Rocchio's beta, the query's weight being 1)
    rrf_k: float = 60.0  # plain reciprocal-rank fusion (rerank=False), the baseline
    min_score: float | None = None  # "no answer" below this answer probability (None: the model's, chosen by CV)
    highlight_max_sentences: int = 2
    duplicate_overlap: float = 0.5  # a hit sharing this share of its sentences with a better one is dropped


@dataclass
class Pool:
    """The candidate passages of one query with every signal the ranking and "no answer" use."""

    rows: np.ndarray  # passage numbers
    docs: np.ndarray  # their document numbers
    keyword: np.ndarray  # BM25 (body + weighted title)
    dense: np.ndarray  # passage cosine
    sentence: np.ndarray  # best cosine of a sentence read with its neighbours (ranking)
    exact: np.ndarray  # best cosine of a sentence alone (the "no answer" model)
    sentence_flat: np.ndarray  # every candidate's sentence cosines, one after another, in passage order
    sentence_start: np.ndarray  # where each candidate's run begins in sentence_flat
    sentence_end: np.ndarray
    sentence_spans: np.ndarray  # (n, 3) int64 beside sentence_flat: sentence number, start, end
    vectors: np.ndarray  # (n, dim) float32 passage vectors, as the store gave them
    coverage: np.ndarray  # IDF-weighted share of the query's known words in the passage or its title
    missing: np.ndarray  # the most distinctive known query word the passage and its title lack (IDF / max)

    def sentence_cos(self, j: int) -> np.ndarray:
        """Sentence cosines of the j-th candidate (empty for a passage without sentences)."""
        return self.sentence_flat[self.sentence_start[j]:self.sentence_end[j]]

    def spans(self, j: int) -> np.ndarray:
        """The j-th candidate's sentences: rows of (sentence number, start, end), in passage order."""
        return self.sentence_spans[self.sentence_start[j]:self.sentence_end[j]]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass
class Hit:
    rank: int
    score: float
    doc_id: str
    title: str
    section: str | None
    start: int
    end: int
    text: str
    highlight: Span
    context_before: Span | None
    context_after: Span | None
    scores: dict[str, float] = field(default_factory=dict)


class QueryError(ValueError):
    """A query that cannot be searched (the HTTP layer turns it into a 4xx)."""


def _normalise_sentence(text: str) -> str:
    return " ".join(re.sub(r"^[\W\d]+", "", unicodedata.normalize("NFKC", text).lower()).split())


class DocumentsById(Mapping[str, DocumentRecord]):
    """The documents by id, read through the id -> number table the searcher keeps anyway (a second dict of
    a million entries costs about 100 MB)."""

    def __init__(self, documents: list[DocumentRecord], numbers: dict[str, int]) -> None:
        self._documents, self._numbers = documents, numbers

    def __getitem__(self, doc_id: str) -> DocumentRecord:
        return self._documents[self._numbers[doc_id]]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._numbers

    def __iter__(self) -> Iterator[str]:
        return iter(self._numbers)

    def __len__(self) -> int:
        return len(self._numbers)


class Searcher:
    """A loaded, verified index version with its query encoder, over a store (``service.stores``)."""

    def __init__(self, source: Store, threads: int | None = None, previous: Searcher | None = None) -> None:
        self.store = source
        self.version = source.version
        self.version_dir = source.version_dir
        self.manifest = source.manifest
        try:
            self._load(threads, previous)
        except store.BadIndexError:
            raise
        except Exception as exc:  # a damaged file that still had the right hash cannot happen; others can
            raise store.BadIndexError(f"{self.version_dir}: cannot load ({type(exc).__name__}: {exc})") from exc

    def _load(self, threads: int | None, previous: Searcher | None) -> None:
        self.documents: list[DocumentRecord] = self.store.documents()
        self.doc_number = {d.doc_id: i for i, d in enumerate(self.documents)}
        self.doc_by_id = DocumentsById(self.documents, self.doc_number)
        passages = self.store.passages()
        self.p_doc, self.p_start, self.p_end = passages.doc, passages.start, passages.end
        self.p_section = passages.section
        # Sentence keys (for near-duplicates), made when a sentence is first shown: sentence number -> key.
        self._sentence_keys: dict[int, str] = {}
        self._sentence_quotable: dict[int, bool] = {}  # the same, for quotable() of a highlight's sentences
        self.keyword = self.store.body
        self.title_keyword = self.store.title
        self.speller = Speller.from_texts(d.text for d in self.documents)
        # Each document's passage numbers, in document order, and where each document's begin: a doc_ids
        # filter costs what the chosen documents hold.
        self._rows_by_doc = np.argsort(self.p_doc, kind="stable")
        self._doc_bounds = np.searchsorted(self.p_doc[self._rows_by_doc], np.arange(len(self.documents) + 1))
        self.doc_passages = np.maximum(np.diff(self._doc_bounds), 1)
        self.answer_model = AnswerModel.load("question")
        self.claim_model = AnswerModel.load("claim")
        if previous is not None and _encoder_files(previous.manifest) == _encoder_files(self.manifest):
            self.encoder = previous.encoder  # same exported model, byte for byte: share the warm session
        else:
            self.encoder = QueryEncoder(self.store.encoder_dir(), threads=threads)

    @property
    def passage_count(self) -> int:
        return len(self.p_doc)

    def doc_rows(self, number: int) -> np.ndarray:
        """The passage rows of document ``number``, in order."""
        return self._rows_by_doc[self._doc_bounds[number]:self._doc_bounds[number + 1]]

    def encode(self, queries: list[str], lane: bool = False) -> np.ndarray:
        return self.encoder.encode(queries, lane=lane)

    # ------------------------------------------------------------------ retrieval

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        rerank: bool = True,
        doc_ids: list[str] | None = None,
        min_score: float | None = None,
        params: SearchParams = SearchParams(),
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The best ``k`` passages, or [] when the sources do not answer the query.

        The ranking of the first ``k`` never depends on ``k``: every list is cut at ``params.depth``.
        ``rerank=False`` ranks by plain reciprocal-rank fusion of the lists (the baseline)."""
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}")
        if not query.strip():
            raise QueryError("query is empty")
        qv = self.encode([query])[0] if query_vector is None else query_vector
        pool = self.pool(query, qv, mode, doc_ids, params)
        if not len(pool):
            return []
        scores = self.fuse(pool, mode, params) if rerank else self.rrf(pool, mode, params)
        threshold = next(t for t in (min_score, params.min_score, self.answer_model.threshold) if t is not None)
        # Whatever the mode, "is there an answer" is decided on the passage that every signal ranks first.
        decider = scores if mode == "hybrid" and rerank else self.fuse(pool, "hybrid", params)
        if threshold > 0 and self.answer_probability(query, qv, pool, decider) < threshold:
            return []
        return self._present(pool, scores, k, params)

    def evidence(self, text: str, vector: np.ndarray, k: int, params: SearchParams = SearchParams()
                 ) -> tuple[float, list[Hit]]:
        """For a claim (the draft check): how likely its best passage states it (the claim model of the
        same decision), and the best ``k`` passages whatever that likelihood is."""
        pool = self.pool(text, vector, "hybrid", None, params)
        if not len(pool):
            return 0.0, []
        scores = self.fuse(pool, "hybrid", params)
        probability = self.claim_model.probability(answer_features(self, text, vector, pool, scores))
        return probability, self._present(pool, scores, k, params)

    # ------------------------------------------------------------------ candidates and signals

    def keyword_scores(self, query: str, params: SearchParams) -> np.ndarray:
        scores = self.keyword.scores(query)
        if self.title_keyword is not None and params.title_weight:
            scores = scores + params.title_weight * self.title_keyword.scores(query)[self.p_doc]
        return scores

    def pool(self, query: str, qv: np.ndarray, mode: str, doc_ids: list[str] | None,
             params: SearchParams) -> Pool:
        """Union of the top ``depth`` of the dense and keyword lists (those the mode uses), with signals.

        With pseudo-relevance feedback, the dense list and passage cosines come from the query vector
        moved towards the first ranking's best passages (Rocchio); sentence cosines always use the
        query as asked, so the highlight answers the question, not its expansion."""
        allowed = self._allowed(doc_ids)
        depth = min(params.depth, self.passage_count)
        keyword = self.keyword_scores(query, params)
        keyword_top = (self._keyword_top(keyword, None if allowed is None else allowed.rows, depth) if mode != "dense"
                       else np.zeros(0, dtype=np.int64))
        if mode == "keyword":
            return self._signals(query, keyword_top, qv, qv, keyword)
        rows = np.union1d(self._dense_top(qv, depth, allowed), keyword_top)
        if not params.prf_passages or not len(rows):
            return self._signals(query, rows, qv, qv, keyword)
        # Feedback passages: the best of the two lists alone, equally weighted (no sentence evidence).
        fetched = self.passage_vectors(rows)
        first = _minmax(fetched @ qv)
        best_kw = float(keyword[rows].max())
        if mode == "hybrid" and best_kw > 0:
            first = first + keyword[rows] / best_kw
        best = np.argsort(-first, kind="stable")[:params.prf_passages]
        moved = qv + params.prf_weight * fetched[best].mean(axis=0)
        moved = (moved / np.linalg.norm(moved)).astype(np.float32)
        return self._signals(query, np.union1d(self._dense_top(moved, depth, allowed), keyword_top), moved, qv,
                             keyword, fetched=(rows, fetched))

    def _keyword_top(self, keyword: np.ndarray, allowed: np.ndarray | None, depth: int) -> np.ndarray:
        """The ``depth`` best passages by BM25 among those sharing a word with the query. Most passages of a
        large corpus share none: selecting among the matched ones only costs a scan of the scores, where
        a partition of all of them cost about a third of a search at a million passages (docs/BENCHMARKS.md)."""
        scores = keyword if allowed is None else keyword[allowed]
        matched = np.flatnonzero(scores > 0)
        top = matched[_top(scores[matched], depth)]
        return top if allowed is None else allowed[top]

    def _dense_top(self, qv: np.ndarray, depth: int, allowed: Within | None = None) -> np.ndarray:
        """The ``depth`` nearest passages; with ``allowed``, among those only."""
        return self.store.dense_top(qv, depth, allowed)

    def _allowed(self, doc_ids: list[str] | None) -> Within | None:
        if not doc_ids:
            return None
        unknown = [d for d in doc_ids if d not in self.doc_by_id]
        if unknown:
            raise QueryError(f"unknown doc_id: {unknown[0]!r}")
        numbers = sorted({self.doc_number[d] for d in doc_ids})
        return Within(np.array(numbers, dtype=np.int64), np.concatenate([self.doc_rows(i) for i in numbers]))

    def _signals(self, query: str, rows: np.ndarray, dense_query: np.ndarray, sentence_query: np.ndarray,
                 keyword: np.ndarray, fetched: tuple[np.ndarray, np.ndarray] | None = None) -> Pool:
        """Passage cosine, best-sentence cosine, BM25 and query-word coverage of the candidates: one matrix
        product each. ``fetched``: (sorted rows, their vectors) already read from the store this query."""
        if len(rows) == 0:
            empty = np.zeros(0)
            return Pool(rows, rows, empty, empty, empty, empty, empty, rows, rows, np.zeros((0, 3), dtype=np.int64),
                        self.passage_vectors(rows), empty, empty)
        vectors = self._vectors(rows, fetched)  # gathered once for both queries
        dense = (vectors @ dense_query).astype(np.float64)
        sentences = self.store.sentences(rows)
        counts = sentences.count
        ends = np.cumsum(counts)
        starts = ends - counts  # where each candidate's sentences begin in the gathered rows
        sentence_cos = sentences.alone @ sentence_query
        context_cos = sentences.context @ sentence_query
        # A passage without sentences (an empty record) counts by its passage cosine.
        fallback = (vectors @ sentence_query).astype(np.float64) if dense_query is not sentence_query else dense
        best, exact = fallback.copy(), fallback.copy()
        some = counts > 0
        if some.any():
            best[some] = np.maximum.reduceat(context_cos, starts[some])
            exact[some] = np.maximum.reduceat(sentence_cos, starts[some])
        docs = self.p_doc[rows]
        return Pool(rows, docs, keyword[rows].astype(np.float64), dense, best, exact,
                    sentence_cos, starts, ends, np.stack([sentences.ids, sentences.start, sentences.end], axis=1),
                    vectors, *term_coverage(self, query, rows, docs))

    def _vectors(self, rows: np.ndarray, fetched: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        """Passage vectors of ``rows``, reading from the store only those not in ``fetched`` (a database
        store pays a round trip and a transfer per read)."""
        if fetched is None:
            return self.passage_vectors(rows)
        known_rows, known = fetched
        at = np.minimum(np.searchsorted(known_rows, rows), len(known_rows) - 1)
        hit = known_rows[at] == rows
        if hit.all():
            return known[at]
        out = np.empty((len(rows), known.shape[1]), dtype=known.dtype)
        out[hit] = known[at[hit]]
        out[~hit] = self.passage_vectors(rows[~hit])
        return out

    # ------------------------------------------------------------------ ranking

    def fuse(self, pool: Pool, mode: str, params: SearchParams) -> np.ndarray:
        """Convex combination of the pool's signals, each scaled to [0, 1] over the pool.

        BM25 is divided by its best (its floor is 0), the cosines are min-max scaled: scaling over a
        pool of fixed depth keeps the weights meaningful from one query and one corpus to the next.
        Best-sentence evidence counts in proportion to how much a document was cut (1 - 1/passages):
        a document that is one passage is judged whole by the passage cosine, while in a long
        article the answer is one sentence among many. Within a document, passages are further
        ordered by their best sentence (``within_weight``). In hybrid mode, the share of the query's
        distinctive words a passage holds is added (``w_coverage``): BM25 rewards a word repeated,
        coverage a question answered in its own terms."""
        w_k = 0.0 if mode == "dense" else params.w_keyword
        w_d, w_s = (0.0, 0.0) if mode == "keyword" else (params.w_dense, params.w_sentence)
        best_kw = float(pool.keyword.max()) if len(pool) else 0.0
        keyword = pool.keyword / best_kw if best_kw > 0 else pool.keyword
        sentence = _minmax(params.window_share * pool.sentence + (1.0 - params.window_share) * pool.exact)
        w_s = w_s * (1.0 - 1.0 / self.doc_passages[pool.docs])
        total = w_k + w_d + w_s
        score = (w_k * keyword + w_d * _minmax(pool.dense) + w_s * sentence) / np.where(total > 0, total, 1.0)
        if mode != "keyword" and params.within_weight:
            score = score + params.within_weight * (sentence - _group_max(pool.docs, sentence))
        if mode == "hybrid" and params.w_coverage:
            score = score + params.w_coverage * pool.coverage
        return score

    @staticmethod
    def rrf(pool: Pool, mode: str, params: SearchParams) -> np.ndarray:
        """Plain reciprocal-rank fusion of the dense and keyword lists (ranks within the pool)."""
        score = np.zeros(len(pool))
        if mode != "keyword":
            score += 1.0 / (params.rrf_k + 1 + _ranks(pool.dense))
        if mode != "dense":
            score += np.where(pool.keyword > 0, 1.0 / (params.rrf_k + 1 + _ranks(pool.keyword)), 0.0)
        return score

    def answer_probability(self, query: str, qv: np.ndarray, pool: Pool, scores: np.ndarray) -> float:
        """How likely the best-scored passage answers the query (service/answerable.py)."""
        return self.answer_model.probability(answer_features(self, query, qv, pool, scores))

    def _present(self, pool: Pool, scores: np.ndarray, k: int, params: SearchParams) -> list[Hit]:
        """The first ``k`` candidates by score that are not near-duplicates of a better one, as hits."""
        order = np.argsort(-scores, kind="stable")
        chosen: list[int] = []
        shown_in: dict[str, list[int]] = {}  # sentence -> the shown hits that hold it
        shown_sizes: list[int] = []  # each shown hit's number of distinct sentences
        quoted: set[str] = set()  # sentences already offered as the answer
        overlap = params.duplicate_overlap
        for j in order:
            sent_cos = pool.sentence_cos(j)
            keys = [self._sentence_key(int(pool.docs[j]), sid, s, e) for sid, s, e in pool.spans(j).tolist()]
            if keys:
                # A near-duplicate repeats what better hits already show (half of its sentences, or half
                # of one earlier hit's), or offers the same answer again.
                shared: dict[int, int] = {}
                for key in set(keys):
                    for h in shown_in.get(key, ()):
                        shared[h] = shared.get(h, 0) + 1
                if (sum(key in shown_in for key in keys) >= overlap * len(keys)
                        or keys[int(np.argmax(sent_cos))] in quoted
                        or any(n >= overlap * shown_sizes[h] for h, n in shared.items())):
                    continue
                for key in set(keys):
                    shown_in.setdefault(key, []).append(len(shown_sizes))
                shown_sizes.append(len(set(keys)))
                quoted.add(keys[int(np.argmax(sent_cos))])
            chosen.append(int(j))
            if len(chosen) == k:
                break
        rows = [int(pool.rows[j]) for j in chosen]
        contexts = self.store.neighbours([(int(self.p_doc[i]), int(self.p_start[i]), int(self.p_end[i])) for i in rows])
        return [self._hit(rank, float(scores[j]), pool, j, params, context)
                for rank, (j, context) in enumerate(zip(chosen, contexts, strict=True), start=1)]

    def indexed_ranges(self, doc_id: str) -> list[tuple[int, int]]:
        """The document's text covered by passages, as merged [start, end) ranges in order."""
        rows = self.doc_rows(self.doc_number[doc_id])
        merged: list[tuple[int, int]] = []
        for s, e in sorted(zip(self.p_start[rows].tolist(), self.p_end[rows].tolist(), strict=True)):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            elif e > s:
                merged.append((s, e))
        return merged

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of some passages."""
        return self.store.passage_vectors(rows)

    def _sentence_key(self, doc: int, number: int, start: int, end: int) -> str:
        key = self._sentence_keys.get(number)
        if key is None:
            key = self._sentence_keys[number] = _normalise_sentence(self.documents[doc].text[start:end])
        return key

    def _quotable(self, number: int, text: str, start: int, end: int) -> bool:
        known = self._sentence_quotable.get(number)
        if known is None:
            known = self._sentence_quotable[number] = quotable(text[start:end])
        return known

    # ------------------------------------------------------------------ presentation

    def _hit(self, rank: int, score: float, pool: Pool, j: int, params: SearchParams,
             context: tuple[tuple[int, int] | None, tuple[int, int] | None]) -> Hit:
        i = int(pool.rows[j])
        doc = self.documents[int(self.p_doc[i])]
        start, end = int(self.p_start[i]), int(self.p_end[i])
        # float() first: rounding a numpy scalar costs several times more, and a hit has four of them.
        parts = {"keyword": float(pool.keyword[j]), "passage": float(pool.dense[j]),
                 "sentence": float(pool.sentence[j])}
        before, after = (None if c is None else Span(c[0], c[1], doc.text[c[0]:c[1]]) for c in context)
        return Hit(
            rank=rank, score=round(float(score), 6), doc_id=doc.doc_id, title=doc.title, section=self.p_section[i],
            start=start, end=end, text=doc.text[start:end],
            highlight=self._highlight(i, pool.spans(j), pool.sentence_cos(j), params),
            context_before=before, context_after=after,
            scores={k: round(v, 6) for k, v in parts.items()},
        )

    def _highlight(self, i: int, spans: np.ndarray, sent_cos: np.ndarray, params: SearchParams) -> Span:
        """The best sentence, joined by its neighbour when that one also matches nearly as well."""
        doc = self.documents[int(self.p_doc[i])]
        if not len(spans):
            s, e = int(self.p_start[i]), int(self.p_end[i])
            return Span(s, e, doc.text[s:e])
        quotable_rows = np.array([self._quotable(number, doc.text, s, e) for number, s, e in spans.tolist()],
                                 dtype=bool)
        if quotable_rows.any():  # a heading, a lone name or a lead-in ending in ":" is not a quote to paste
            sent_cos = np.where(quotable_rows, sent_cos, -np.inf)
        best = int(np.argmax(sent_cos))
        chosen = [best]
        if params.highlight_max_sentences > 1:
            neighbours = [j for j in (best - 1, best + 1) if 0 <= j < len(spans)]
            if neighbours:
                j = max(neighbours, key=lambda j: sent_cos[j])
                if sent_cos[j] >= sent_cos[best] - 0.05:
                    chosen.append(j)
        s = int(min(spans[j][1] for j in chosen))
        e = int(max(spans[j][2] for j in chosen))
        s += _list_marker_length(doc.text[s:e])
        return Span(s, e, doc.text[s:e])


_LIST_MARKER = re.compile(r"(?:[-*+•▪◦–]|\(?\d{1,3}[.)]|[a-z][.)])\s+")


def _list_marker_length(text: str) -> int:
    """Characters of a leading list marker ("- ", "1. ", "• ") that a pasted quote should not start with."""
    m = _LIST_MARKER.match(text)
    return m.end() if m and m.end() < len(text) else 0


def quotable(text: str) -> bool:
    """A sentence a writer can paste as a quote: not a bare heading or name, not a lead-in ending in ":"."""
    body = text[_list_marker_length(text):].strip()
    if not body or body.endswith(":"):
        return False
    return body[-1] in ".!?\"”’)" or len(body.split()) > 8


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    """Positions of the ``depth`` highest finite scores, best first."""
    depth = min(depth, len(scores))
    if depth <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, depth - 1)[:depth]
    part = part[np.argsort(-scores[part], kind="stable")]
    return part[np.isfinite(scores[part])].astype(np.int64)


def _minmax(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _group_max(groups: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each element, the largest value of ``x`` among the elements of its group."""
    order = np.lexsort((x, groups))
    last = np.r_[groups[order][1:] != groups[order][:-1], True]  # the last (largest) of each group
    best = np.empty_like(x)
    group_end = np.cumsum(last[::-1])[::-1]  # group index counted from the end
    ends = order[last]
    best[order] = x[ends][len(ends) - group_end]
    return best


def _ranks(x: np.ndarray) -> np.ndarray:
    """0 for the highest value, 1 for the next..."""
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[np.argsort(-x, kind="stable")] = np.arange(len(x))
    return ranks


def _encoder_files(manifest: dict) -> dict[str, str]:
    return {k: v for k, v in (manifest.get("files") or {}).items() if k.startswith("encoder/")}


def load_searcher(source: Path | str, threads: int | None = None, previous: Searcher | None = None) -> Searcher:
    """The live version of an index folder or a ``postgresql://`` store; ``previous`` lends its encoder
    when the model is unchanged."""
    return Searcher(open_store(source), threads=threads, previous=previous)
