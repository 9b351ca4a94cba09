"""Publishing an index version into PostgreSQL: ``kb index SOURCES --store postgresql://...``.

The version is built exactly as for a folder (``indexer.build.build_index``, into a temporary folder),
verified, then loaded into a new schema named after it, checked in SQL, and made live by switching
``kb_current``, all in one transaction: until the commit no other session sees the new schema or
the switch, and a crash or Ctrl-C rolls everything back. One publisher at a time per database (a
PostgreSQL advisory lock; a second one waits). After the switch, versions other than the live one and
the one it replaced are dropped, as ``indexer/store.py`` prunes a folder.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.metadata import DEFAULT_FILE as DEFAULT_METADATA
from indexer import layout, store
from indexer.model import DIMENSION, MODEL_NAME
from service.stores.postgres import (
    GLOBAL_TABLES,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    ITEM_TYPE,
    VERSION_INDEXES,
    VERSION_TABLES,
    WEIGHT_TYPE,
    connect,
    redact,
    schema_for,
    setup_vectors,
)

Progress = Callable[[str], None]
LOCK_KEY = 0x6B62_7075_626C  # pg_advisory_lock key of publishers ("kbpubl")
KEEP_VERSIONS = store.KEEP_VERSIONS
# pgvector builds an HNSW index fast only while its graph fits in maintenance_work_mem; past that it goes
# on inserting on disk, many times slower (its NOTICE says so). PostgreSQL's default is 64 MB, about
# 20,000 passages here. The publish raises the setting for its own transaction to what the graph needs
# (a vector, level-0 and upper-level neighbour lists and pgvector's element header, with a quarter more
# for margin), never lowering what the server or the URL already gives (``?options=-c%20maintenance_
# work_mem%3D8GB`` raises the cap too), and at most HNSW_BUILD_MEMORY_CAP unless the URL says more.
HNSW_ELEMENT_BYTES = int(1.25 * (4 * DIMENSION + 8 + (2 * HNSW_M + HNSW_M // 4) * 16 + 160))
HNSW_BUILD_MEMORY_CAP = 4 << 30


class PublishError(ValueError):
    """A version that cannot be published (the message says why, in one line)."""


@dataclass(frozen=True)
class PublishReport:
    version: str
    documents: int
    passages: int
    sentences: int
    seconds: float
    skipped: bool = False


# ---------------------------------------------------------------- keyword postings

@dataclass
class FieldPostings:
    field: str
    rows: int
    k1: float
    b: float
    stopwords: list[str]
    terms: list[tuple[str, int, bytes, bytes]]  # (term, df, items, weights): one posting list each


def field_postings(field: str, folder: Path, rows: int) -> FieldPostings:
    """The posting lists of bm25s' saved index in ``folder``, one per term (stem): the rows holding the
    term in ascending order and bm25s' own weight of the term in each, as ITEM_TYPE / WEIGHT_TYPE bytes.

    The store sums them as bm25s does, so nothing is recomputed here; the arrays are checked for shape
    (every row number in range, one weight per row, as many rows as the version has)."""
    import bm25s

    saved = bm25s.BM25.load(str(folder))
    vocab = json.loads((folder / "vocab.tokenizer.json").read_text(encoding="utf-8"))
    stopwords = json.loads((folder / "stopwords.tokenizer.json").read_text(encoding="utf-8"))
    if saved.method != "lucene" or (saved.idf_method or "lucene") != "lucene":
        raise PublishError(f"{folder}: bm25s method {saved.method!r}, only 'lucene' is served from the store")
    data, indices, indptr = (np.asarray(saved.scores[k]) for k in ("data", "indices", "indptr"))
    n = int(saved.scores["num_docs"])
    if n != rows:
        raise PublishError(f"{folder}: indexes {n} rows, the version has {rows}")
    stems = vocab["stem_to_sid"]
    if any(not 0 <= sid < len(indptr) - 1 for sid in stems.values()) or not len(data) == len(indices) == indptr[-1]:
        raise PublishError(f"{folder}: the saved index and its vocabulary do not agree")
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        raise PublishError(f"{folder}: a posting names a row the version does not have")
    terms = []
    for stem, sid in stems.items():
        items, weights = indices[indptr[sid]:indptr[sid + 1]], data[indptr[sid]:indptr[sid + 1]]
        if not len(items):  # a word of the vocabulary no row holds: the same as an unknown one
            continue
        order = np.argsort(items, kind="stable")
        terms.append((stem, len(items), items[order].astype(ITEM_TYPE).tobytes(),
                      weights[order].astype(WEIGHT_TYPE).tobytes()))
    return FieldPostings(field, n, float(saved.k1), float(saved.b), sorted(stopwords), terms)


# ---------------------------------------------------------------- one version, read from its folder

@dataclass
class FolderVersion:
    folder: Path
    manifest: dict
    documents: list[dict]
    passages: list[dict]
    sentence_table: np.ndarray
    sentence_vectors: np.ndarray
    context_vectors: np.ndarray
    passage_vectors: np.ndarray
    fields: list[FieldPostings]


def read_version(folder: Path) -> FolderVersion:
    """A verified version folder, everything the database will hold, checked for consistency."""
    import faiss

    manifest = store.verify(folder, MODEL_NAME, DIMENSION)
    documents = [json.loads(line) for line in (folder / layout.DOCUMENTS).open(encoding="utf-8")]
    passages = [json.loads(line) for line in (folder / layout.PASSAGES).open(encoding="utf-8")]
    dense = faiss.read_index(str(folder / layout.DENSE))
    passage_vectors = dense.reconstruct_n(0, dense.ntotal)
    sentence_table = np.load(folder / layout.SENTENCES)
    sentence_vectors = np.load(folder / layout.SENTENCE_VECTORS)
    context_vectors = np.load(folder / layout.CONTEXT_VECTORS)
    if len(passage_vectors) != len(passages) or not len(sentence_table) == len(sentence_vectors) == len(
            context_vectors):
        raise PublishError(f"{folder}: vectors do not match the passage and sentence tables")
    for d in documents:
        if "\x00" in d["text"] or "\x00" in d["doc_id"]:
            raise PublishError(f"{d['doc_id']!r}: holds a NUL character, which PostgreSQL text cannot store")
    fields = [field_postings("body", folder / layout.BODY_KEYWORDS, len(passages))]
    if (folder / layout.TITLE_KEYWORDS).is_dir():
        fields.append(field_postings("title", folder / layout.TITLE_KEYWORDS, len(documents)))
    return FolderVersion(folder, manifest, documents, passages, sentence_table, sentence_vectors, context_vectors,
                         passage_vectors, fields)


# ---------------------------------------------------------------- loading and switching

def _copy(cur: Any, table: Any, columns: list[str], types: list[str], rows: Any) -> None:
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with cur.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _lock(conn: Any, progress: Progress) -> None:
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        progress("waiting for another publish to this database to finish (it holds the kb advisory lock)")
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))


def _ensure_global(conn: Any) -> None:
    encoding = conn.execute("SHOW server_encoding").fetchone()[0]
    if encoding.upper() not in ("UTF8", "UTF-8"):
        raise PublishError(f"the database encoding is {encoding}; the store needs UTF8 (offsets count characters)")
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(GLOBAL_TABLES)


def live_manifest(conn: Any) -> tuple[str, dict] | None:
    """The live version's name and manifest, or None."""
    if conn.execute("SELECT to_regclass('kb_current')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT version, v.manifest - 'sources' "  # see PostgresStore._open
                       "FROM kb_current JOIN kb_versions v USING (version)").fetchone()
    return None if row is None else (row[0], row[1])


