"""The embedded store: one version of an index folder, loaded in memory (the default).

FAISS for passage vectors, bm25s for keywords, NumPy arrays for sentences and their vectors: the
folder's files as ``indexer/build.py`` writes them (layout in ``indexer/store.py``)."""

from __future__ import annotations

import json
import sys
import threading
from array import array
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


def _int64s(values: array) -> np.ndarray:
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, dtype=np.int64)


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
        # Line by line, into compact columns: a million records read whole as dicts first raised the load's
        # peak by about 2 GB, and the freed dicts stayed in the heap (docs/BENCHMARKS.md).
        passage_doc, passage_start, passage_end = array("q"), array("q"), array("q")
        sentence_count, sentence_flat = array("q"), array("q")
        section: list[str | None] = []
        with (folder / layout.PASSAGES).open(encoding="utf-8") as lines:
            passage_ids = []
            for line in lines:
                p = json.loads(line)
                passage_ids.append(p["doc_id"])
                passage_start.append(p["start"])
                passage_end.append(p["end"])
                section.append(p["section"])
                sentence_count.append(len(p["sentences"]))
                sentence_flat.extend(p["sentences"])
        counts: dict[str, int] = {}
        for doc_id in passage_ids:
            counts[doc_id] = counts.get(doc_id, 0) + 1
        self._documents = []
        with (folder / layout.DOCUMENTS).open(encoding="utf-8") as lines:
            for line in lines:
                d = json.loads(line)
                doc_id = d["doc_id"]
                self._documents.append(DocumentRecord(
                    # An untitled document's title is its id: one string for both.
                    doc_id=doc_id, title=doc_id if d["title"] == doc_id else d["title"],
                    published=d.get("published"), url=d.get("url"), author=d.get("author"), site=d.get("site"),
                    kind=sys.intern(d["kind"]), sha256=d["sha256"], text=d["text"],
                    passage_count=counts.get(doc_id, 0), description=d.get("description"),
                ))
        del counts
        doc_number = {d.doc_id: i for i, d in enumerate(self._documents)}
        passage_doc.extend(doc_number[doc_id] for doc_id in passage_ids)
        del passage_ids, doc_number
        self._passages = PassageTable(doc=_int64s(passage_doc), start=_int64s(passage_start),
                                      end=_int64s(passage_end), section=section)
        # Each passage's sentence rows, flat, with each passage's first position: one gather serves many.
        self.p_sentence_count = _int64s(sentence_count)
        self.p_sentence_first = np.cumsum(self.p_sentence_count) - self.p_sentence_count
        self.p_sentence_flat = _int64s(sentence_flat)

        self.dense = faiss.read_index(str(folder / layout.DENSE))
        if self.dense.ntotal != len(section) or self.dense.d != DIMENSION:
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
        # Every sentence's span by document, then start, then end, and where each document's spans begin:
        # the context lookups' search order, in three arrays rather than a list of tuples a document.
        by_place = np.lexsort((self.sentence_table[:, 2], self.sentence_table[:, 1], self.sentence_table[:, 0]))
        self._span_start = np.ascontiguousarray(self.sentence_table[by_place, 1])
        self._span_end = np.ascontiguousarray(self.sentence_table[by_place, 2])
        self._doc_spans = np.searchsorted(self.sentence_table[by_place, 0], np.arange(len(self._documents) + 1))
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
        first, last = int(self._doc_spans[d]), int(self._doc_spans[d + 1])
        pos = first + int(np.searchsorted(self._span_start[first:last], offset))  # the first starting at or after
        if before:
            pos -= 1  # the last starting before ``offset``; then back to one that also ends by then
            while pos >= first and self._span_end[pos] > offset:
                pos -= 1
            if pos < first:
                return None
        elif pos >= last:
            return None
        return int(self._span_start[pos]), int(self._span_end[pos])

    def encoder_dir(self) -> Path:
        return self.version_dir / layout.ENCODER

    def close(self) -> None:
        pass
