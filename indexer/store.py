"""The index on disk: a folder of plain files described by a manifest, published atomically.

Layout of an index folder (``KB_INDEX_DIR``)::

    CURRENT                      name of the live version folder (replaced atomically)
    v-<time>-<hash>/             one complete, immutable version
        manifest.json            format, model, chunking, sources' hashes, files' hashes, build time
        documents.jsonl          doc_id, title, published, url, sha256, text
        passages.jsonl           doc_id, start, end, section, first sentence, sentence count
        sentences.npy            (n, 3) int64: document number, start, end
        dense.faiss              passage vectors
        sentence_vectors.npy     sentence vectors (reranking and highlights)
        bm25/                    bm25s keyword index
        encoder/                 ONNX query encoder + tokenizer (serve path without torch)

A build writes a new version folder beside the live one and then replaces ``CURRENT``; a crash or
Ctrl-C before that leaves the previous version serving. Old versions are pruned after the switch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
KEEP_VERSIONS = 2


class BadIndexError(Exception):
    """An index folder that cannot be served: missing, from another model or format, or damaged."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file in a version folder except the manifest, by relative path."""
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name or "/" in name or name.startswith("."):
        raise BadIndexError(f"{pointer}: does not name a version folder")
    return index_dir / name


def read_manifest(version_dir: Path) -> dict:
    path = version_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadIndexError(f"{path}: missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadIndexError(f"{path}: not valid JSON") from exc
    if not isinstance(manifest, dict):
        raise BadIndexError(f"{path}: not a JSON object")
    return manifest


def verify(version_dir: Path, expected_model: str, expected_dimension: int, check_hashes: bool = True) -> dict:
    """The manifest of a version, after checking it belongs to this program and its files are intact."""
    manifest = read_manifest(version_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BadIndexError(
            f"index format {manifest.get('format_version')!r} but this program reads {FORMAT_VERSION}; rebuild it"
        )
    model = manifest.get("model") or {}
    if model.get("name") != expected_model or model.get("dimension") != expected_dimension:
        raise BadIndexError(
            f"index built with {model.get('name')!r} (dim {model.get('dimension')}), "
            f"this program uses {expected_model!r} (dim {expected_dimension}); rebuild it"
        )
    if check_hashes:
        expected = manifest.get("files") or {}
        for name, digest in expected.items():
            path = version_dir / name
            if not path.is_file():
                raise BadIndexError(f"{path}: missing")
            if file_sha256(path) != digest:
                raise BadIndexError(f"{path}: damaged (checksum differs from the manifest)")
    return manifest


def publish(index_dir: Path, write: Callable[[Path], dict]) -> Path:
    """Build a new version with ``write(folder) -> manifest`` and switch ``CURRENT`` to it atomically."""
    index_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(index_dir)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=index_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; other processes (replicas) read it
    try:
        manifest = write(staging)
        manifest["files"] = hash_files(staging)
        manifest["format_version"] = FORMAT_VERSION
        manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _write_json_atomic(staging / MANIFEST, manifest)
        digest = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:8]
        name = f"v-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{digest}"
        final = index_dir / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(final)
    pointer_tmp = index_dir / f".{CURRENT}.tmp"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    with pointer_tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _prune(index_dir, keep=name)
    return final


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_builds(index_dir: Path) -> None:
    """Staging folders left by a build that was killed (older than an hour, so not a running build)."""
    for p in index_dir.glob(".build-*"):
        if p.is_dir() and time.time() - p.stat().st_mtime > 3600:
            shutil.rmtree(p, ignore_errors=True)


def _prune(index_dir: Path, keep: str) -> None:
    """Keep the live version and the one before it (a service may still be reading it)."""
    versions = sorted((p for p in index_dir.glob("v-*") if p.is_dir()), key=lambda p: p.name)
    old = [p for p in versions if p.name != keep][: max(0, len(versions) - KEEP_VERSIONS)]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
