"""The distributed store: an index version in PostgreSQL + pgvector, read per query.

What is where (one schema per version, ``kbv_<version>``; the alias and the catalogue of versions in
the connection's schema, normally ``public``)::

    kb_versions(version, schema_name, manifest, published_at)   every published version
    kb_current(version)                                          the live one (one row, the alias)
    kb_blobs(sha256, data), kb_version_files(version, path, sha256)  the ONNX query encoder's files
    kbv_<version>.documents(doc, doc_id, title, ..., text)
    kbv_<version>.passages(passage, doc, char_start, char_end, section, body, sentences[], vector(384))
                                       HNSW index on vector (inner product), body = text[start:end]
    kbv_<version>.sentences(sentence, doc, char_start, char_end, alone vector(384), context vector(384))
    kbv_<version>.keyword_fields(field, rows, k1, b, stopwords)                  BM25 parameters
    kbv_<version>.keyword_terms(field, term, df, items, weights)   one posting list a row; item: passage or document

``field`` is ``body`` (items are passages) or ``title`` (items are documents). Terms are the stems
bm25s indexes (same tokenizer, stop words and stemmer as ``indexer/keyword.py``), and each term's row
holds bm25s' own postings and weights (Lucene IDF, k1 1.5, b 0.75): the service sums a query's
posting lists as bm25s does, so the scores are the same to the bit.
Publishing (``postgres_publish.py``) loads a version and switches ``kb_current`` in one transaction, so
a replica never reads a half-loaded version.

A ``PostgresStore`` is pinned to the version that was live when it opened; what it keeps in memory is
the small part (documents, each passage's document and offsets, the encoder files in a local cache)
and a bounded cache of the posting lists queries read; everything else (vectors, sentences, the HNSW
graph) is read per query. Replicas share
nothing but the database, so any number of them can serve any query.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from math import log
from pathlib import Path
from typing import Any

import numpy as np

from indexer import store
from indexer.keyword import rows_holding
from indexer.model import DIMENSION, MODEL_NAME
from service.stores import DocumentRecord, PassageTable, Sentences, Span, Within

GLOBAL_TABLES = """
CREATE TABLE IF NOT EXISTS kb_versions (
    version text PRIMARY KEY,
    schema_name text NOT NULL UNIQUE,
    manifest jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS kb_current (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version text NOT NULL REFERENCES kb_versions (version)
);
CREATE TABLE IF NOT EXISTS kb_blobs (
    sha256 text PRIMARY KEY,
    data bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS kb_version_files (
    version text NOT NULL REFERENCES kb_versions (version) ON DELETE CASCADE,
    path text NOT NULL,
    sha256 text NOT NULL REFERENCES kb_blobs (sha256),
    PRIMARY KEY (version, path)
);
"""

# Passages and sentences rows are over 2 kB (two vectors are 3 kB): keep them in the heap page rather
# than TOAST, which would cost a second lookup per vector read.
VERSION_TABLES = """
CREATE TABLE documents (
    doc integer PRIMARY KEY,
    doc_id text NOT NULL UNIQUE,
    title text NOT NULL,
    published text,
    url text,
    author text,
    site text,
    description text,
    kind text NOT NULL,
    sha256 text NOT NULL,
    source_sha256 text,
    text text NOT NULL
);
CREATE TABLE passages (
    passage integer PRIMARY KEY,
    doc integer NOT NULL REFERENCES documents (doc),
    char_start integer NOT NULL,
    char_end integer NOT NULL,
    section text,
    body text NOT NULL,
    sentences integer[] NOT NULL,
    vector vector({dim}) NOT NULL,
    CHECK (0 <= char_start AND char_start <= char_end)
) WITH (toast_tuple_target = 8160);
CREATE TABLE sentences (
    sentence integer PRIMARY KEY,
    doc integer NOT NULL REFERENCES documents (doc),
    char_start integer NOT NULL,
    char_end integer NOT NULL,
    alone vector({dim}) NOT NULL,
    context vector({dim}) NOT NULL,
    CHECK (0 <= char_start AND char_start <= char_end)
) WITH (toast_tuple_target = 8160);
CREATE TABLE keyword_fields (
    field text PRIMARY KEY CHECK (field IN ('body', 'title')),
    rows integer NOT NULL,
    k1 double precision NOT NULL,
    b double precision NOT NULL,
    stopwords text[] NOT NULL
);
CREATE TABLE keyword_terms (
    field text NOT NULL REFERENCES keyword_fields (field),
    term text NOT NULL,
    df integer NOT NULL,
    items bytea NOT NULL,
    weights bytea NOT NULL,
    PRIMARY KEY (field, term)
);
ALTER TABLE keyword_terms ALTER COLUMN items SET STORAGE EXTERNAL, ALTER COLUMN weights SET STORAGE EXTERNAL;
"""

#: A term's posting list is one row: the rows holding it (``items``, ascending) and bm25s' own BM25 weight of
#: the term in each (``weights``), as little-endian int32 and float32 bytes, the very arrays of bm25s' saved
#: index. A query reads one row per term, without compression (STORAGE EXTERNAL), and sums in float32 as
#: bm25s does: the same scores to the bit, and the database does no arithmetic per posting (measured:
#: docs/BENCHMARKS.md).
ITEM_TYPE, WEIGHT_TYPE = np.dtype("<i4"), np.dtype("<f4")
POSTINGS_CACHE_BYTES = 256 << 20  # posting lists kept in the service per store (a version never changes)

VERSION_INDEXES = """
CREATE INDEX ON passages (doc);
CREATE INDEX ON sentences (doc, char_start, char_end);
CREATE INDEX ON passages USING hnsw (vector vector_ip_ops) WITH (m = {m}, ef_construction = {ef_construction});
"""

# pgvector's HNSW, with FAISS's settings of indexer/dense.py. A query asks for ``depth`` (200) rows:
# ef_search must be at least that (FAISS searches with max(efSearch, k), the same 200), and the iterative
# scan keeps a doc_ids filter from returning fewer. Measured at 100,000 passages: 400 gives recall@10 1.000
# and recall@200 0.995 at 11 ms a search, 200 gives 0.998 and 0.981 at 6.5 ms (docs/BENCHMARKS.md).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 200
POOL_SIZE = 8  # connections per store (each query holds one per statement)


def schema_for(version: str) -> str:
    """The schema of a version: ``kbv_`` and the version name in lower case, ``-`` as ``_``."""
    name = "kbv_" + re.sub(r"[^a-z0-9_]", "_", version.lower())
    if len(name) > 63:
        name = name[:46] + "_" + hashlib.sha256(version.encode()).hexdigest()[:16]
    return name


def redact(dsn: str) -> str:
    """A connection URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", dsn)


# ---------------------------------------------------------------- vectors on the wire

def _vector_bytes(v: np.ndarray) -> bytes:
    """pgvector's binary format: dimension (int16), unused (int16), float32 values, big-endian."""
    return struct.pack(">HH", len(v), 0) + np.asarray(v, dtype=">f4").tobytes()


def _vector_array(data: Any) -> np.ndarray:
    return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def _vectors(data: bytes | None) -> np.ndarray:
    """Vectors sent one after another (``string_agg(vector_send(v))``) as an (n, dim) float32 array."""
    if not data:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 4 + 4 * DIMENSION)
    if struct.unpack(">H", raw[0, :2].tobytes())[0] != DIMENSION:
        raise ValueError(f"stored vectors are not of dimension {DIMENSION}")
    return raw[:, 4:].copy().view(">f4").astype(np.float32)


def _ints(data: bytes | None) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if not data else np.frombuffer(data, dtype=">i4").astype(np.int64)


def register_vector(conn: Any) -> None:
    """Numpy float arrays travel as pgvector ``vector`` values (binary), and come back as float32 arrays."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise store.BadIndexError("the pgvector extension is not installed in this database")
    info.register(conn)

    class VectorDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj: np.ndarray) -> bytes:
            return _vector_bytes(obj)

    class VectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            return _vector_array(data)

    conn.adapters.register_dumper(np.ndarray, VectorDumper)
    conn.adapters.register_loader(info.oid, VectorLoader)


def connect(dsn: str, vectors: bool = True) -> Any:
    """An autocommit connection; with ``vectors``, set up for pgvector (which must be installed)."""
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="kb")
    try:
        if vectors:
            setup_vectors(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def setup_vectors(conn: Any) -> None:
    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
    conn.execute("SET hnsw.iterative_scan = strict_order")


class _Connections:
    """A small thread-safe pool: idle connections are reused, broken ones dropped, at most ``size`` open."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.idle: queue.LifoQueue = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(size)
        self.closed = False

    @contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg

        self.slots.acquire()
        try:
            try:
                conn = self.idle.get_nowait()
            except queue.Empty:
                conn = connect(self.dsn)
            reuse = False
            try:
                yield conn
                reuse = True
            except psycopg.OperationalError:
                raise  # the server went away or the connection broke: do not reuse it
            except Exception:
                reuse = True  # an error in one statement leaves an autocommit connection usable
                raise
            finally:
                if reuse and not conn.closed and not self.closed and \
                        conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    self.idle.put(conn)
                else:
                    conn.close()
        finally:
            self.slots.release()

    def close(self) -> None:
        self.closed = True
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return


# ---------------------------------------------------------------- the store

def live_version(dsn: str) -> str | None:
    """The version ``kb_current`` names, or None when nothing was published to this database yet."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass('kb_current')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT version FROM kb_current").fetchone()
    except psycopg.Error as exc:
        raise store.BadIndexError(f"{redact(dsn)}: {_one_line(exc)}") from None
    return None if row is None else row[0]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresStore:
    """The version live in a PostgreSQL database when opened (``kb_current``), read per query."""

    remote = True

    def __init__(self, dsn: str, pool_size: int = POOL_SIZE) -> None:
        import psycopg

        self.dsn = dsn
        self.pool = _Connections(dsn, pool_size)
        try:
            with self.pool.connection() as conn:
                self._open(conn)
        except psycopg.Error as exc:
            self.pool.close()
            raise store.BadIndexError(f"{redact(dsn)}: {_one_line(exc)}") from None
        except BaseException:
            self.pool.close()
            raise

    def _open(self, conn: Any) -> None:
        from psycopg import sql

        if conn.execute("SELECT to_regclass('kb_current')").fetchone()[0] is None:
            raise store.BadIndexError(f"no index in {redact(self.dsn)} (run `kb index --store ...` first)")
        # Without 'sources': versions published before 2026-12-08 list every document's hash there (see
        # indexer.store.read_manifest), which the server leaves out instead of sending.
        row = conn.execute("SELECT v.version, v.schema_name, v.manifest - 'sources' FROM kb_current c "
                           "JOIN kb_versions v USING (version)").fetchone()
        if row is None:
            raise store.BadIndexError(f"no index in {redact(self.dsn)} (run `kb index --store ...` first)")
        self.version, self.schema, self.manifest = row
        self.version_dir = Path(self.version)
        model = self.manifest.get("model") or {}
        if model.get("name") != MODEL_NAME or model.get("dimension") != DIMENSION:
            raise store.BadIndexError(f"index built with {model.get('name')!r} (dim {model.get('dimension')}), "
                                      f"this program uses {MODEL_NAME!r} (dim {DIMENSION}); rebuild it")
        self.files = dict(conn.execute("SELECT path, sha256 FROM kb_version_files WHERE version = %s",
                                       (self.version,)).fetchall())
        self._sql = _Statements(sql.Identifier(self.schema))

        counts = dict(conn.execute(self._sql.passage_counts).fetchall())
        self._documents = [
            DocumentRecord(doc_id=r[1], title=r[2], published=r[3], url=r[4], author=r[5], site=r[6], kind=r[7],
                           sha256=r[8], text=r[9], passage_count=counts.get(r[0], 0), description=r[10])
            for r in conn.execute(self._sql.documents)
        ]
        rows = conn.execute(self._sql.passages).fetchall()
        if [r[0] for r in rows] != list(range(len(rows))) or not rows:
            raise store.BadIndexError(f"{self.schema}.passages: passages are not numbered 0..n-1 (damaged index)")
        self._passages = PassageTable(
            doc=np.array([r[1] for r in rows], dtype=np.int64),
            start=np.array([r[2] for r in rows], dtype=np.int64),
            end=np.array([r[3] for r in rows], dtype=np.int64),
            section=[r[4] for r in rows],
        )
        layout = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'keyword_terms' AND column_name = 'items')", (self.schema,)).fetchone()[0]
        if not layout:  # row-per-posting tables of an earlier kb
            raise store.BadIndexError(f"{self.schema}: published by an earlier kb with another keyword layout; "
                                      "publish it again (kb index --store URL)")
        fields = {r[0]: r for r in conn.execute(self._sql.fields)}
        if "body" not in fields:
            raise store.BadIndexError(f"{self.schema}.keyword_fields: no body field (damaged index)")
        self.body = PostgresKeywordField(self, *fields["body"])
        self.title = PostgresKeywordField(self, *fields["title"]) if "title" in fields else None
        self._encoder: Path | None = None
        self._encoder_lock = threading.Lock()

    # -------------------------------------------------------------- what Searcher reads

    def documents(self) -> list[DocumentRecord]:
        return self._documents

    def passages(self) -> PassageTable:
        return self._passages

    def query(self, statement: Any, params: Sequence[Any] | dict, binary: bool = False) -> list[tuple]:
        with self.pool.connection() as conn:
            return conn.execute(statement, params, binary=binary).fetchall()

    def dense_top(self, vector: np.ndarray, depth: int, within: Within | None = None) -> np.ndarray:
        """pgvector's HNSW (inner product); with ``within``, a filter on the documents (exact when the
        planner finds that cheaper, else the index's iterative scan)."""
        v = np.asarray(vector, dtype=np.float32)
        if within is None:
            rows = self.query(self._sql.dense_top, (v, depth))
        else:
            rows = self.query(self._sql.dense_top_within, (within.docs.tolist(), v, depth))
        return np.array([r[0] for r in rows], dtype=np.int64)

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = _vectors(self.query(self._sql.passage_vectors, (rows.tolist(),), binary=True)[0][0])
        if len(vectors) != len(rows):
            raise KeyError(f"passages {rows.tolist()[:5]}...: not all in {self.schema}.passages")
        return vectors

    def sentences(self, rows: np.ndarray) -> Sentences:
        got = self.query(self._sql.sentences, (rows.tolist(),), binary=True)[0] if len(rows) else [None] * 6
        ids = [_ints(b) for b in got[:4]]
        count = np.bincount(ids[0] - 1, minlength=len(rows)).astype(np.int64)
        return Sentences(count, ids[1], ids[2], ids[3], _vectors(got[4]), _vectors(got[5]))

    def neighbours(self, passages: Sequence[tuple[int, int, int]]) -> list[tuple[Span | None, Span | None]]:
        if not passages:
            return []
        docs, starts, ends = (list(c) for c in zip(*passages, strict=True))
        out: list[tuple[Span | None, Span | None]] = [(None, None)] * len(passages)
        for i, bs, be, as_, ae in self.query(self._sql.neighbours, (docs, starts, ends)):
            out[i - 1] = (None if bs is None else (bs, be), None if as_ is None else (as_, ae))
        return out

    def encoder_dir(self) -> Path:
        """The version's encoder files, written once into a local cache named after their checksums
        (``$XDG_CACHE_HOME/kb/encoders``, else ``~/.cache/kb/encoders``, else the temporary folder)."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = self._materialise_encoder()
            return self._encoder

    def _materialise_encoder(self) -> Path:
        files = {p.removeprefix("encoder/"): h for p, h in self.files.items() if p.startswith("encoder/")}
        if not files:
            raise store.BadIndexError(f"{self.schema}: the version lists no encoder files (damaged index)")

        def complete(folder: Path) -> bool:
            return all((folder / rel).is_file() and store.file_sha256(folder / rel) == h for rel, h in files.items())

        key = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:24]
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kb" / "encoders"
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError:
            base = Path(tempfile.gettempdir()) / f"kb-encoders-{os.getuid()}"
            base.mkdir(exist_ok=True)
        final = base / key
        if complete(final):
            return final
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
        try:
            for path, data in self.query("SELECT f.path, b.data FROM kb_version_files f JOIN kb_blobs b "
                                         "USING (sha256) WHERE f.version = %s", (self.version,), binary=True):
                rel = path.removeprefix("encoder/")
                if rel not in files:
                    continue
                if hashlib.sha256(data).hexdigest() != files[rel]:
                    raise store.BadIndexError(f"kb_blobs: {path} of {self.version} is damaged (checksum differs)")
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_bytes(data)
            staging.chmod(0o755)
            if final.exists():  # a damaged or partial copy: replace it
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(staging, final)
            except OSError:
                if not complete(final):  # not another process that just put a good copy there
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def close(self) -> None:
        self.pool.close()


class PostgresKeywordField:
    """BM25 of one field from the version's posting lists (``keyword_terms``), summed in the service.

    Posting lists are read one row a term and kept in a cache bounded in bytes (a version never
    changes), so the terms a workload repeats cost no database work after their first query."""

    def __init__(self, owner: PostgresStore, field: str, rows: int, k1: float, b: float,
                 stopwords: list[str]) -> None:
        from indexer.keyword import _tokenizer

        self.owner, self.field, self.rows = owner, field, rows
        tokenizer = _tokenizer()  # the indexer's splitter, lower-casing and stemmer
        self._split, self._stem, self._lower = tokenizer.splitter, tokenizer.stemmer, tokenizer.lower
        self._stopwords = frozenset(stopwords)
        self._df: dict[str, int | None] = {}  # term -> document frequency (None: unknown), a bounded cache
        self._lists: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()  # term -> (items, weights)
        self._list_bytes = 0
        self._lock = threading.Lock()

    def _stems(self, text: str) -> list[str]:
        return [self._stem(w) for w in self._split(text.lower() if self._lower else text) if w not in self._stopwords]

    def _frequencies(self, terms: list[str]) -> dict[str, int | None]:
        """Document frequency of each term (None: not in the field), from a cache of the version's terms."""
        out: dict[str, int | None] = {}
        missing = []
        for t in set(terms):
            df = self._df.get(t, -1)
            if df == -1:
                missing.append(t)
            else:
                out[t] = df
        if missing:
            found = dict(self.owner.query(self.owner._sql.term_df, (self.field, sorted(missing))))
            fresh = {t: found.get(t) for t in missing}
            out.update(fresh)
            with self._lock:
                if len(self._df) > 200_000:
                    self._df = {}
                self._df.update(fresh)
        return out

    def postings(self, terms: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(items, weights) of each term the field holds; terms it does not hold are left out."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        with self._lock:
            for t in set(terms):
                if t in self._lists:
                    self._lists.move_to_end(t)
                    out[t] = self._lists[t]
        missing = sorted({t for t in terms if t not in out and self._df.get(t, -1) is not None})
        if missing:
            for term, items, weights in self.owner.query(self.owner._sql.postings, (self.field, missing),
                                                         binary=True):
                out[term] = (np.frombuffer(items, dtype=ITEM_TYPE).astype(np.int64),
                             np.frombuffer(weights, dtype=WEIGHT_TYPE))
            with self._lock:
                for t in missing:
                    if t not in out:
                        self._df[t] = None
                        continue
                    if t not in self._lists:
                        self._lists[t] = out[t]
                        self._list_bytes += out[t][0].nbytes + out[t][1].nbytes
                while self._list_bytes > POSTINGS_CACHE_BYTES and self._lists:
                    _, (items, weights) = self._lists.popitem(last=False)
                    self._list_bytes -= items.nbytes + weights.nbytes
        return out

    def analyse(self, text: str) -> list[Hashable | None]:
        stems = self._stems(text)
        df = self._frequencies(stems)
        return [s if df[s] is not None else None for s in stems]

    def scores(self, text: str) -> np.ndarray:
        """bm25s' scores: each query term's weights added in float32, in the query's term order (a term
        asked twice counts twice)."""
        out = np.zeros(self.rows, dtype=np.float32)
        stems = self._stems(text)
        lists = self.postings(stems)
        for stem in stems:
            if stem in lists:
                items, weights = lists[stem]
                out[items] += weights
        return out

    def idf(self, term: Hashable) -> float:
        df = self._frequencies([str(term)])[str(term)] or 0
        return float(log(1 + (self.rows - df + 0.5) / (df + 0.5)))

    @property
    def max_idf(self) -> float:
        return float(log(1 + (self.rows - 0.5) / 1.5))

    def holding(self, terms: list[Hashable], items: np.ndarray) -> np.ndarray:
        names = [str(t) for t in terms]
        lists = self.postings(names) if names else {}
        empty = np.zeros(0, dtype=np.int64)
        return rows_holding([lists[t][0] if t in lists else empty for t in names], np.asarray(items))


class _Statements:
    """The store's SQL, bound to one version's schema."""

    def __init__(self, schema: Any) -> None:
        from psycopg import sql

        def q(text: str) -> Any:
            return sql.SQL(text).format(s=schema)

        self.documents = q("SELECT doc, doc_id, title, published, url, author, site, kind, sha256, text, description "
                           "FROM {s}.documents ORDER BY doc")
        self.passage_counts = q("SELECT doc, count(*) FROM {s}.passages GROUP BY doc")
        self.passages = q("SELECT passage, doc, char_start, char_end, section FROM {s}.passages ORDER BY passage")
        self.fields = q("SELECT field, rows, k1, b, stopwords FROM {s}.keyword_fields")
        self.dense_top = q("SELECT passage FROM {s}.passages ORDER BY vector <#> %s LIMIT %s")
        self.dense_top_within = q("SELECT passage FROM {s}.passages WHERE doc = ANY(%s) "
                                  "ORDER BY vector <#> %s LIMIT %s")
        # Many vectors come back as one bytea each (pgvector's binary format, one after another), and
        # integers likewise (int4send): one buffer for NumPy instead of a Python object per value.
        self.passage_vectors = q(
            "SELECT string_agg(vector_send(p.vector), ''::bytea ORDER BY r.i) "
            "FROM unnest(%s::int4[]) WITH ORDINALITY AS r(passage, i) JOIN {s}.passages p USING (passage)")
        self.sentences = q(
            "SELECT string_agg(int4send(r.i::int4), ''::bytea ORDER BY r.i, ps.j), "
            "  string_agg(int4send(s.sentence), ''::bytea ORDER BY r.i, ps.j), "
            "  string_agg(int4send(s.char_start), ''::bytea ORDER BY r.i, ps.j), "
            "  string_agg(int4send(s.char_end), ''::bytea ORDER BY r.i, ps.j), "
            "  string_agg(vector_send(s.alone), ''::bytea ORDER BY r.i, ps.j), "
            "  string_agg(vector_send(s.context), ''::bytea ORDER BY r.i, ps.j) "
            "FROM unnest(%s::int4[]) WITH ORDINALITY AS r(passage, i) "
            "JOIN {s}.passages p USING (passage) "
            "CROSS JOIN LATERAL unnest(p.sentences) WITH ORDINALITY AS ps(sentence, j) "
            "JOIN {s}.sentences s ON s.sentence = ps.sentence")
        # The sentence just before a passage (the last ending at or before its start) and just after it
        # (the first starting at or after its end), in (start, end) order as the folder store's bisect.
        self.neighbours = q(
            "SELECT h.i::int4, b.char_start, b.char_end, a.char_start, a.char_end "
            "FROM unnest(%s::int4[], %s::int4[], %s::int4[]) WITH ORDINALITY AS h(doc, s, e, i) "
            "LEFT JOIN LATERAL (SELECT char_start, char_end FROM {s}.sentences x WHERE x.doc = h.doc "
            "  AND x.char_start < h.s AND x.char_end <= h.s "
            "  ORDER BY x.char_start DESC, x.char_end DESC LIMIT 1) b ON true "
            "LEFT JOIN LATERAL (SELECT char_start, char_end FROM {s}.sentences x WHERE x.doc = h.doc "
            "  AND x.char_start >= h.e ORDER BY x.char_start, x.char_end LIMIT 1) a ON true")
        self.term_df = q("SELECT term, df FROM {s}.keyword_terms WHERE field = %s AND term = ANY(%s::text[])")
        self.postings = q("SELECT term, items, weights FROM {s}.keyword_terms "
                          "WHERE field = %s AND term = ANY(%s::text[])")
