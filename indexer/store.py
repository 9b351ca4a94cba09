"""The index on disk: a folder of plain files described by a manifest, published atomically.

Layout of an index folder (``KB_INDEX_DIR``): ``indexer/layout.py`` names every file and says what it
holds; besides them, ``.lock`` (builds hold an exclusive flock on it from start to publish) and
``.build-*`` folders of builds in progress.

A build takes the lock (a second build waits for it), writes a new version into a uniquely named
``.build-*`` folder, renames it to a unique version name and then replaces ``CURRENT``; a crash or
Ctrl-C before that leaves the previous version serving. After the switch, versions other than the
live one and the one it replaced are pruned; leftovers of killed builds go at the next build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from indexer import layout

FORMAT_VERSION = 1
MANIFEST = layout.MANIFEST
CURRENT = layout.CURRENT
LOCK = ".lock"
KEEP_VERSIONS = 2
MAX_POINTER_BYTES = 256
# What CURRENT may hold: one plain folder name (no path, no hidden name, printable ASCII).
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Files every version has (the serve path reads them), besides the bm25/ and encoder/ folders.
REQUIRED_FILES = layout.REQUIRED
REQUIRED_FOLDERS = (f"{layout.BODY_KEYWORDS}/", f"{layout.ENCODER}/")


class BadIndexError(Exception):
    """An index folder that cannot be served: missing, from another model or format, or damaged."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_files(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST]


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file in a version folder except the manifest, by relative path."""
    return {name: file_sha256(folder / name) for name in _relative_files(folder)}


def current_version(index_dir: Path) -> Path | None:
    """The version folder ``CURRENT`` names; None when there is no pointer, BadIndexError when it is broken."""
    pointer = index_dir / CURRENT
    try:
        with pointer.open("rb") as f:
            raw = f.read(MAX_POINTER_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise BadIndexError(f"{pointer}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_POINTER_BYTES:
        raise BadIndexError(f"{pointer}: longer than {MAX_POINTER_BYTES} bytes, not a version name")
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadIndexError(f"{pointer}: not UTF-8 text") from None
    if not _VERSION_NAME.fullmatch(name):
        raise BadIndexError(f"{pointer}: does not name a version folder ({name[:60]!r})")
    version = index_dir / name
    if not version.is_dir():
        raise BadIndexError(f"{pointer}: names {name!r}, which is not a folder in {index_dir}")
    return version


def read_manifest(version_dir: Path) -> dict:
    path = version_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadIndexError(f"{path}: missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadIndexError(f"{path}: not valid JSON") from exc
    except OSError as exc:
        raise BadIndexError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not isinstance(manifest, dict):
        raise BadIndexError(f"{path}: not a JSON object")
    # Versions built before 2026-12-08 also listed every document's hash here (documents.jsonl holds them):
    # at a million documents that table held about 195 MB of a loaded service's memory for as long as it ran
    # (docs/BENCHMARKS.md, "The manifest without every document's hash").
    manifest.pop("sources", None)
    return manifest


def _is_safe_name(name: object) -> bool:
    """A relative path inside the version folder, written the way ``hash_files`` writes it."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and path.as_posix() == name and all(p not in (".", "..") for p in path.parts)


def listed_files(version_dir: Path, manifest: dict) -> dict[str, str]:
    """The manifest's ``files`` table (path -> sha256), which must list every file of the version."""
    where = version_dir / MANIFEST
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BadIndexError(f"{where}: no 'files' table listing the index files (damaged index)")
    for name, digest in files.items():
        if not _is_safe_name(name) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise BadIndexError(f"{where}: bad 'files' entry {str(name)[:60]!r} (damaged index)")
    missing = [n for n in REQUIRED_FILES if n not in files]
    missing += [d for d in REQUIRED_FOLDERS if not any(n.startswith(d) for n in files)]
    if missing:
        raise BadIndexError(f"{where}: 'files' does not list {missing[0]} (damaged index)")
    return files


