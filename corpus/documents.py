"""Reading source files into documents whose text is never rewritten.

A document's ``text`` is exactly what offsets point into: the file decoded as UTF-8 with no
newline translation, the ``text`` field of a JSONL line, or for an HTML page its visible text
(``corpus.html_text``: markup is never part of a document, so it can never be quoted). Everything
downstream refers to ``[start, end)`` ranges of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.html_text import visible_text

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")


class SourceError(ValueError):
    """A source that cannot be read as documents (bad encoding, bad JSONL line...)."""


@dataclass(frozen=True)
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
        raise SourceError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc


def read_file(path: Path, doc_id: str) -> Document:
    """A text, Markdown or HTML file as one document (HTML: its visible text, see ``corpus.html_text``)."""
    kind = _kind(path)
    raw = _read_text(path)
    if kind != "html":
        return Document(doc_id=doc_id, text=raw, kind=kind)
    page = visible_text(raw)
    return Document(doc_id=doc_id, text=page.text, kind=kind, line_kinds=page.line_kinds,
                    source_sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest())


def read_jsonl(path: Path) -> Iterator[Document]:
    """One document a line: ``id`` or ``_id``, ``text``, optional ``title`` and ``url`` (BEIR layout)."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            doc_id = record.get("id", record.get("_id")) if isinstance(record, dict) else None
            text = record.get("text") if isinstance(record, dict) else None
            if doc_id is None or not isinstance(text, str):
                raise SourceError(f"{path}:{lineno}: a line needs an 'id' (or '_id') and a string 'text'")
            title = record.get("title") or None
            yield Document(
                doc_id=str(doc_id),
                text=text,
                kind="record",
                title=str(title).strip() if title else None,
                url=record.get("url") or None,
            )


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


def load_documents(sources: Iterable[Path]) -> list[Document]:
    """Documents from files and folders; ids are paths relative to the folder given (or file names)."""
    documents: dict[str, Document] = {}
    for source in sources:
        if not source.exists():
            raise SourceError(f"{source}: no such file or folder")
        if source.is_dir():
            pairs = [(p, p.relative_to(source).as_posix()) for p in _files_under(source)]
        elif source.suffix.lower() in SUPPORTED_SUFFIXES:
            pairs = [(source, source.name)]
        else:
            raise SourceError(f"{source}: unsupported file type (use {', '.join(SUPPORTED_SUFFIXES)})")
        for path, rel in pairs:
            found = list(read_jsonl(path)) if path.suffix.lower() == ".jsonl" else [read_file(path, rel)]
            for doc in found:
                if doc.doc_id in documents:
                    raise SourceError(f"duplicate document id {doc.doc_id!r} (from {path})")
                documents[doc.doc_id] = doc
    return [documents[k] for k in sorted(documents)]
