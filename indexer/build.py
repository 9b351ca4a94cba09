"""From source files to a published index version."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from corpus.cleaning import clean
from corpus.documents import Document, load_documents
from corpus.metadata import DEFAULT_FILE as DEFAULT_METADATA
from corpus.metadata import SourceMeta, load_overrides, merge, parse_date
from corpus.passages import ChunkSettings, Passage, make_passages
from indexer import model, store
from indexer.dense import describe, make_dense_index
from indexer.keyword import build_keyword_index

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildReport:
    version_dir: Path
    documents: int
    passages: int
    sentences: int
    seconds: float
    skipped: bool = False
    embedded: int = 0  # texts that went through the model (the others were reused from the live version)


VECTOR_KEYS = "vector_keys.json"
CONTEXT_VECTORS = "sentence_context_vectors.npy"  # each sentence read with its neighbours


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def previous_vectors(version: Path | None) -> dict[str, np.ndarray]:
    """Vectors of the live version by the hash of the text they embed (empty if unusable).

    Reusing them is what makes re-indexing incremental: only new or changed text meets the model,
    and an unchanged text gets the very vector a full rebuild would compute.
    """
    if version is None or not (version / VECTOR_KEYS).is_file():
        return {}
    try:
        store.verify(version, model.MODEL_NAME, model.DIMENSION)
        keys = json.loads((version / VECTOR_KEYS).read_text(encoding="utf-8"))
        dense = faiss.read_index(str(version / "dense.faiss"))
        passage_vectors = dense.reconstruct_n(0, dense.ntotal)
        sentence_vectors = np.load(version / "sentence_vectors.npy")
        context_vectors = np.load(version / CONTEXT_VECTORS) if "contexts" in keys else np.zeros((0, 1))
    except (store.BadIndexError, OSError, ValueError, RuntimeError):
        return {}
    pairs = [(keys["passages"], passage_vectors), (keys["sentences"], sentence_vectors),
             (keys.get("contexts", []), context_vectors)]
    if any(len(k) != len(v) for k, v in pairs):
        return {}
    cache: dict[str, np.ndarray] = {}
    for k, v in pairs:
        cache.update(zip(k, v, strict=True))
    return cache


# What the model reads for each vector; a change here makes every index stale (rebuilt by --if-stale).
EMBEDDING_INPUTS = "passage: title prefix + text; sentence: alone, and with one neighbour either side"
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


def sources_fingerprint(documents: list[Document], chunking: ChunkSettings, overrides: dict) -> dict[str, str]:
    def digest(value: object) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()

    return {d.doc_id: d.sha256 for d in documents} | {
        "__chunking__": digest(chunking.as_dict()),
        "__embedding__": EMBEDDING_INPUTS,
        "__metadata__": digest({d.doc_id: overrides.get(d.doc_id) for d in documents}),
    }


def up_to_date(version: Path | None, documents: list[Document], chunking: ChunkSettings,
               overrides: dict) -> dict | None:
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
    return manifest if manifest.get("fingerprint") == sources_fingerprint(documents, chunking, overrides) else None


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
) -> BuildReport:
    began = time.perf_counter()
    documents = load_documents(sources)
    if not documents:
        raise ValueError("no documents found in " + ", ".join(map(str, sources)))
    overrides = load_overrides(metadata_file)
    # One build at a time per index folder, from reading the live version to publishing the new one.
    with store.build_lock(index_dir, on_wait=progress):
        previous = live_version(index_dir, progress)
        manifest = up_to_date(previous, documents, chunking, overrides) if only_if_stale else None
        if previous is not None and manifest is not None:
            return BuildReport(previous, len(documents), manifest["counts"]["passages"],
                               manifest["counts"]["sentences"], time.perf_counter() - began, skipped=True)
        return _build(documents, overrides, previous, index_dir, chunking, progress, show_bars, metadata_file, began)


def _build(documents: list[Document], overrides: dict, previous: Path | None, index_dir: Path,
           chunking: ChunkSettings, progress: Progress, show_bars: bool, metadata_file: Path | None,
           began: float) -> BuildReport:
    progress(f"read {len(documents)} documents")

    count = model.token_counter()
    cleaned = [clean(d) for d in documents]
    metas = []
    for d, c in zip(documents, cleaned, strict=True):
        extracted = SourceMeta(title=c.title, url=d.url, published=parse_date(c.published))
        meta = merge(extracted, overrides.get(d.doc_id))
        c.title = meta.title  # the title embedded with every passage
        metas.append(meta)
    passages: list[Passage] = []
    for c in cleaned:
        passages.extend(make_passages(c, count, chunking))
    if not passages:
        raise ValueError("the sources hold no indexable text")
    doc_number = {d.doc_id: i for i, d in enumerate(documents)}

    # One row per distinct prose sentence; passages point at their sentences by row number.
    sentence_rows: dict[tuple[int, int, int], int] = {}
    passage_sentences: list[list[int]] = []
    for p in passages:
        rows = []
        for s, e in p.sentences:
            key = (doc_number[p.doc_id], s, e)
            rows.append(sentence_rows.setdefault(key, len(sentence_rows)))
        passage_sentences.append(rows)
    sentence_table = np.array(list(sentence_rows), dtype=np.int64).reshape(-1, 3)
    progress(f"cut {len(passages)} passages, {len(sentence_table)} sentences")

    cache = previous_vectors(previous)
    embedded = {"count": 0}

    def embed_cached(texts: list[str]) -> np.ndarray:
        """Vectors for texts, embedding only those the live version has not embedded already."""
        keys = [text_key(t) for t in texts]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
        if missing:
            fresh = model.embed([texts[i] for i in missing], progress=show_bars)
            cache.update({keys[i]: v for i, v in zip(missing, fresh, strict=True)})
        embedded["count"] += len(missing)
        return np.stack([cache[k] for k in keys]) if keys else np.zeros((0, model.DIMENSION), dtype=np.float32)

    def write(folder: Path) -> dict:
        progress("embedding passages" + (" (reusing unchanged vectors)" if cache else ""))
        passage_texts = [p.embed_text for p in passages]
        passage_vectors = embed_cached(passage_texts)
        progress("embedding sentences")
        # Two vectors a sentence: alone (which sentence answers: highlights and the "no answer" model) and
        # with its neighbours (SENTENCE_WINDOW: does this place in the text answer, for ranking). Measured
        # against either alone: docs/RETRIEVAL.md.
        sentence_texts = [" ".join(cleaned[d].visible(s, e).split()) for d, s, e in sentence_table]
        context_texts = sentence_inputs(sentence_texts, sentence_table)
        sentence_vectors = embed_cached(sentence_texts)
        context_vectors = embed_cached(context_texts)
        (folder / VECTOR_KEYS).write_text(json.dumps({
            "passages": [text_key(t) for t in passage_texts], "sentences": [text_key(t) for t in sentence_texts],
            "contexts": [text_key(t) for t in context_texts],
        }), encoding="utf-8")
        np.save(folder / CONTEXT_VECTORS, context_vectors)

        index = make_dense_index(passage_vectors)
        faiss.write_index(index, str(folder / "dense.faiss"))
        np.save(folder / "sentence_vectors.npy", sentence_vectors)
        np.save(folder / "sentences.npy", sentence_table)
        progress("building keyword index")
        # Two fields: passage bodies, and document titles (scored once per document, added to its passages).
        build_keyword_index([p.text for p in passages], folder / "bm25")
        titles = [m.title or "" for m in metas]
        if any(titles):
            build_keyword_index(titles, folder / "bm25_title")
        if previous is not None and cache and (previous / "encoder" / "model.onnx").is_file():
            shutil.copytree(previous / "encoder", folder / "encoder")  # same model: reuse its export
        else:
            progress("exporting the query encoder")
            from indexer.onnx_export import export_onnx

            export_onnx(model.model_path(), folder / "encoder")

        with (folder / "documents.jsonl").open("w", encoding="utf-8") as f:
            for d, meta in zip(documents, metas, strict=True):
                f.write(json.dumps({
                    "doc_id": d.doc_id, **meta.as_dict(), "title": meta.title or d.doc_id,
                    "kind": d.kind, "sha256": d.sha256, "text": d.text,
                    **({"source_sha256": d.source_sha256} if d.source_sha256 else {}),
                }, ensure_ascii=False) + "\n")
        with (folder / "passages.jsonl").open("w", encoding="utf-8") as f:
            for p, rows in zip(passages, passage_sentences, strict=True):
                f.write(json.dumps({
                    "doc_id": p.doc_id, "start": p.start, "end": p.end, "section": p.section, "sentences": rows,
                }, ensure_ascii=False) + "\n")
        return {
            "model": {
                "name": model.MODEL_NAME, "dimension": model.DIMENSION,
                "max_seq_length": model.MAX_SEQ_LENGTH, "normalized": True, "similarity": "cosine (inner product)",
            },
            "dense_index": describe(index),
            "keyword_index": {"library": "bm25s", "stemmer": "english", "stopwords": "en"},
            "chunking": chunking.as_dict(),
            "sources": {d.doc_id: d.sha256 for d in documents},
            "metadata_file": str(metadata_file) if metadata_file and metadata_file.exists() else None,
            "fingerprint": sources_fingerprint(documents, chunking, overrides),
            "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentence_table),
                       "embedded": embedded["count"]},
        }

    version = store.publish(index_dir, write)
    progress(f"published {version} ({embedded['count']} texts embedded, the rest reused)")
    return BuildReport(version, len(documents), len(passages), len(sentence_table), time.perf_counter() - began,
                       embedded=embedded["count"])
