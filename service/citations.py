"""Citations of an exact range of a document, in plain text, Markdown and APA styles.

Only known fields are printed: a missing author, site, date or url leaves no "None", empty
brackets or dangling punctuation behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

STYLES = ("plain", "markdown", "apa")
DEFAULT_STYLE = "apa"


class CitationError(ValueError):
    pass


@dataclass(frozen=True)
class Citation:
    style: str
    doc_id: str
    start: int
    end: int
    quote: str  # verbatim: the document text [start:end]
    reference: str  # the formatted source reference
    text: str  # quote and reference together, ready to paste


def _squash(text: str) -> str:
    return " ".join(text.split())


def _date_parts(published: str | None) -> tuple[str | None, str | None]:
    """(year, "Month Day") of an ISO date."""
    if not published:
        return None, None
    try:
        d = date.fromisoformat(published)
    except ValueError:
        return published[:4] if published[:4].isdigit() else None, None
    return str(d.year), f"{d.strftime('%B')} {d.day}"


def reference(doc, style: str) -> str:
    title = doc.title
    year, month_day = _date_parts(doc.published)
    if style == "apa":
        when = f"({year}, {month_day})" if month_day else f"({year})" if year else "(n.d.)"
        titled = title if title[-1:] in ".?!" else f"{title}."
        parts = [f"{doc.author}. {when}. {titled}" if doc.author else f"{titled} {when}."]
        if doc.site:
            parts.append(f"{doc.site}.")
        if doc.url:
            parts.append(doc.url)
        return " ".join(parts)
    pieces = [f"*{title}*" if style == "markdown" else title]
    pieces += [x for x in (doc.author, doc.site) if x]
    if doc.published:
        pieces.append(doc.published)
    ref = ", ".join(pieces)
    if doc.url:
        ref += f". [{doc.url}]({doc.url})" if style == "markdown" else f". {doc.url}"
    return ref


def cite(doc, start: int, end: int, style: str = DEFAULT_STYLE) -> Citation:
    if style not in STYLES:
        raise CitationError(f"style must be one of {', '.join(STYLES)}")
    if not (0 <= start < end <= len(doc.text)):
        raise CitationError(f"range [{start}, {end}) is outside the document (length {len(doc.text)})")
    quote = doc.text[start:end]
    ref = reference(doc, style)
    locator = f"{doc.doc_id}, characters {start}–{end}"
    shown = _squash(quote)
    if style == "markdown":
        text = f"> {shown}\n\n— {ref} ({locator})"
    elif style == "apa":
        text = f"“{shown}” {ref}"
    else:
        text = f"“{shown}” — {ref} ({locator})"
    return Citation(style=style, doc_id=doc.doc_id, start=start, end=end, quote=quote, reference=ref, text=text)
