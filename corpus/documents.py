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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


def read_jsonl(path: Path) -> Iterator[Document]:
    """One document a line: ``id`` or ``_id``, ``text``, optional ``title`` and ``url`` (BEIR layout).
    A bad line stops the build with a message naming the file and the line."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{shown(str(path))}:{lineno}"
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{where}: invalid JSON ({exc.msg})") from exc
            yield _record(record, where)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


def load_documents(sources: Iterable[Path]) -> list[Document]:
    """Documents from files and folders; ids are paths relative to the folder given (or file names)."""
    documents: dict[str, Document] = {}
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
            found = list(read_jsonl(path)) if path.suffix.lower() == ".jsonl" else [read_file(path, rel)]
            for doc in found:
                if doc.doc_id in documents:
                    raise SourceError(f"duplicate document id '{shown(doc.doc_id)}' (from {shown(str(path))})")
                documents[doc.doc_id] = doc
    return [documents[k] for k in sorted(documents)]
