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

import bisect
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from indexer import store
from indexer.keyword import KeywordIndex
from indexer.model import DIMENSION, MODEL_NAME
from service.encoder import QueryEncoder

MODES = ("hybrid", "dense", "keyword")


@dataclass(frozen=True)
class SearchParams:
    """Tunable knobs, chosen by measurement on the development questions (see docs/RETRIEVAL.md)."""

    candidates: int = 40  # depth of each list before fusion
    rrf_k: float = 60.0
    rerank_depth: int = 30  # fused candidates that are reranked
    w_sentence: float = 0.7  # rerank: best sentence cosine
    w_passage: float = 0.3  # rerank: passage cosine
    w_keyword: float = 0.1  # rerank: BM25 score / best BM25 score among candidates
    min_score: float = 0.35  # "no answer" below this best-sentence cosine...
    keyword_floor: float = 0.15  # ...unless a short query's terms all occur in a passage this close
    keyword_query_words: int = 4
    highlight_max_sentences: int = 2
    duplicate_overlap: float = 0.5  # a hit sharing this share of its sentences with a better one is dropped


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


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    title: str
    published: str | None
    url: str | None
    author: str | None
    site: str | None
    kind: str
    sha256: str
    text: str
    passage_count: int


class QueryError(ValueError):
    """A query that cannot be searched (the HTTP layer turns it into a 4xx)."""


def _normalise_sentence(text: str) -> str:
    return " ".join(re.sub(r"^[\W\d]+", "", unicodedata.normalize("NFKC", text).lower()).split())