def hnsw_build_bytes(passages: int) -> int:
    """maintenance_work_mem that holds pgvector's HNSW graph of this many passage vectors."""
    return passages * HNSW_ELEMENT_BYTES


def raise_build_memory(conn: Any, passages: int, progress: Progress) -> None:
    """Raise maintenance_work_mem for this transaction so that the HNSW graph is built in memory."""
    current = int(conn.execute("SELECT setting::bigint * 1024 FROM pg_settings "
                               "WHERE name = 'maintenance_work_mem'").fetchone()[0])
    needed = hnsw_build_bytes(passages)
    if needed <= current:
        return
    granted = max(current, min(needed, HNSW_BUILD_MEMORY_CAP))
    if granted > current:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (f"{granted >> 20}MB",))
    short = "" if granted >= needed else (
        f" (its graph needs about {needed >> 20} MB: it will be built partly on disk, slower; raise the cap with "
        "?options=-c%20maintenance_work_mem%3D<size> in the URL)")
    change = f"{current >> 20} -> {granted >> 20}" if granted > current else f"{current >> 20}"
    progress(f"maintenance_work_mem {change} MB for the HNSW build{short}")


def load_version(conn: Any, v: FolderVersion, progress: Progress) -> str:
    """Load a version into its own schema and make it live, in one transaction (the caller holds the lock).
    What the server notes meanwhile reaches ``progress`` (pgvector says when its graph outgrows memory)."""

    def server_says(notice: Any) -> None:
        progress(f"PostgreSQL {notice.severity}: {notice.message_primary}")

    conn.add_notice_handler(server_says)
    try:
        return _load_version(conn, v, progress)
    finally:
        conn.remove_notice_handler(server_says)


