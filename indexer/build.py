"""From source files to a published index version."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from corpus.cleaning import clean
from corpus.documents import Document, DocumentReader, DocumentRef, DocumentRefs, scan_documents
from corpus.metadata import DEFAULT_FILE as DEFAULT_METADATA
from corpus.metadata import SourceMeta, load_overrides, merge, parse_date
from corpus.passages import ChunkSettings, make_passages
from indexer import layout, model, store
from indexer.bf16_encoder import Bf16BulkEncoder, engine_label, resolve_arithmetic
from indexer.dense import describe, make_dense_index
from indexer.keyword import KeywordIndexWriter
from indexer.onnx_export import PRECISIONS

Progress = Callable[[str], None]
#: What the fingerprint reads of a document: its id and its text's hash.
SourceDocument = Document | DocumentRef


@dataclass(frozen=True)
class BuildReport:
    version_dir: Path
    documents: int
    passages: int
    sentences: int
    seconds: float
    skipped: bool = False
    embedded: int = 0  # texts that went through the model (the others were reused from the live version)


VECTOR_KEYS = layout.VECTOR_KEYS
CONTEXT_VECTORS = layout.CONTEXT_VECTORS  # each sentence read with its neighbours


def text_digest(text: str) -> bytes:
    """What identifies a text's vector: the first 16 bytes of its SHA-256 (``text_key`` in hex)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


def text_key(text: str) -> str:
    """A text's key as vector_keys.json writes it."""
    return text_digest(text).hex()


KINDS = ("passages", "sentences", "contexts")  # the three vectors files, in vector_keys.json's order


def place(number: int, row: int) -> int:
    """A row of one of the KINDS files as one int (cheaper to hold a million of than a tuple)."""
    return number + len(KINDS) * row


def unplace(code: int) -> tuple[int, int]:
    """(file number, row) of a ``place``."""
    row, number = divmod(code, len(KINDS))
    return number, row


class PreviousVectors:
    """Vectors of the live version by the hash of the text they embed (empty if unusable).

    Reusing them is what makes re-indexing incremental: only new or changed text meets the model,
    and an unchanged text gets the very vector a full rebuild would compute. The sentence files are
    memory-mapped and the passage vectors read from the FAISS index: nothing is copied per text.
    """

    def __init__(self, version: Path | None, precision: str = "float32") -> None:
        self.arrays: list[np.ndarray] = []
        self.where: dict[bytes, int] = {}  # text digest -> place(array number, row)
        if version is None or not (version / VECTOR_KEYS).is_file():
            return
        try:
            manifest = store.verify(version, model.MODEL_NAME, model.DIMENSION)
            if precision_of(manifest) != precision:  # another encoder's vectors
                return
            keys = json.loads((version / VECTOR_KEYS).read_text(encoding="utf-8"))
            dense = faiss.read_index(str(version / layout.DENSE))
            arrays = [dense.reconstruct_n(0, dense.ntotal), np.load(version / layout.SENTENCE_VECTORS, mmap_mode="r")]
            if "contexts" in keys:
                arrays.append(np.load(version / CONTEXT_VECTORS, mmap_mode="r"))
        except (store.BadIndexError, OSError, ValueError, RuntimeError):
            return
        lists = [keys.get(kind, []) for kind in KINDS[:len(arrays)]]
        if any(not isinstance(k, list) or len(k) != len(v) or v.shape[1:] != (model.DIMENSION,)
               for k, v in zip(lists, arrays, strict=True)):
            return
        where: dict[bytes, int] = {}
        try:
            for number, k in enumerate(lists):
                for row, key in enumerate(k):
                    where.setdefault(bytes.fromhex(key), place(number, row))
        except (TypeError, ValueError):  # not keys this build wrote
            return
        self.arrays, self.where = arrays, where

    def __len__(self) -> int:
        return len(self.where)

    def vector(self, code: int) -> np.ndarray:
        number, row = unplace(code)
        return self.arrays[number][row]


# What the model reads for each vector; a change here makes every index stale (rebuilt by --if-stale).
EMBEDDING_INPUTS = ("passage: title prefix + text; sentence: alone, and with one neighbour either side "
                    "(alone again in a one-passage document)")
SENTENCE_WINDOW = 1  # neighbours on each side embedded with a sentence (measured: docs/RETRIEVAL.md)