def verify(version_dir: Path, expected_model: str, expected_dimension: int, check_hashes: bool = True) -> dict:
    """The manifest of a version, after checking it belongs to this program and its files are intact."""
    manifest = read_manifest(version_dir)
    found = manifest.get("format_version")
    if type(found) is not int or found != FORMAT_VERSION:
        raise BadIndexError(f"index format {str(found)[:40]!r} but this program reads {FORMAT_VERSION}; rebuild it")
    model = manifest.get("model")
    if not isinstance(model, dict):
        raise BadIndexError(f"{version_dir / MANIFEST}: 'model' is not an object (damaged index)")
    name, dimension = model.get("name"), model.get("dimension")
    if name != expected_model or type(dimension) is not int or dimension != expected_dimension:
        raise BadIndexError(
            f"index built with {str(name)[:80]!r} (dim {str(dimension)[:20]}), "
            f"this program uses {expected_model!r} (dim {expected_dimension}); rebuild it"
        )
    files = listed_files(version_dir, manifest)
    if check_hashes:
        try:
            for rel, digest in files.items():
                path = version_dir / rel
                if not path.is_file():
                    raise BadIndexError(f"{path}: missing")
                if file_sha256(path) != digest:
                    raise BadIndexError(f"{path}: damaged (checksum differs from the manifest)")
            unlisted = sorted(set(_relative_files(version_dir)) - files.keys())
        except OSError as exc:
            raise BadIndexError(f"{version_dir}: cannot read ({exc.strerror or exc})") from exc
        if unlisted:
            raise BadIndexError(f"{version_dir / unlisted[0]}: not listed in the manifest (damaged index)")
    return manifest


@contextmanager
def build_lock(index_dir: Path, on_wait: Callable[[str], None] = lambda _msg: None) -> Iterator[None]:
    """Hold the index folder's build lock (an exclusive flock on ``.lock``); wait, saying so once, if taken.

    The kernel drops the lock when its holder dies, so a killed build never blocks the next one."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another build of {index_dir} to finish (it holds {index_dir / LOCK})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def publish(index_dir: Path, write: Callable[[Path], dict]) -> Path:
    """Build a new version with ``write(folder) -> manifest`` and switch ``CURRENT`` to it atomically.

    Call it holding ``build_lock(index_dir)``: no other build is running then, so leftovers of killed
    builds can go, and pruning cannot remove what another build reads or writes."""
    index_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(index_dir)
    try:
        replaced = current_version(index_dir)
    except BadIndexError:
        replaced = None
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=index_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; other processes (replicas) read it
    try:
        manifest = write(staging)
        manifest["files"] = hash_files(staging)
        manifest["format_version"] = FORMAT_VERSION
        manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _write_json_atomic(staging / MANIFEST, manifest)
        digest = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:8]
        while True:  # unique even for two builds of the same sources in the same second
            name = f"v-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{digest}-{secrets.token_hex(3)}"
            final = index_dir / name
            if not final.exists():
                break
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(final)
    _write_pointer(index_dir, name)
    _prune(index_dir, live=name, replaced=replaced.name if replaced else None)
    return final


def _write_pointer(index_dir: Path, name: str) -> None:
    """Replace CURRENT atomically: a uniquely named temporary file, fsync, rename, fsync the folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{CURRENT}.", suffix=".tmp", dir=index_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write((name + "\n").encode("utf-8"))
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, index_dir / CURRENT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(index_dir)


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


def _remove_leftovers(index_dir: Path) -> None:
    """Staging folders and pointer files of killed builds (under the lock, no other build owns any)."""
    for p in index_dir.glob(".build-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob(f".{CURRENT}.*tmp"):
        p.unlink(missing_ok=True)


def _prune(index_dir: Path, live: str, replaced: str | None) -> None:
    """Keep the live version and the one it replaced (a service may still be reading it).

    With no valid previous pointer, the newest other version is kept instead."""
    keep = {live} | ({replaced} if replaced else set())
    others = sorted((p for p in index_dir.glob("v-*") if p.is_dir() and not p.is_symlink() and p.name not in keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for p in others[max(0, KEEP_VERSIONS - len(keep)):]:
        shutil.rmtree(p, ignore_errors=True)
