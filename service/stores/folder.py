"""The embedded store: one version of an index folder, loaded in memory (the default).

FAISS for passage vectors, bm25s for keywords, NumPy arrays for sentences and their vectors: the
folder's files as ``indexer/build.py`` writes them (layout in ``indexer/store.py``)."""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
from threadpoolctl import ThreadpoolController

from indexer import layout, store
from indexer.keyword import KeywordIndex
from indexer.model import DIMENSION, MODEL_NAME
from service.stores import DocumentRecord, PassageTable, Sentences, Span, Within

#: The process's BLAS libraries, found once (finding them is the slow part of limiting their threads).
_ONE_BLAS_THREAD = ThreadpoolController()
#: BLAS's thread count is process-wide: one exact search at a time sets it to 1 and back (1.3 ms at 20,000
#: passages), so concurrent searches cannot leave it at whatever one of them read on entry.
_BLAS_LOCK = threading.Lock()
#: Below this many vectors a product is too small for BLAS to split (and the limit's 20 us would show).
_BLAS_THREADS_FROM = 4096


class FolderStore:
    """A verified version folder. ``check_hashes=False`` skips the files' checksums (tests, benches)."""

    remote = False

    def __init__(self, version_dir: Path, check_hashes: bool = True) -> None:
        self.version_dir = version_dir
        self.version = version_dir.name
        self.manifest = store.verify(version_dir, MODEL_NAME, DIMENSION, check_hashes=check_hashes)
        try:
            self._load(version_dir)
        except store.BadIndexError:
            raise
        except Exception as exc:  # a damaged file that still had the right hash cannot happen; others can
            raise store.BadIndexError(f"{version_dir}: cannot load ({type(exc).__name__}: {exc})") from exc

    def _load(self, folder: Path) -> None:
        raw_docs = [json.loads(line) for line in (folder / layout.DOCUMENTS).open(encoding="utf-8")]
        passages = [json.loads(line) for line in (folder / layout.PASSAGES).open(encoding="utf-8")]
        counts: dict[str, int] = {}
        for p in passages:
            counts[p["doc_id"]] = counts.get(p["doc_id"], 0) + 1
        self._documents = [DocumentRecord(
            doc_id=d["doc_id"], title=d["title"], published=d.get("published"), url=d.get("url"),
            author=d.get("author"), site=d.get("site"),
            kind=d["kind"], sha256=d["sha256"], text=d["text"], passage_count=counts.get(d["doc_id"], 0),
            description=d.get("description"),
        ) for d in raw_docs]
        doc_number = {d.doc_id: i for i, d in enumerate(self._documents)}
        self._passages = PassageTable(
            doc=np.array([doc_number[p["doc_id"]] for p in passages], dtype=np.int64),
            start=np.array([p["start"] for p in passages], dtype=np.int64),
            end=np.array([p["end"] for p in passages], dtype=np.int64),
            section=[p["section"] for p in passages],
        )
        # Each passage's sentence rows, flat, with each passage's first position: one gather serves many.
        p_sentences = [np.array(p["sentences"], dtype=np.int64) for p in passages]
        self.p_sentence_count = np.array([len(rows) for rows in p_sentences], dtype=np.int64)
        self.p_sentence_first = np.cumsum(self.p_sentence_count) - self.p_sentence_count
        self.p_sentence_flat = np.concatenate([np.zeros(0, dtype=np.int64), *p_sentences])

        self.dense = faiss.read_index(str(folder / layout.DENSE))
        if self.dense.ntotal != len(passages) or self.dense.d != DIMENSION:
            raise store.BadIndexError(f"{folder}: dense index does not match the passage table")
        # A flat (exact) index's vectors, viewed in place: searched with one matrix-vector product.
        flat = faiss.downcast_index(self.dense)
        self._flat = (faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
                      if isinstance(flat, faiss.IndexFlat) else None)
        self.sentence_table = np.load(folder / layout.SENTENCES)
        # Memory-mapped: a query reads the rows of its candidates' sentences only, so the service holds
        # (and the kernel keeps) the pages it uses, not every vector of a large index.
        # Plain-array views of the memory maps: the same file-backed pages, without np.memmap's
        # per-indexing overhead (a tenth of a search's gather time).
        self.sentence_vectors = np.load(folder / layout.SENTENCE_VECTORS, mmap_mode="r").view(np.ndarray)
        self.context_vectors = np.load(folder / layout.CONTEXT_VECTORS, mmap_mode="r").view(np.ndarray)
        if not len(self.sentence_table) == len(self.sentence_vectors) == len(self.context_vectors):
            raise store.BadIndexError(f"{folder}: sentence vectors do not match the sentence table")
        # Per document, its sentences sorted by start, for context lookups.
        self.doc_sentences: list[list[tuple[int, int]]] = [[] for _ in self._documents]
        for d, s, e in self.sentence_table.tolist():
            self.doc_sentences[d].append((s, e))
        for spans in self.doc_sentences:
            spans.sort()
        self.body = KeywordIndex(folder / layout.BODY_KEYWORDS)
        self.title = KeywordIndex(folder / layout.TITLE_KEYWORDS) if (folder / layout.TITLE_KEYWORDS).is_dir() else None

    def documents(self) -> list[DocumentRecord]:
        return self._documents

    def passages(self) -> PassageTable:
        return self._passages

    def dense_top(self, vector: np.ndarray, depth: int, within: Within | None = None) -> np.ndarray:
        """An exact index (up to ``indexer.dense.EXACT_MAX`` passages): one single-threaded matrix-vector
        product, ties by row. That is about twice as fast in a search as FAISS's own exact search, whose
        threads wait on the query encoder's threads still spinning on the two cores (measured in
        docs/BENCHMARKS.md). HNSW: FAISS; with ``within``, an id selector (the cost is one index search plus
        a hash set of the allowed rows, whatever the corpus size)."""
        if self._flat is not None:
            return self._exact_top(np.asarray(vector, dtype=np.float32).reshape(-1), depth, within)
        params = None
        if within is not None:  # the index is HNSW (indexer/dense.py makes flat or HNSW)
            selector = faiss.IDSelectorBatch(within.rows.astype(np.int64))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=faiss.downcast_index(self.dense).hnsw.efSearch)
        _, ids = self.dense.search(vector.reshape(1, -1).astype(np.float32), depth, params=params)
        return ids[0][ids[0] >= 0].astype(np.int64)

    def _exact_top(self, vector: np.ndarray, depth: int, within: Within | None) -> np.ndarray:
        rows = None if within is None else np.unique(within.rows)
        vectors = self._flat if rows is None else self._flat[rows]
        if len(vectors) < _BLAS_THREADS_FROM:
            scores = vectors @ vector
        else:
            with _BLAS_LOCK, _ONE_BLAS_THREAD.limit(limits=1, user_api="blas"):
                scores = vectors @ vector
        depth = min(depth, len(scores))
        if depth <= 0:
            return np.zeros(0, dtype=np.int64)
        top = np.argpartition(-scores, depth - 1)[:depth]
        top = top[np.lexsort((top, -scores[top]))]
        return (top if rows is None else rows[top]).astype(np.int64)

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Flat and HNSW-flat indexes both keep the vectors exactly."""
        if len(rows) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return self.dense.reconstruct_batch(rows.astype(np.int64))

    def sentences(self, rows: np.ndarray) -> Sentences:
        counts = self.p_sentence_count[rows]
        ends = np.cumsum(counts)
        starts = ends - counts  # where each passage's sentences begin in the gathered rows
        total = int(ends[-1]) if len(ends) else 0
        positions = np.repeat(self.p_sentence_first[rows] - starts, counts) + np.arange(total)
        ids = self.p_sentence_flat[positions]
        return Sentences(counts, ids, self.sentence_table[ids, 1], self.sentence_table[ids, 2],
                         self.sentence_vectors[ids], self.context_vectors[ids])

    def neighbours(self, passages: Sequence[tuple[int, int, int]]) -> list[tuple[Span | None, Span | None]]:
        return [(self._neighbour(d, start, before=True), self._neighbour(d, end, before=False))
                for d, start, end in passages]

    def _neighbour(self, d: int, offset: int, before: bool) -> Span | None:
        spans = self.doc_sentences[d]
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
        return spans[pos]

    def encoder_dir(self) -> Path:
        return self.version_dir / layout.ENCODER

    def close(self) -> None:
        pass
