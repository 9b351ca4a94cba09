"""What retrieval reads from an index version, whatever holds it: the store seam.

``service.search.Searcher`` talks to a ``Store`` only. Two implement it:

- ``FolderStore`` (``service.stores.folder``, the default): an index folder's version loaded in memory
  (FAISS, bm25s, NumPy arrays), exactly as before the seam;
- ``PostgresStore`` (``service.stores.postgres``): a version published into PostgreSQL + pgvector
  (``kb index --store postgresql://...``); vectors, postings and sentences stay in the database and
  are read per query, so any number of stateless replicas can serve the same version.

A store holds one immutable version. What is small and read on every query (documents and their
metadata, each passage's document, offsets and section) is handed over once as plain arrays; what
is large (vectors, postings, sentences) is asked for per query, for the passages a query touches.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)  # slots: a million records without a dict each
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
    description: str | None = None  # an untitled document's bracketed description in citations


@dataclass(frozen=True)
class PassageTable:
    """Every passage of the version by row number: its document (number), offsets and section."""

    doc: np.ndarray  # int64 document number (position in ``Store.documents()``)
    start: np.ndarray  # int64 offsets into that document's text, ``text[start:end]``
    end: np.ndarray
    section: list[str | None]


@dataclass(frozen=True)
class Sentences:
    """The sentences of some passages: one run per passage asked for, in that order, each run in the
    passage's order. ``count[i]`` is the length of passage i's run; the other fields are flat."""

    count: np.ndarray  # int64, one per passage asked for
    ids: np.ndarray  # int64 sentence numbers (a sentence two passages share has one number)
    start: np.ndarray  # int64 offsets into the passage's document
    end: np.ndarray
    alone: np.ndarray  # (n, dim) float32, each sentence embedded alone (highlights, "no answer")
    context: np.ndarray  # (n, dim) float32, each sentence embedded with its neighbours (ranking)


class Within(NamedTuple):
    """A doc_ids restriction: the documents' numbers and all their passages' rows."""

    docs: np.ndarray
    rows: np.ndarray


Span = tuple[int, int]


class KeywordField(Protocol):
    """BM25 over one field: passage bodies (rows are passages) or document titles (rows are documents)."""

    def analyse(self, text: str) -> list[Hashable | None]:
        """A term for each content word of the text (stop words left out), None for a word the field
        never saw. Terms are opaque: compare them, pass them back to ``idf`` and ``holding``."""
        ...

    def scores(self, text: str) -> np.ndarray:
        """BM25 (bm25s' Lucene variant, k1 1.5, b 0.75) of every row for a query, float32."""
        ...

    def idf(self, term: Hashable) -> float:
        ...

    @property
    def max_idf(self) -> float:
        """The IDF of a term found in one row only: the largest any term can have."""
        ...

    def holding(self, terms: list[Hashable], items: np.ndarray) -> np.ndarray:
        """Which of the items (rows of this field) hold each term: bool, one row per term, one column per item."""
        ...


class Store(Protocol):
    """One immutable index version, as ``Searcher`` reads it."""

    version: str  # the version's name (``v-<time>-<hash>-<random>``)
    version_dir: Path  # its folder (folder store), or a path named after the version (logs, metrics)
    manifest: dict  # the build's manifest (model, chunking, sources, files and their sha256)
    remote: bool  # True when calls wait on the network: callers keep them off an event loop
    body: KeywordField  # BM25 of passage bodies
    title: KeywordField | None  # BM25 of document titles (None when no document has one)

    def documents(self) -> list[DocumentRecord]:
        """Every document with its text, by document number."""
        ...

    def passages(self) -> PassageTable:
        ...

    def dense_top(self, vector: np.ndarray, depth: int, within: Within | None = None) -> np.ndarray:
        """Rows of the ``depth`` passages whose vectors have the largest inner product with ``vector``
        (cosine: vectors are unit length), best first; with ``within``, among those passages only."""
        ...

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), dim) float32 stored passage vectors, in the order asked."""
        ...

    def sentences(self, rows: np.ndarray) -> Sentences:
        ...

    def neighbours(self, passages: Sequence[tuple[int, int, int]]) -> list[tuple[Span | None, Span | None]]:
        """For each (document number, start, end): the sentence of that document just before ``start``
        (the last one ending at or before it) and just after ``end`` (the first one starting at or
        after it), or None."""
        ...

    def encoder_dir(self) -> Path:
        """A local folder holding the version's ONNX query encoder (``service.encoder.QueryEncoder``)."""
        ...

    def close(self) -> None:
        ...


def is_postgres(source: str | Path) -> bool:
    return isinstance(source, str) and source.startswith(POSTGRES_SCHEMES)


def open_store(source: str | Path) -> Store:
    """The live version of an index folder, or of a PostgreSQL store (a ``postgresql://`` URL).

    Raises ``indexer.store.BadIndexError`` when there is none or it cannot be used."""
    if is_postgres(source):
        from service.stores.postgres import PostgresStore

        return PostgresStore(str(source))
    from indexer import store
    from service.stores.folder import FolderStore

    version = store.current_version(Path(source))
    if version is None:
        raise store.BadIndexError(f"no index in {source} (run `kb index` first)")
    return FolderStore(version)


def live_version(source: str | Path) -> str | None:
    """The name of the version a source serves now (None: no index yet); BadIndexError if broken."""
    if is_postgres(source):
        from service.stores.postgres import live_version as pg_live_version

        return pg_live_version(str(source))
    from indexer import store

    version = store.current_version(Path(source))
    return None if version is None else version.name