def _load_version(conn: Any, v: FolderVersion, progress: Progress) -> str:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    version = v.folder.name
    schema = schema_for(version)
    s = sql.Identifier(schema)
    number = {d["doc_id"]: i for i, d in enumerate(v.documents)}
    with conn.transaction():
        replaced = conn.execute("SELECT version FROM kb_current").fetchone()
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        # New tables go to the version's schema; pgvector's type is found where it was installed.
        conn.execute("SELECT set_config('search_path', %s || ', ' || current_setting('search_path'), true)",
                     (s.as_string(conn),))
        conn.execute(VERSION_TABLES.format(dim=DIMENSION))
        cur = conn.cursor()
        progress(f"loading {len(v.documents)} documents, {len(v.passages)} passages, "
                 f"{len(v.sentence_table)} sentences into {schema}")
        _copy(cur, sql.Identifier(schema, "documents"),
              ["doc", "doc_id", "title", "published", "url", "author", "site", "kind", "sha256", "source_sha256",
               "text", "description"], ["int4"] + ["text"] * 11,
              ((i, d["doc_id"], d["title"], d.get("published"), d.get("url"), d.get("author"), d.get("site"),
                d["kind"], d["sha256"], d.get("source_sha256"), d["text"], d.get("description"))
               for i, d in enumerate(v.documents)))
        texts = [d["text"] for d in v.documents]
        _copy(cur, sql.Identifier(schema, "passages"),
              ["passage", "doc", "char_start", "char_end", "section", "body", "sentences", "vector"],
              ["int4", "int4", "int4", "int4", "text", "text", "int4[]", "vector"],
              ((i, number[p["doc_id"]], p["start"], p["end"], p["section"],
                texts[number[p["doc_id"]]][p["start"]:p["end"]], [int(x) for x in p["sentences"]],
                v.passage_vectors[i]) for i, p in enumerate(v.passages)))
        _copy(cur, sql.Identifier(schema, "sentences"),
              ["sentence", "doc", "char_start", "char_end", "alone", "context"],
              ["int4", "int4", "int4", "int4", "vector", "vector"],
              ((i, int(d), int(st), int(e), v.sentence_vectors[i], v.context_vectors[i])
               for i, (d, st, e) in enumerate(v.sentence_table.tolist())))
        for f in v.fields:
            cur.execute("INSERT INTO keyword_fields VALUES (%s, %s, %s, %s, %s)",
                        (f.field, f.rows, f.k1, f.b, f.stopwords))
            _copy(cur, sql.Identifier(schema, "keyword_terms"), ["field", "term", "df", "items", "weights"],
                  ["text", "text", "int4", "bytea", "bytea"], ((f.field, *t) for t in f.terms))
        raise_build_memory(conn, len(v.passages), progress)
        progress("building the HNSW index of passage vectors")
        conn.execute(VERSION_INDEXES.format(m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION))
        check_version(conn, schema)
        conn.execute(sql.SQL("ANALYZE {}.documents, {}.passages, {}.sentences, {}.keyword_terms").format(s, s, s, s))
        conn.execute("SET LOCAL search_path TO DEFAULT")
        conn.execute("INSERT INTO kb_versions (version, schema_name, manifest) VALUES (%s, %s, %s)",
                     (version, schema, Jsonb(v.manifest)))
        files = {rel: h for rel, h in v.manifest["files"].items() if rel.startswith("encoder/")}
        known = {r[0] for r in conn.execute("SELECT sha256 FROM kb_blobs WHERE sha256 = ANY(%s)",
                                            (list(files.values()),))}
        for rel, digest in files.items():
            if digest not in known:
                conn.execute("INSERT INTO kb_blobs (sha256, data) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                              (digest, (v.folder / rel).read_bytes()))
                known.add(digest)
            conn.execute("INSERT INTO kb_version_files (version, path, sha256) VALUES (%s, %s, %s)",
                         (version, rel, digest))
        conn.execute("INSERT INTO kb_current (one, version) VALUES (true, %s) "
                     "ON CONFLICT (one) DO UPDATE SET version = excluded.version", (version,))
    progress(f"published {version} to the store (schema {schema})")
    return replaced[0] if replaced else None


def check_version(conn: Any, schema: str) -> None:
    """SQL checks of a loaded version; PublishError (and so a rollback) if one fails: every passage's
    body is its document's text from char_start for char_end - char_start characters (the verbatim
    rule), every sentence range lies inside its document, and every posting list is df rows and weights."""
    from psycopg import sql

    s = sql.Identifier(schema)
    bad = conn.execute(sql.SQL(
        "SELECT p.passage FROM {}.passages p JOIN {}.documents d USING (doc) "
        "WHERE p.body IS DISTINCT FROM substring(d.text FROM p.char_start + 1 FOR p.char_end - p.char_start) "
        "OR p.char_end > length(d.text) LIMIT 1").format(s, s)).fetchone()
    if bad:
        raise PublishError(f"{schema}.passages: passage {bad[0]} is not its document's text at its offsets")
    bad = conn.execute(sql.SQL(
        "SELECT x.sentence FROM {}.sentences x JOIN {}.documents d USING (doc) WHERE x.char_end > length(d.text) "
        "LIMIT 1").format(s, s)).fetchone()
    if bad:
        raise PublishError(f"{schema}.sentences: sentence {bad[0]} ends after its document")
    bad = conn.execute(sql.SQL(
        "SELECT field, term FROM {}.keyword_terms WHERE df < 1 OR length(items) <> 4 * df "
        "OR length(weights) <> 4 * df LIMIT 1").format(s)).fetchone()
    if bad:
        raise PublishError(f"{schema}.keyword_terms: the posting list of {bad[1]!r} ({bad[0]}) is not df rows")


def prune(conn: Any, live: str, replaced: str | None, progress: Progress) -> None:
    """Drop versions other than the live one and the one it replaced (a replica may still read it);
    then encoder blobs no version lists."""
    from psycopg import sql

    keep = {live} | ({replaced} if replaced else set())
    rows = conn.execute("SELECT version, schema_name FROM kb_versions ORDER BY published_at DESC").fetchall()
    others = [r for r in rows if r[0] not in keep][max(0, KEEP_VERSIONS - len(keep)):]
    for version, schema in others:
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute("DELETE FROM kb_versions WHERE version = %s", (version,))
        progress(f"dropped the old version {version}")
    with conn.transaction():
        conn.execute("DELETE FROM kb_blobs b WHERE NOT EXISTS "
                     "(SELECT 1 FROM kb_version_files f WHERE f.sha256 = b.sha256)")


def publish_folder(version_dir: Path, dsn: str, progress: Progress = lambda _msg: None) -> str:
    """Publish a built version folder into a PostgreSQL store and make it live; its name."""
    import psycopg

    v = read_version(version_dir)
    try:
        with connect(dsn, vectors=False) as conn:
            _ensure_global(conn)
            setup_vectors(conn)
            _lock(conn, progress)
            replaced = load_version(conn, v, progress)
            prune(conn, version_dir.name, replaced, progress)
    except psycopg.Error as exc:
        raise PublishError(f"{redact(dsn)}: {' '.join(str(exc).split())}") from None
    return version_dir.name


def index_into_store(sources: list[Path], dsn: str, progress: Progress = lambda _msg: None,
                     show_bars: bool = False, only_if_stale: bool = False,
                     metadata_file: Path | None = DEFAULT_METADATA, precision: str = "float32",
                     arithmetic: str = "auto") -> PublishReport:
    """``kb index --store``: build as for a folder (into a temporary one), then publish the version.

    ``only_if_stale``: nothing is built when the live version of the store was built from the same
    sources, metadata and settings (the build's fingerprint)."""
    import psycopg

    from corpus.documents import scan_documents
    from corpus.metadata import load_overrides
    from corpus.passages import ChunkSettings
    from indexer.build import build_index, sources_fingerprint

    began = time.perf_counter()
    if only_if_stale:
        documents = scan_documents(sources)
        overrides = load_overrides(metadata_file)
        try:
            with connect(dsn, vectors=False) as conn:
                live = live_manifest(conn)
        except psycopg.Error as exc:
            raise PublishError(f"{redact(dsn)}: {' '.join(str(exc).split())}") from None
        if live is not None and live[1].get("fingerprint") == sources_fingerprint(documents, ChunkSettings(),
                                                                                   overrides, precision):
            counts = live[1].get("counts") or {}
            return PublishReport(live[0], len(documents), counts.get("passages", 0), counts.get("sentences", 0),
                                 time.perf_counter() - began, skipped=True)
    with tempfile.TemporaryDirectory(prefix="kb-build-") as tmp:
        report = build_index(sources, Path(tmp), progress=progress, show_bars=show_bars, metadata_file=metadata_file,
                             precision=precision, arithmetic=arithmetic)
        version = publish_folder(report.version_dir, dsn, progress)
    return PublishReport(version, report.documents, report.passages, report.sentences, time.perf_counter() - began)