def sentence_inputs(texts: list[str], table: np.ndarray, window: int = SENTENCE_WINDOW) -> list[str]:
    """Each sentence with its ``window`` neighbours on either side in the same document, in text order.

    A sentence alone often leans on its neighbours ("This is why..."); the window gives the model that
    context while the vector still belongs to one sentence (its highlight and offsets)."""
    order = np.lexsort((table[:, 1], table[:, 0]))  # by document, then start
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    docs = table[order, 0]
    out = []
    for i in range(len(texts)):
        p = position[i]
        lo, hi = p, p
        while lo > 0 and p - lo < window and docs[lo - 1] == docs[p]:
            lo -= 1
        while hi + 1 < len(order) and hi - p < window and docs[hi + 1] == docs[p]:
            hi += 1
        out.append(" ".join(texts[order[j]] for j in range(lo, hi + 1)))
    return out


def precision_of(manifest: dict) -> str:
    """The encoder precision a version was built with (versions from before the option: float32)."""
    return str(manifest.get("model", {}).get("precision", "float32"))


def sources_fingerprint(documents: Sequence[SourceDocument], chunking: ChunkSettings, overrides: dict,
                        precision: str = "float32") -> dict[str, str]:
    """What a version was built from, in a few digests: its documents (ids and text hashes, in order), the
    chunking, the embedding inputs and the metadata overrides. One digest for the documents keeps the manifest
    small at a million of them; each document's own hash is in documents.jsonl."""
    def digest(value: object) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()

    texts = hashlib.sha256()
    for d in documents:
        texts.update(json.dumps([d.doc_id, d.sha256]).encode("utf-8", "surrogatepass") + b"\n")
    return {
        "__sources__": texts.hexdigest(),
        "__chunking__": digest(chunking.as_dict()),
        "__embedding__": EMBEDDING_INPUTS + ("" if precision == "float32" else f"; encoder {precision}"),
        "__metadata__": digest({d.doc_id: overrides.get(d.doc_id) for d in documents}),
    }


def up_to_date(version: Path | None, documents: Sequence[SourceDocument], chunking: ChunkSettings,
               overrides: dict, precision: str = "float32") -> dict | None:
    """The live version's manifest when it was built from exactly these documents with these settings
    and is intact; None otherwise."""
    if version is None:
        return None
    try:
        manifest = store.verify(version, model.MODEL_NAME, model.DIMENSION)
    except store.BadIndexError:
        return None
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(type(counts.get(k)) is int for k in ("passages", "sentences")):
        return None
    fingerprint = sources_fingerprint(documents, chunking, overrides, precision)
    return manifest if manifest.get("fingerprint") == fingerprint else None


def live_version(index_dir: Path, progress: Progress) -> Path | None:
    """The version CURRENT names; a broken pointer counts as none (the build replaces it)."""
    try:
        return store.current_version(index_dir)
    except store.BadIndexError as exc:
        progress(f"ignoring a broken {store.CURRENT} pointer, the new version replaces it: {exc}")
        return None


