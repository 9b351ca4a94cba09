"""Reading source files into documents whose text is never rewritten.

A document's ``text`` is exactly what offsets point into: the file decoded as UTF-8 with no
newline translation, the ``text`` field of a JSONL line, or for an HTML page its visible text
(``corpus.html_text``: markup is never part of a document, so it can never be quoted). Everything
downstream refers to ``[start, end)`` ranges of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from corpus.html_text import visible_text

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")


class SourceError(ValueError):
    """A source that cannot be read as documents (bad encoding, bad JSONL line...)."""


@dataclass(frozen=True, slots=True)  # slots: 50 bytes less a record held by a build
class Document:
    doc_id: str
    text: str
    kind: str  # "text", "markdown", "html" or "record" (JSONL)
    title: str | None = None  # a title given by the source itself (JSONL), not guessed
    url: str | None = None
    # HTML only: what the markup said about lines of ``text`` ((line start, "h1".."h6", "li" or "chrome")),
    # and the sha256 of the raw file the visible text was extracted from.
    line_kinds: tuple[tuple[int, str], ...] = ()
    source_sha256: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    return "text"


def _read_text(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise SourceError(f"{shown(str(path))}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def read_file(path: Path, doc_id: str) -> Document:
    """A text, Markdown or HTML file as one document (HTML: its visible text, see ``corpus.html_text``)."""
    kind = _kind(path)
    raw = _read_text(path)
    if kind != "html":
        return Document(doc_id=doc_id, text=raw, kind=kind)
    page = visible_text(raw)
    return Document(doc_id=doc_id, text=page.text, kind=kind, line_kinds=page.line_kinds,
                    source_sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest())


_SURROGATE = re.compile(r"[\ud800-\udfff]")  # a lone surrogate (a JSON escape, an undecodable file name)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # newlines, tabs, NUL...: no URL path or log line holds them


def shown(name: str) -> str:
    """A name on one printable line: undecodable file-name bytes as \\xNN, other odd characters escaped."""
    return "".join(
        f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
        else repr(c)[1:-1] if _SURROGATE.match(c) or _CONTROL.match(c) else c
        for c in name
    )


def _check_file_id(path: Path, doc_id: str) -> None:
    """A file's id is its relative path: it must be valid Unicode without control characters, so that
    ``GET /documents/{doc_id}`` can serve it and every message naming it stays one line."""
    if _SURROGATE.search(doc_id):
        raise SourceError(f"{shown(str(path))}: the file name is not valid UTF-8; rename the file")
    if _CONTROL.search(doc_id):
        raise SourceError(f"{shown(str(path))}: the file name holds a control character (newline, tab...); "
                          "rename the file")


def _record(record: object, where: str) -> Document:
    """One JSONL record as a document, or a SourceError saying what is wrong with it."""
    if not isinstance(record, dict):
        raise SourceError(f"{where}: a line must be a JSON object")
    doc_id = record.get("id", record.get("_id"))
    text = record.get("text")
    if doc_id is None or not isinstance(text, str):
        raise SourceError(f"{where}: a line needs an 'id' (or '_id') and a string 'text'")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise SourceError(f"{where}: the id must be a string or an integer, not {json.dumps(doc_id)[:40]}")
    doc_id = str(doc_id)
    if not doc_id.strip():
        raise SourceError(f"{where}: the id is empty")
    if _CONTROL.search(doc_id):
        raise SourceError(f"{where}: the id '{shown(doc_id)}' holds a control character (newline, tab...)")
    title, url = record.get("title"), record.get("url")
    for name, value in (("title", title), ("url", url)):
        if value is not None and not isinstance(value, str):
            raise SourceError(f"{where}: '{name}' must be a string, not {json.dumps(value)[:40]}")
    for name, value in (("id", doc_id), ("text", text), ("title", title), ("url", url)):
        if value and (bad := _SURROGATE.search(value)):
            raise SourceError(f"{where}: '{name}' holds a lone surrogate ({shown(bad.group())}), which is "
                              "invalid Unicode")
    return Document(doc_id=doc_id, text=text, kind="record", title=title.strip() or None if title else None,
                    url=url or None)


def _jsonl_line(raw: bytes, lineno: int, where: str) -> Document | None:
    """One line of a JSONL file as a document (None for a blank line), or a SourceError naming the line."""
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where}: invalid JSON ({exc.msg})") from exc
    return _record(record, where)


def _read_jsonl_at(path: Path) -> Iterator[tuple[Document, int, int]]:
    """Each document of a JSONL file with the byte offset and number of its line."""
    offset = 0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            doc = _jsonl_line(raw, lineno, f"{shown(str(path))}:{lineno}")
            if doc is not None:
                yield doc, offset, lineno
            offset += len(raw)


def read_jsonl(path: Path) -> Iterator[Document]:
    """One document a line: ``id`` or ``_id``, ``text``, optional ``title`` and ``url`` (BEIR layout).
    A bad line stops the build with a message naming the file and the line."""
    for doc, _, _ in _read_jsonl_at(path):
        yield doc


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """Where a document is, and what a build must know of it before reading it: its id and its text's hash.

    A million short records held as documents cost their texts and about 350 bytes each for the whole
    build; held as references, a build reads each one when it gets to it (``DocumentReader``)."""

    doc_id: str
    digest: bytes  # SHA-256 of the text, as Document.sha256 gives it in hex
    path: Path
    line: int = 0  # JSONL: the line's number and byte offset; 0: the whole file is the document
    offset: int = 0
    rel: str = ""  # a file's id as found (its path relative to the folder given)

    @property
    def sha256(self) -> str:
        return self.digest.hex()


def _found(sources: Iterable[Path]) -> Iterator[tuple[Document, Path, int, int, str]]:
    """Every document of the sources: (document, file, JSONL line number or 0, its byte offset, file id)."""
    for source in sources:
        if not source.exists():
            raise SourceError(f"{shown(str(source))}: no such file or folder")
        if source.is_dir():
            pairs = [(p, p.relative_to(source).as_posix()) for p in _files_under(source)]
        elif source.suffix.lower() in SUPPORTED_SUFFIXES:
            pairs = [(source, source.name)]
        else:
            raise SourceError(f"{shown(str(source))}: unsupported file type (use {', '.join(SUPPORTED_SUFFIXES)})")
        for path, rel in pairs:
            _check_file_id(path, rel)
            if path.suffix.lower() == ".jsonl":
                for doc, offset, line in _read_jsonl_at(path):
                    yield doc, path, line, offset, rel
            else:
                yield read_file(path, rel), path, 0, 0, rel


def _id_order(ids: list[str], path_of: Callable[[int], Path]) -> np.ndarray:
    """Positions of ``ids`` in id order; a repeated id is a SourceError naming the file of its second
    occurrence (``path_of`` gives the file of a position)."""
    order = np.argsort(np.array(ids, dtype=object), kind="stable") if ids else np.zeros(0, dtype=np.int64)
    for a, b in zip(order[:-1], order[1:], strict=True):  # sorted: a repeated id is next to its first
        if ids[a] == ids[b]:
            raise SourceError(f"duplicate document id '{shown(ids[b])}' (from {shown(str(path_of(b)))})")
    return order


def load_documents(sources: Iterable[Path]) -> list[Document]:
    """Documents from files and folders; ids are paths relative to the folder given (or file names)."""
    found = [(d, path) for d, path, _, _, _ in _found(sources)]
    order = _id_order([d.doc_id for d, _ in found], lambda n: found[n][1])
    return [found[n][0] for n in order]


class DocumentRefs(Sequence[DocumentRef]):
    """The references of a scan, by id, in a few flat buffers: ids in one string, hashes in one buffer, JSONL
    line numbers and offsets in one array. A million references cost about 80 bytes each this way, where a
    million ``DocumentRef`` objects (with their strings and ints) cost about 300; one is made when asked for."""

    def __init__(self, found: Iterable[tuple[str, bytes, Path, int, int, str]]) -> None:
        ids: list[str] = []
        digests = bytearray()
        places = array("q")  # line, offset of each reference, in the order found
        files: dict[tuple[Path, str], int] = {}
        file_of = array("i")
        for doc_id, digest, path, line, offset, rel in found:
            ids.append(doc_id)
            digests += digest
            places.extend((line, offset))
            file_of.append(files.setdefault((path, rel), len(files)))
        self._files = list(files)
        order = _id_order(ids, lambda n: self._files[file_of[n]][0])
        self._ids = "".join(ids[n] for n in order)
        self._id_ends = np.cumsum([len(ids[n]) for n in order], dtype=np.int64)
        del ids
        self._digests = np.frombuffer(bytes(digests), dtype="V32")[order].tobytes()
        self._places = np.frombuffer(places, dtype=np.int64).reshape(-1, 2)[order]
        self._file_of = np.frombuffer(file_of, dtype=np.int32)[order]

    def __len__(self) -> int:
        return len(self._id_ends)

    def doc_id(self, n: int) -> str:
        start = int(self._id_ends[n - 1]) if n > 0 else 0
        return self._ids[start:int(self._id_ends[n])]

    def __getitem__(self, n: int) -> DocumentRef:  # type: ignore[override]  # one reference, not slices
        if not isinstance(n, int):
            raise TypeError("DocumentRefs are read one at a time")
        if n < 0:
            n += len(self)
        if not 0 <= n < len(self):
            raise IndexError(n)
        path, rel = self._files[self._file_of[n]]
        line, offset = self._places[n].tolist()
        return DocumentRef(self.doc_id(n), self._digests[32 * n:32 * n + 32], path, line, offset, rel)

    def __iter__(self) -> Iterator[DocumentRef]:
        return (self[n] for n in range(len(self)))


def scan_documents(sources: Iterable[Path]) -> DocumentRefs:
    """What ``load_documents`` finds, in the same order, as references: each text is read and hashed, then
    let go."""
    return DocumentRefs((d.doc_id, bytes.fromhex(d.sha256), path, line, offset, rel)
                        for d, path, line, offset, rel in _found(sources))


class DocumentReader:
    """Reads referenced documents again, keeping each JSONL file open between records; a document whose
    text no longer has the hash it had when scanned is an error (its source changed during the build)."""

    def __init__(self) -> None:
        self._files: dict[Path, BinaryIO] = {}

    def read(self, ref: DocumentRef) -> Document:
        if ref.line:
            f = self._files.get(ref.path)
            if f is None:
                f = self._files[ref.path] = ref.path.open("rb")
            f.seek(ref.offset)
            try:
                doc = _jsonl_line(f.readline(), ref.line, f"{shown(str(ref.path))}:{ref.line}")
            except SourceError:  # the lines moved: what is at the offset now is no line of ours
                doc = None
        else:
            doc = read_file(ref.path, ref.rel)
        if doc is None or doc.doc_id != ref.doc_id or doc.sha256 != ref.sha256:
            raise SourceError(f"{shown(str(ref.path))}: changed while it was being indexed "
                              f"('{shown(ref.doc_id)}'); index again")
        return doc

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