class Searcher:
    """A loaded, verified index version with its query encoder."""

    def __init__(self, version_dir: Path, threads: int | None = None, check_hashes: bool = True,
                 previous: Searcher | None = None) -> None:
        self.version_dir = version_dir
        self.manifest = store.verify(version_dir, MODEL_NAME, DIMENSION, check_hashes=check_hashes)
        try:
            self._load(version_dir, threads, previous)
        except store.BadIndexError:
            raise
        except Exception as exc:  # a damaged file that still had the right hash cannot happen; others can
            raise store.BadIndexError(f"{version_dir}: cannot load ({type(exc).__name__}: {exc})") from exc

    def _load(self, folder: Path, threads: int | None, previous: Searcher | None) -> None:
        self.documents: list[DocumentRecord] = []
        raw_docs = [json.loads(line) for line in (folder / "documents.jsonl").open(encoding="utf-8")]
        passages = [json.loads(line) for line in (folder / "passages.jsonl").open(encoding="utf-8")]
        counts: dict[str, int] = {}
        for p in passages:
            counts[p["doc_id"]] = counts.get(p["doc_id"], 0) + 1
        for d in raw_docs:
            self.documents.append(DocumentRecord(
                doc_id=d["doc_id"], title=d["title"], published=d.get("published"), url=d.get("url"),
                author=d.get("author"), site=d.get("site"),
                kind=d["kind"], sha256=d["sha256"], text=d["text"], passage_count=counts.get(d["doc_id"], 0),
            ))
        self.doc_by_id = {d.doc_id: d for d in self.documents}
        doc_number = {d.doc_id: i for i, d in enumerate(self.documents)}
        self.p_doc = np.array([doc_number[p["doc_id"]] for p in passages], dtype=np.int64)
        self.p_start = np.array([p["start"] for p in passages], dtype=np.int64)
        self.p_end = np.array([p["end"] for p in passages], dtype=np.int64)
        self.p_section = [p["section"] for p in passages]
        self.p_sentences = [np.array(p["sentences"], dtype=np.int64) for p in passages]
        # The same rows flat, with each passage's first position: one gather serves many passages.
        self.p_sentence_count = np.array([len(rows) for rows in self.p_sentences], dtype=np.int64)
        self.p_sentence_first = np.cumsum(self.p_sentence_count) - self.p_sentence_count
        self.p_sentence_flat = np.concatenate([np.zeros(0, dtype=np.int64), *self.p_sentences])

        self.dense = faiss.read_index(str(folder / "dense.faiss"))
        if self.dense.ntotal != len(passages) or self.dense.d != DIMENSION:
            raise store.BadIndexError(f"{folder}: dense index does not match the passage table")
        self.sentences = np.load(folder / "sentences.npy")
        self.sentence_vectors = np.load(folder / "sentence_vectors.npy")
        if len(self.sentences) != len(self.sentence_vectors):
            raise store.BadIndexError(f"{folder}: sentence vectors do not match the sentence table")
        # Per document, its sentences sorted by start, for context lookups.
        self.doc_sentences: list[list[tuple[int, int]]] = [[] for _ in self.documents]
        for d, s, e in self.sentences.tolist():
            self.doc_sentences[d].append((s, e))
        for spans in self.doc_sentences:
            spans.sort()
        self.sentence_keys = [_normalise_sentence(self.documents[d].text[s:e]) for d, s, e in self.sentences.tolist()]
        self.keyword = KeywordIndex(folder / "bm25")
        if previous is not None and _encoder_files(previous.manifest) == _encoder_files(self.manifest):
            self.encoder = previous.encoder  # same exported model, byte for byte: share the warm session
        else:
            self.encoder = QueryEncoder(folder / "encoder", threads=threads)

    @property
    def passage_count(self) -> int:
        return len(self.p_doc)

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
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}")
        if not query.strip():
            raise QueryError("query is empty")
        mask = None
        if doc_ids:
            unknown = [d for d in doc_ids if d not in self.doc_by_id]
            if unknown:
                raise QueryError(f"unknown doc_id: {unknown[0]!r}")
            wanted = np.array([i for i, d in enumerate(self.documents) if d.doc_id in set(doc_ids)])
            mask = np.isin(self.p_doc, wanted)
        threshold = params.min_score if min_score is None else min_score

        qv = self.encode([query])[0] if query_vector is None else query_vector
        n = self.passage_count
        depth = min(params.candidates, n)
        keyword_scores = self.keyword.scores(query) if mode != "dense" else np.zeros(n, dtype=np.float32)
        if mask is not None:
            keyword_scores = np.where(mask, keyword_scores, 0.0)
            allowed = np.flatnonzero(mask)
            allowed_scores = self.passage_vectors(allowed) @ qv
            dense_rank = [int(allowed[j]) for j in _top(allowed_scores, depth)]
        else:
            dense_rank = self._dense_top(qv, depth) if mode != "keyword" else []
        keyword_rank = [i for i in _top(keyword_scores, depth) if keyword_scores[i] > 0]
        if mode == "dense":
            fused = list(dense_rank)
        elif mode == "keyword":
            fused = list(keyword_rank)
        else:
            fused = _rrf([dense_rank, keyword_rank], params.rrf_k)

        candidates = fused[: max(params.rerank_depth, k)] if rerank else fused
        scored = self._rerank(np.array(candidates, dtype=np.int64), qv, keyword_scores, rerank, params)

        if not scored or not self._answerable(query, scored, keyword_scores, threshold, params):
            return []
        if max(t[2] for t in scored) < threshold:
            # Answered on keyword evidence alone: only passages that carry that evidence are answers.
            scored = [t for t in scored if t[4] >= 0.5]

        hits: list[Hit] = []
        seen: set[str] = set()  # sentences already shown
        quoted: set[str] = set()  # sentences already offered as the answer
        shown_sets: list[set[str]] = []  # each shown hit's sentences
        for score, i, best_sentence, passage_cos, kw, sent_cos in scored:
            keys = [self.sentence_keys[r] for r in self.p_sentences[i]]
            # A near-duplicate repeats what a better hit already shows, or offers the same answer again.
            overlap = params.duplicate_overlap
            if keys and (sum(key in seen for key in keys) >= overlap * len(keys)
                         or keys[int(np.argmax(sent_cos))] in quoted
                         or any(len(shown & set(keys)) >= overlap * len(shown) for shown in shown_sets)):
                continue
            seen.update(keys)
            shown_sets.append(set(keys))
            if keys:
                quoted.add(keys[int(np.argmax(sent_cos))])
            hits.append(self._hit(len(hits) + 1, score if rerank else passage_cos, i, sent_cos, params,
                                  {"sentence": best_sentence, "passage": passage_cos, "keyword": kw}))
            if len(hits) == k:
                break
        return hits

    def _rerank(self, candidates: np.ndarray, qv: np.ndarray, keyword_scores: np.ndarray, rerank: bool,
                params: SearchParams) -> list[tuple]:
        """Score candidates by best sentence, passage and keyword evidence; best first.

        Each tuple: (score, passage, best sentence cosine, passage cosine, keyword share, sentence cosines).
        All candidates' sentences are scored in one matrix product, whatever the size of the corpus."""
        if len(candidates) == 0:
            return []
        passage_cos = (self.passage_vectors(candidates) @ qv).astype(np.float64)
        counts = self.p_sentence_count[candidates]
        ends = np.cumsum(counts)
        starts = ends - counts  # where each candidate's sentences begin in the gathered rows
        positions = np.repeat(self.p_sentence_first[candidates] - starts, counts) + np.arange(ends[-1])
        sentence_cos = self.sentence_vectors[self.p_sentence_flat[positions]] @ qv
        best_sentence = np.zeros(len(candidates), dtype=np.float64)
        some = counts > 0
        if some.any():
            best_sentence[some] = np.maximum.reduceat(sentence_cos, starts[some])
        kw_scores = keyword_scores[candidates].astype(np.float64)
        best_kw = float(kw_scores.max()) or 1.0
        kw = kw_scores / best_kw
        if rerank:
            score = params.w_sentence * best_sentence + params.w_passage * passage_cos + params.w_keyword * kw
        else:
            score = -np.arange(len(candidates), dtype=np.float64)  # keep the fused order
        no_sentences = np.zeros(1, dtype=np.float32)
        return [
            (float(score[j]), int(candidates[j]), float(best_sentence[j]), float(passage_cos[j]), float(kw[j]),
             sentence_cos[starts[j]:ends[j]] if counts[j] else no_sentences)
            for j in np.argsort(-score, kind="stable")
        ]

    def _answerable(self, query: str, scored: list, keyword_scores: np.ndarray, threshold: float,
                    params: SearchParams) -> bool:
        """The "no answer" rule: some sentence is close enough to the question, or every known term of a
        short keyword query ("RICE", "Nadella") occurs in one passage that is not unrelated."""
        best_sentence = max(t[2] for t in scored)
        if best_sentence >= threshold:
            return True
        if best_sentence < params.keyword_floor or len(query.split()) > params.keyword_query_words:
            return False
        best_kw = int(np.argmax(keyword_scores))
        return keyword_scores[best_kw] > 0 and self.keyword.coverage(query, best_kw) == 1.0

    def _dense_top(self, qv: np.ndarray, depth: int) -> list[int]:
        _, ids = self.dense.search(qv.reshape(1, -1).astype(np.float32), depth)
        return [int(i) for i in ids[0] if i >= 0]

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of some passages (flat and HNSW-flat indexes both keep them exactly)."""
        if len(rows) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return self.dense.reconstruct_batch(rows.astype(np.int64))

    # ------------------------------------------------------------------ presentation

    def _hit(self, rank: int, score: float, i: int, sent_cos: np.ndarray, params: SearchParams,
             parts: dict[str, float]) -> Hit:
        doc = self.documents[int(self.p_doc[i])]
        start, end = int(self.p_start[i]), int(self.p_end[i])
        return Hit(
            rank=rank, score=round(float(score), 6), doc_id=doc.doc_id, title=doc.title, section=self.p_section[i],
            start=start, end=end, text=doc.text[start:end],
            highlight=self._highlight(i, sent_cos, params),
            context_before=self._neighbour(int(self.p_doc[i]), start, before=True),
            context_after=self._neighbour(int(self.p_doc[i]), end, before=False),
            scores={k: round(v, 6) for k, v in parts.items()},
        )

    def _highlight(self, i: int, sent_cos: np.ndarray, params: SearchParams) -> Span:
        """The best sentence, joined by its neighbour when that one also matches nearly as well."""
        doc = self.documents[int(self.p_doc[i])]
        rows = self.p_sentences[i]
        if not len(rows):
            s, e = int(self.p_start[i]), int(self.p_end[i])
            return Span(s, e, doc.text[s:e])
        best = int(np.argmax(sent_cos))
        chosen = [best]
        if params.highlight_max_sentences > 1:
            neighbours = [j for j in (best - 1, best + 1) if 0 <= j < len(rows)]
            if neighbours:
                j = max(neighbours, key=lambda j: sent_cos[j])
                if sent_cos[j] >= sent_cos[best] - 0.05:
                    chosen.append(j)
        s = int(min(self.sentences[rows[j]][1] for j in chosen))
        e = int(max(self.sentences[rows[j]][2] for j in chosen))
        return Span(s, e, doc.text[s:e])

    def _neighbour(self, d: int, offset: int, before: bool) -> Span | None:
        spans = self.doc_sentences[d]
        text = self.documents[d].text
        if before:
            pos = bisect.bisect_right(spans, (offset, -1)) - 1
            while pos >= 0 and spans[pos][1] > offset:
                pos -= 1
            if pos < 0:
                return None
        else:
            pos = bisect.bisect_left(spans, (offset, -1))
            while pos < len(spans) and spans[pos][0] < offset:
                pos += 1
            if pos >= len(spans):
                return None
        s, e = spans[pos]
        return Span(s, e, text[s:e])


def _top(scores: np.ndarray, depth: int) -> list[int]:
    if depth <= 0:
        return []
    depth = min(depth, len(scores))
    part = np.argpartition(-scores, depth - 1)[:depth]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")] if np.isfinite(scores[i])]


def _rrf(rankings: list[list[int]], k: float) -> list[int]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for r, i in enumerate(ranking):
            fused[i] = fused.get(i, 0.0) + 1.0 / (k + r + 1)
    return sorted(fused, key=lambda i: -fused[i])


def _encoder_files(manifest: dict) -> dict[str, str]:
    return {k: v for k, v in (manifest.get("files") or {}).items() if k.startswith("encoder/")}


def load_searcher(index_dir: Path, threads: int | None = None, previous: Searcher | None = None) -> Searcher:
    """The live version of an index folder; ``previous`` lends its encoder when the model is unchanged."""
    version = store.current_version(index_dir)
    if version is None:
        raise store.BadIndexError(f"no index in {index_dir} (run `kb index` first)")
    return Searcher(version, threads=threads, previous=previous)