def build_index(
    sources: list[Path],
    index_dir: Path,
    chunking: ChunkSettings = ChunkSettings(),
    progress: Progress = lambda _msg: None,
    show_bars: bool = False,
    only_if_stale: bool = False,
    metadata_file: Path | None = DEFAULT_METADATA,
    chunk_texts: int | None = None,
    threads: int | None = None,
    precision: str = "float32",
    arithmetic: str = "auto",
) -> BuildReport:
    """Build a new version of the index in ``index_dir`` from ``sources`` and publish it.

    ``chunk_texts`` is how many texts are cut and embedded at a time (default ``CHUNK_TEXTS``; it does not
    change the result), ``threads`` the model's threads (default: every core this process may use),
    ``precision`` the encoder's arithmetic (``indexer.onnx_export.PRECISIONS``; int8 is faster and ranks a
    little differently, so it is part of the version and of its staleness), ``arithmetic`` how a float32
    index's vectors are computed (``indexer.bf16_encoder.ARITHMETICS``: bf16 where the CPU has it, by
    default; its vectors agree with float32 ones to cosine 0.9999, so it is not part of the staleness)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    arithmetic = resolve_arithmetic(arithmetic, precision)
    began = time.perf_counter()
    documents = scan_documents(sources)  # ids and hashes: each text is read again when the build gets to it
    read_seconds = time.perf_counter() - began
    if not documents:
        raise ValueError("no documents found in " + ", ".join(map(str, sources)))
    overrides = load_overrides(metadata_file)
    # One build at a time per index folder, from reading the live version to publishing the new one.
    with store.build_lock(index_dir, on_wait=progress):
        previous = live_version(index_dir, progress)
        manifest = up_to_date(previous, documents, chunking, overrides, precision) if only_if_stale else None
        if previous is not None and manifest is not None:
            return BuildReport(previous, len(documents), manifest["counts"]["passages"],
                               manifest["counts"]["sentences"], time.perf_counter() - began, skipped=True)
        return _build(documents, overrides, previous, index_dir, chunking, progress, show_bars, metadata_file, began,
                      chunk_texts=chunk_texts or CHUNK_TEXTS, threads=threads, read_seconds=read_seconds,
                      precision=precision, arithmetic=arithmetic)


#: Texts (passages, sentences alone, sentences with neighbours) cut, embedded and written at a time: the
#: memory a build holds beyond the index's own tables does not grow with the corpus.
CHUNK_TEXTS = 4096
PROGRESS_SECONDS = 10.0  # how often a long build says how far it is


class VectorFile:
    """An ``.npy`` file of float32 rows written in order, as ``np.save`` would write the whole array.

    Rows are appended as they are embedded; the header (whose length does not depend on the row count)
    is written last, once the count is known. Rows already written can be read back (a repeated text)."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path, self.dimension, self.rows = path, dimension, 0
        self._file = path.open("w+b")
        self._offset = len(self._header(10**12))  # room for the header of any row count
        self._file.seek(self._offset)

    def _header(self, rows: int) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (rows, self.dimension)})
        return buf.getvalue()

    def append(self, vectors: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self._file.flush()  # readable by ``read`` (os.pread) from now on
        self.rows += len(vectors)

    def read(self, row: int) -> np.ndarray:
        size = 4 * self.dimension
        data = os.pread(self._file.fileno(), size, self._offset + row * size)
        return np.frombuffer(data, dtype=np.float32)

    def discard(self) -> None:
        """Close without a header (a failed build: its staging folder goes whole)."""
        self._file.close()

    def close(self) -> None:
        header = self._header(self.rows)
        if len(header) != self._offset:  # cannot happen with format 1.0 headers; kept correct regardless
            raise RuntimeError(f"{self.path}: .npy header of {len(header)} bytes, {self._offset} reserved")
        self._file.seek(0)
        self._file.write(header)
        self._file.close()


class Timer:
    """Seconds spent per stage of the build (added up over the chunks)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - began

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def line(self) -> str:
        return "time by stage: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())


def export_encoder(out_dir: Path, precision: str = "float32") -> None:
    """Export the ONNX encoder (``indexer.onnx_export``) in a child process, so that torch, which only the
    export needs, never loads into the build itself (its memory would stay with the build to the end)."""
    proc = subprocess.run([sys.executable, "-m", "indexer.onnx_export", str(model.model_path()), str(out_dir),
                           precision],
                          capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RuntimeError(f"exporting the ONNX encoder failed: {last}")


def give_back_freed_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing happens).

    The encoder's threads and the build's many small objects leave freed memory in malloc's arenas,
    which glibc keeps; FAISS's large buffers are mapped afresh, so without this the dense stage's peak
    stands on top of memory nobody uses any more."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Embedder:
    """Vectors for the texts of one chunk after another, each distinct text through the model once.

    A text's vector comes from, in this order: an earlier row of this build (the same text again: a
    one-sentence passage without a title, a sentence without neighbours, a repeated sentence), the live
    version (incremental re-indexing), or the model."""

    def __init__(self, folder: Path, previous: Path | None, reuse: PreviousVectors, timer: Timer,
                 progress: Progress, threads: int | None, precision: str = "float32",
                 arithmetic: str = "float32") -> None:
        self.folder, self.previous, self.reuse, self.timer, self.progress = folder, previous, reuse, timer, progress
        self.precision = precision
        self.arithmetic = arithmetic
        self.threads = threads
        self.files = [VectorFile(folder / name, model.DIMENSION) for name in (PASSAGE_VECTORS_TMP, SENTENCE_VECTORS,
                                                                              CONTEXT_VECTORS)]
        # Compact bookkeeping (a million passages make three million rows): each distinct text gets a number;
        # per file, the distinct text of each row; per number, its digest and where its first row went.
        self.keys = [array("q") for _ in KINDS]  # file -> row -> distinct text number
        self.digests = bytearray()  # distinct text number -> its 16-byte digest
        self.seen: dict[bytes, int] = {}  # digest -> distinct text number
        self.home = array("q")  # distinct text number -> place(file number, row) of its first row
        self.embedded = 0
        self.reused = 0
        self.ready_at: float | None = None  # when the encoder was ready (rates leave the export out)
        self._encoder = None

    def encoder(self):
        """The encoder of this version, exported (or copied from the live version) on first use: its ONNX
        graph run by OpenVINO in bfloat16 (``arithmetic`` "bf16"), or by ONNX Runtime."""
        if self._encoder is None:
            self.ensure_encoder_folder()
            from service.encoder import QueryEncoder, available_cores

            lanes = self.threads or available_cores()
            with self.timer("load the encoder"):
                if self.arithmetic == "bf16":
                    self._encoder = Bf16BulkEncoder(self.folder / layout.ENCODER, lanes=lanes)
                else:
                    # One single-thread session, run by one lane per core (QueryEncoder.encode_bulk).
                    self._encoder = QueryEncoder(self.folder / layout.ENCODER, threads=1)
            self.ready_at = time.perf_counter()
            self.progress(f"embedding with {engine_label(self.arithmetic)}, {lanes} lane{'s' if lanes > 1 else ''}")
        return self._encoder

    def ensure_encoder_folder(self) -> None:
        target = self.folder / layout.ENCODER
        if target.is_dir():
            return
        with self.timer("ONNX export (or copy) of the encoder"):
            if self.previous is not None and self.reuse and (self.previous / layout.ENCODER / "model.onnx").is_file():
                self.progress(f"reusing the query encoder of {self.previous.name} (same model and precision)")
                shutil.copytree(self.previous / layout.ENCODER, target)
            else:
                self.progress("exporting the query encoder" + ("" if self.precision == "float32" else
                                                                f" ({self.precision})"))
                export_encoder(target, self.precision)

    def add(self, texts: list[list[str]]) -> None:
        """Embed and write the next rows of the three files: ``texts[n]`` for file ``n``."""
        with self.timer("hash + find repeated texts"):
            digests = [[text_digest(t) for t in group] for group in texts]
            fresh: dict[bytes, int] = {}  # digest -> position in the model's batch
            batch: list[str] = []
            for group, group_digests in zip(texts, digests, strict=True):
                for text, digest in zip(group, group_digests, strict=True):
                    if digest not in self.seen and digest not in fresh and digest not in self.reuse.where:
                        fresh[digest] = len(batch)
                        batch.append(text)
        vectors = self.encoder().encode_bulk(batch, lanes=self.threads, timings=self.timer.seconds) if batch else None
        self.embedded += len(batch)
        with self.timer("gather + write vectors"):
            for number, group_digests in enumerate(digests):
                file, rows = self.files[number], self.keys[number]
                out = np.empty((len(group_digests), model.DIMENSION), dtype=np.float32)
                for i, digest in enumerate(group_digests):
                    known = self.seen.get(digest)
                    if digest in fresh:
                        out[i] = vectors[fresh[digest]]
                    elif known is not None:
                        where, row = unplace(self.home[known])
                        if where == number and row >= file.rows:
                            out[i] = out[row - file.rows]  # earlier in this very group
                        else:  # an earlier chunk, or an earlier group of this one: written already
                            out[i] = self.files[where].read(row)
                    else:
                        out[i] = self.reuse.vector(self.reuse.where[digest])
                        self.reused += 1
                    if known is None:
                        known = self.seen[digest] = len(self.home)
                        self.home.append(place(number, file.rows + i))
                        self.digests += digest
                    rows.append(known)
                file.append(out)

    def write_keys(self, path: Path) -> None:
        """vector_keys.json, ``{"passages": [key, ...], "sentences": [...], "contexts": [...]}``, written a
        slice at a time (as ``json.dumps`` would write it whole, without building the whole string)."""
        with path.open("w", encoding="utf-8") as out:
            out.write("{")
            for n, (kind, rows) in enumerate(zip(KINDS, self.keys, strict=True)):
                out.write(("" if n == 0 else ", ") + json.dumps(kind) + ": [")
                for start in range(0, len(rows), 65_536):
                    out.write(("" if start == 0 else ", ") + ", ".join(
                        f'"{self.digests[16 * r:16 * r + 16].hex()}"' for r in rows[start:start + 65_536]))
                out.write("]")
            out.write("}")

    def close(self) -> None:
        """Finish the files and let the encoder go: the keyword and dense stages need its memory more."""
        for f in self.files:
            f.close()
        if self._encoder is not None and hasattr(self._encoder, "close"):
            self._encoder.close()
        self._encoder = None
        self.seen.clear()  # no text is added after this

    def forget(self) -> None:
        """Let the bookkeeping go once vector_keys.json is written (a million passages: hundreds of MB)."""
        self.keys = [array("q") for _ in KINDS]
        self.digests = bytearray()
        self.home = array("q")

    def discard(self) -> None:
        for f in self.files:
            f.discard()


PASSAGE_VECTORS_TMP = ".passage_vectors.npy"  # passage vectors until they go into dense.faiss (then removed)
SENTENCE_VECTORS = layout.SENTENCE_VECTORS


def _build(documents: DocumentRefs, overrides: dict, previous: Path | None, index_dir: Path,
           chunking: ChunkSettings, progress: Progress, show_bars: bool, metadata_file: Path | None,
           began: float, chunk_texts: int = CHUNK_TEXTS, threads: int | None = None,
           read_seconds: float = 0.0, precision: str = "float32", arithmetic: str = "float32") -> BuildReport:
    """Read, clean, cut, embed and write the documents chunk by chunk into a new version.

    ``documents`` (references: ids, hashes and where to read, in flat buffers) is read in order: each
    document is read when the build gets to it and let go once its passages are cut and its record written,
    so no text is held for longer than that. ``show_bars`` is accepted for the callers' sake; progress lines
    (rate and ETA) replace bars."""
    total = len(documents)
    progress(f"read {total} documents")
    fingerprint = sources_fingerprint(documents, chunking, overrides, precision)
    count = model.token_counter()
    reuse = PreviousVectors(previous, precision)
    timer = Timer()
    timer.add("read documents", read_seconds)
    totals = {"passages": 0, "sentences": 0, "embedded": 0}

    def write(folder: Path) -> dict:
        embedder = _Embedder(folder, previous, reuse, timer, progress, threads, precision, arithmetic)
        try:
            return fill(folder, embedder)
        except BaseException:
            embedder.discard()
            raise

    def fill(folder: Path, embedder: _Embedder) -> dict:
        # Two BM25 fields: passage bodies, and document titles (scored once per document, added to its
        # passages). Each chunk's texts are tokenized when it is embedded and let go; only token ids stay.
        bodies, titles = KeywordIndexWriter(), KeywordIndexWriter()
        any_title = False
        sentence_table = array("q")  # document number, start, end of each sentence row, flat
        pending: list[list[str]] = [[], [], []]
        pending_keywords: tuple[list[str], list[str]] = ([], [])  # passage texts, document titles
        started, last_said = time.perf_counter(), time.perf_counter()
        progress(f"embedding the passages and sentences of {total} documents (chunks of {chunk_texts} "
                 "texts" + (f", reusing {len(reuse)} vectors of the live version" if reuse else "") + ")")

        def flush(done: int) -> None:
            nonlocal last_said
            embedder.add(pending)
            with timer("BM25 keyword index"):
                for writer, texts in zip((bodies, titles), pending_keywords, strict=True):
                    writer.add(texts)
            for group in (*pending, *pending_keywords):
                group.clear()
            now = time.perf_counter()
            if now - last_said >= PROGRESS_SECONDS or done == total:
                last_said = now
                texts = sum(f.rows for f in embedder.files)
                since = embedder.ready_at or started
                rate = texts / max(now - since, 1e-9)
                eta = (now - since) / done * (total - done)
                progress(f"embedded {texts} texts of {done}/{total} documents ({embedder.embedded} through "
                         f"the model), {rate:.0f} texts/s, ETA {_duration(eta)}")

        with (folder / layout.DOCUMENTS).open("w", encoding="utf-8") as docs_out, \
                (folder / layout.PASSAGES).open("w", encoding="utf-8") as passages_out, DocumentReader() as reader:
            for number, ref in enumerate(documents):
                with timer("read documents"):
                    d = reader.read(ref)
                with timer("clean + cut"):
                    c = clean(d)
                    meta = merge(SourceMeta(title=c.title, url=d.url, published=parse_date(c.published)),
                                 overrides.get(d.doc_id))
                    c.title = meta.title  # the title embedded with every passage
                    passages = make_passages(c, count, chunking)
                    # One row per distinct prose sentence; passages point at their sentences by row number.
                    rows: dict[tuple[int, int], int] = {}
                    first_row = totals["sentences"]
                    passage_rows = [[rows.setdefault(span, first_row + len(rows)) for span in p.sentences]
                                    for p in passages]
                    spans = list(rows)  # in row order
                    table = np.array([(number, s, e) for s, e in spans], dtype=np.int64).reshape(-1, 3)
                    # Two vectors a sentence: alone (which sentence answers: highlights and the "no answer" model)
                    # and with its neighbours (SENTENCE_WINDOW: does this place in the text answer, for ranking).
                    # Measured against either alone: docs/RETRIEVAL.md. Neighbours never cross documents, so a
                    # document's sentences suffice. Ranking reads the window vectors only to compare the places
                    # of a document that was cut (Searcher.fuse weighs them by 1 - 1/passages), so a document
                    # that is one passage reuses the vectors of its sentences alone: same ranking, and on a
                    # collection of short records about a third fewer tokens through the model.
                    sentence_texts = [" ".join(c.visible(s, e).split()) for s, e in spans]
                    pending[0].extend(p.embed_text for p in passages)
                    pending[1].extend(sentence_texts)
                    pending[2].extend(sentence_inputs(sentence_texts, table) if len(passages) > 1 else sentence_texts)
                    sentence_table.extend(table.ravel().tolist())
                    pending_keywords[0].extend(p.text for p in passages)
                    pending_keywords[1].append(meta.title or "")
                    any_title = any_title or bool(meta.title)
                    totals["passages"] += len(passages)
                    totals["sentences"] += len(spans)
                with timer("write documents.jsonl + passages.jsonl"):
                    docs_out.write(json.dumps({
                        "doc_id": d.doc_id, **meta.as_dict(), "title": meta.title or d.doc_id,
                        "kind": d.kind, "sha256": ref.sha256, "text": d.text,
                        **({"source_sha256": d.source_sha256} if d.source_sha256 else {}),
                    }, ensure_ascii=False) + "\n")
                    for p, prow in zip(passages, passage_rows, strict=True):
                        passages_out.write(json.dumps({
                            "doc_id": p.doc_id, "start": p.start, "end": p.end, "section": p.section,
                            "sentences": prow,
                        }, ensure_ascii=False) + "\n")
                if sum(map(len, pending)) >= chunk_texts:
                    flush(number + 1)
            del ref, d, c, passages
            if any(pending) or any(pending_keywords):
                flush(total)
        if not totals["passages"]:
            raise ValueError("the sources hold no indexable text")
        embedder.close()
        give_back_freed_memory()
        embedder.ensure_encoder_folder()  # a build that embedded nothing still ships the encoder
        totals["embedded"] = embedder.embedded
        progress(f"{totals['passages']} passages, {totals['sentences']} sentences: "
                 f"{sum(map(len, embedder.keys))} texts, {embedder.embedded} embedded, {embedder.reused} reused "
                 "from the live version, the rest repeated within this build")

        with timer("write vector_keys.json + sentences.npy"):
            embedder.write_keys(folder / VECTOR_KEYS)
            embedder.forget()
            np.save(folder / layout.SENTENCES, np.frombuffer(sentence_table, dtype=np.int64).reshape(-1, 3))
            del sentence_table
        progress("building keyword index")
        with timer("BM25 keyword index"):
            bodies.save(folder / layout.BODY_KEYWORDS)
            if any_title:
                titles.save(folder / layout.TITLE_KEYWORDS)
            give_back_freed_memory()
        progress("writing the dense index")
        with timer("dense index"):
            index = make_dense_index(folder / PASSAGE_VECTORS_TMP)
            faiss.write_index(index, str(folder / layout.DENSE))
            dense_index = describe(index)
            del index
            (folder / PASSAGE_VECTORS_TMP).unlink()
        progress(timer.line())
        return {
            "model": {
                "name": model.MODEL_NAME, "dimension": model.DIMENSION,
                "max_seq_length": model.MAX_SEQ_LENGTH, "normalized": True, "similarity": "cosine (inner product)",
                "precision": precision,
                # What computed the vectors this build embedded (reused ones may come from an earlier build).
                "document_encoder": engine_label(arithmetic),
            },
            "dense_index": dense_index,
            "keyword_index": {"library": "bm25s", "stemmer": "english", "stopwords": "en"},
            "chunking": chunking.as_dict(),
            "metadata_file": str(metadata_file) if metadata_file and metadata_file.exists() else None,
            "fingerprint": fingerprint,
            "counts": {"documents": total, "passages": totals["passages"],
                       "sentences": totals["sentences"], "embedded": totals["embedded"]},
        }

    version = store.publish(index_dir, write)
    progress(f"published {version} ({totals['embedded']} texts embedded, the rest reused)")
    return BuildReport(version, total, totals["passages"], totals["sentences"], time.perf_counter() - began,
                       embedded=totals["embedded"])
