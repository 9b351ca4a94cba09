"""Deciding which ranges of a scraped document are article text.

Cleaning never rewrites text: it returns blocks (``[start, end)`` ranges of the original text)
tagged as heading, paragraph, list item or short line, drops site chrome (navigation, search
boxes, logos, share buttons, comment forms, teasers...), and finds the headline and any printed
publication date. The rules are about the kind of line, not about particular files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from corpus.documents import Document

_BULLET = re.compile(r"^(?:[•·▪◦‣●○■□➢➤►–—\-*+]|\d{1,3}[.)]|[a-zA-Z][.)])\s+")
_MD_HEADING = re.compile(r"^#{1,6}\s+")

# Whole lines that are site furniture, whatever the site (matched case-insensitively, bullet removed).
_CHROME_LINES = re.compile(
    r"""^(?:
        search|search\ for:?|close\ this\ search\ box\.?|skip\ to\ (?:main\ )?content|menu|main\ menu|home
      | log\ ?in|sign\ ?in|sign\ ?up|register|subscribe(?:\ now)?|contact(?:\ us)?
      | share(?:\ this)?(?:\ (?:post|article|page))?(?:\ on\ \w+)?:?|tweet|pin\ it|copy\ link|print|e-?mail
      | facebook|twitter|x|linkedin|instagram|youtube|pinterest|whatsapp|reddit|telegram|tiktok
      | leave\ a\ (?:reply|comment)|post\ a\ comment|comments?|\d+\ comments?|reply
      | your\ email\ address\ will\ not\ be\ published\..*|required\ fields\ are\ marked.*
      | name\ ?\*?|email\ ?\*?|website|save\ my\ name.*|post\ comment|submit
      | you\ may\ also\ like.*|you\ might\ also\ like.*|related\ (?:posts|articles|reading|content)
      | recommended(?:\ for\ you|\ reading)?|read\ more|read\ next|continue\ reading|more\ from\ .*
      | table\ of\ contents|contents|in\ this\ article|on\ this\ page
      | add\ a\ header\ to\ begin\ generating\ the\ table\ of\ contents
      | trusted\ by\ .*|as\ seen\ on.*|.{0,40}\blogo
      | accept(?:\ all)?(?:\ cookies)?|we\ use\ cookies.*|cookie\ (?:policy|settings)
      | previous(?:\ (?:post|article))?|next(?:\ (?:post|article))?|back\ to\ top|scroll\ to\ top
      | tags?:.*|categor(?:y|ies):.*|filed\ under.*|posted\ in.*
      | all\ rights\ reserved.*|©.*|copyright\ .*|privacy\ policy|terms(?:\ (?:of\ (?:use|service)|and\ conditions))?
      | key\ takeaways:?|what\ you\ need\ to\ know:?|qu[ée]\ hay\ que\ saber:?|tl;?dr:?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Calls to action anywhere in a line mark the whole line as a teaser.
_CHROME_PHRASES = re.compile(
    r"\bclick (?:here )?to\b|\bsign up for (?:our|the) newsletter\b|\bsubscribe to (?:our|the)\b",
    re.IGNORECASE,
)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_LINE = re.compile(
    rf"^(?:(?:published|updated|posted)(?:\ on)?:?\ )?(?:{_MONTHS}\ \d{{1,2}},?\ \d{{4}}|\d{{1,2}}\ {_MONTHS}\ \d{{4}}"
    r"|\d{4}-\d{2}-\d{2})$",
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"[.!;,:]$")

SHORT_LINE_WORDS = 12
SHORT_LINE_CHARS = 100
TITLE_SEARCH_BLOCKS = 8
NAV_RUN_MIN = 3


@dataclass(frozen=True)
class Block:
    """A range of article text. ``runs`` are the ranges whose concatenation is its text (one run: every
    document's text is plain text, HTML included)."""

    kind: str  # "heading", "paragraph", "item" or "line"
    runs: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.runs[0][0]

    @property
    def end(self) -> int:
        return self.runs[-1][1]


@dataclass
class CleanDocument:
    doc: Document
    title: str | None
    published: str | None
    blocks: list[Block]
    # Ranges judged to be chrome, kept for inspection and tests.
    dropped: list[tuple[int, int]] = field(default_factory=list)

    def visible(self, start: int, end: int) -> str:
        """Readable text of a range: the slice itself (an HTML document's text holds no markup)."""
        return self.doc.text[start:end]


def _is_short(text: str) -> bool:
    return len(text) <= SHORT_LINE_CHARS and len(text.split()) <= SHORT_LINE_WORDS


def _is_numbered_heading(text: str) -> bool:
    """"3. Budget Management": a short numbered line without closing punctuation."""
    bare = _strip_bullet(text)
    return bool(re.match(r"^\d{1,3}[.)]\s", text)) and _is_short(bare) and not _SENTENCE_END.search(bare)


def _strip_bullet(text: str) -> str:
    return _BULLET.sub("", text, count=1)


def is_chrome_line(text: str) -> bool:
    bare = _strip_bullet(text.strip()).strip()
    return bool(_CHROME_LINES.match(bare) or _CHROME_PHRASES.search(bare))


def is_date_line(text: str) -> bool:
    return bool(_DATE_LINE.match(text.strip()))


# ---------------------------------------------------------------- raw lines


@dataclass
class _Line:
    start: int
    end: int
    text: str
    html_kind: str | None = None  # for HTML: "h1".."h6", "li" or "chrome", from the markup
    runs: tuple[tuple[int, int], ...] = ()


def _text_lines(text: str) -> list[_Line]:
    lines = []
    for m in re.finditer(r"[^\r\n]+", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            lines.append(_Line(s, e, text[s:e], runs=((s, e),)))
    return lines


def _html_lines(doc: Document) -> list[_Line]:
    """An HTML document's text is already its visible text, one line per block element: it is cleaned
    line by line like plain text, knowing what the markup said about each line (heading, item, chrome)."""
    kinds = dict(doc.line_kinds)
    lines = _text_lines(doc.text)
    for ln in lines:
        ln.html_kind = kinds.get(ln.start)
    return lines


# ---------------------------------------------------------------- classification


def _classify(lines: list[_Line], markdown: bool) -> list[str]:
    """Kind of each line: heading, paragraph, item or line (a short line that is not a heading)."""
    kinds: list[str] = []
    for ln in lines:
        text = ln.text
        if ln.html_kind in ("h1", "h2", "h3", "h4", "h5", "h6") or (markdown and _MD_HEADING.match(text)):
            kinds.append("heading")
        elif ln.html_kind == "li" or _BULLET.match(text):
            # A numbered short line followed by prose ("3. Budget Management") is a heading, decided below.
            kinds.append("item")
        elif _is_short(text) and not _SENTENCE_END.search(text):
            kinds.append("line")
        else:
            kinds.append("paragraph")
    # Short lines (and short numbered lines) directly above prose are headings. A run of two such lines
    # is heading + subheading; in a longer run (a table, a list of names) only the last one is.
    for i in range(1, len(lines)):
        if kinds[i] != "paragraph" and not (kinds[i] == "item" and not _is_numbered_heading(lines[i].text)):
            continue
        run = i
        while run > 0 and i - run < 3 and (kinds[run - 1] == "line" or _is_numbered_heading(lines[run - 1].text)):
            run -= 1
        if run == i:
            continue
        first = run if i - run <= 2 else i - 1
        for j in range(first, i):
            kinds[j] = "heading"
    return kinds


def _title_from(lines: list[_Line], kinds: list[str]) -> str | None:
    for ln, kind in list(zip(lines, kinds, strict=True))[:TITLE_SEARCH_BLOCKS]:
        if ln.html_kind == "h1" or (kind in ("heading", "line") and len(ln.text.split()) >= 2):
            return _MD_HEADING.sub("", ln.text).strip()
    return None


def _clean_record(doc: Document) -> CleanDocument:
    """A JSONL record is already clean text: every line is kept as a paragraph, nothing is dropped as
    chrome, and the title is the record's own (never guessed from the first line)."""
    blocks = [Block(kind="paragraph", runs=ln.runs) for ln in _text_lines(doc.text)]
    return CleanDocument(doc=doc, title=doc.title, published=None, blocks=blocks)


def clean(doc: Document) -> CleanDocument:
    if doc.kind == "record":
        return _clean_record(doc)
    lines = _html_lines(doc) if doc.kind == "html" else _text_lines(doc.text)
    dropped: list[tuple[int, int]] = []
    published: str | None = None
    kept: list[_Line] = []
    for ln in lines:
        if ln.html_kind == "chrome":  # inside nav, header, footer, aside, form...
            dropped.append((ln.start, ln.end))
        elif is_date_line(ln.text):
            published = published or ln.text
            dropped.append((ln.start, ln.end))
        elif is_chrome_line(ln.text):
            dropped.append((ln.start, ln.end))
        else:
            kept.append(ln)

    kinds = _classify(kept, markdown=doc.kind == "markdown")
    # A trailing run of short lines after the last prose is a footer menu (or an orphan heading).
    tail = len(kept)
    while tail > 0 and kinds[tail - 1] in ("line", "heading") and _is_short(kept[tail - 1].text):
        tail -= 1
    trailing = kinds[tail:]
    if len(trailing) >= NAV_RUN_MIN or (trailing and all(k == "heading" for k in trailing)):
        dropped.extend((ln.start, ln.end) for ln in kept[tail:])
        kept, kinds = kept[:tail], kinds[:tail]

    title = doc.title or _title_from(kept, kinds)
    blocks: list[Block] = []
    title_seen = False
    for n, (ln, kind) in enumerate(zip(kept, kinds, strict=True)):
        if title and kind != "paragraph" and _MD_HEADING.sub("", ln.text).strip() == title:
            # A headline at the top is metadata (it is embedded with every passage); a repeat is furniture.
            if n == 0 or title_seen:
                dropped.append((ln.start, ln.end))
                title_seen = True
                continue
            title_seen = True
        blocks.append(Block(kind=kind, runs=ln.runs))
    dropped.sort()
    return CleanDocument(doc=doc, title=title, published=published, blocks=blocks, dropped=dropped)
