"""The visible text of an HTML page, extracted once when the file is read.

An HTML document's ``text`` is this visible text, never the markup: every offset points into it, so no
tag, attribute, script or style can ever be quoted. Block elements (and ``<br>``) end a line; inline
tags vanish and whitespace collapses as a browser renders it; entities are decoded; ``head``,
scripts, styles, templates, comments and other invisible elements are left out. What the structure
said survives as a kind per line: ``h1``..``h6`` for headings, ``li`` for list items and ``chrome`` for
visible site furniture (navigation, header, footer, aside, forms, buttons, figures), which the
cleaner drops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

INVISIBLE = {"head", "title", "script", "style", "template", "noscript", "svg", "math", "iframe", "object",
             "select", "textarea", "datalist", "canvas", "audio", "video"}
CHROME = {"nav", "header", "footer", "aside", "form", "button", "label", "figure", "dialog", "menu"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
BLOCKS = {"html", "body", "main", "article", "section", "div", "p", "blockquote", "pre", "address", "hr", "br",
          "ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th",
          "figcaption", "details", "summary", "fieldset", "legend", "center", "option"} | HEADINGS | CHROME
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # what HTML collapses (a no-break space stays)


@dataclass(frozen=True)
class VisibleText:
    text: str
    line_kinds: tuple[tuple[int, str], ...]  # (start offset of a line, its kind) for structured lines


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # open elements and whether each hides its content
        self.pieces: list[str] = []
        self.kind: str | None = None  # kind of the line being collected, fixed by its first text
        self.lines: list[tuple[str, str | None]] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self.stack)

    def _line_kind(self) -> str | None:
        tags = [t for t, _ in self.stack]
        heading = next((t for t in reversed(tags) if t in HEADINGS), None)
        chrome = {t for t in tags if t in CHROME}
        if heading and chrome <= {"header"}:  # an article's <header><h1> is its headline, not furniture
            return heading
        if chrome:
            return "chrome"
        return heading or ("li" if "li" in tags else None)

    def _flush(self) -> None:
        line = "".join(self.pieces)
        self.pieces = []
        pre = any(t == "pre" for t, _ in self.stack)
        line = line.rstrip("\r").strip() if pre else _HTML_SPACE.sub(" ", line).strip()
        if line:
            self.lines.append((line, self.kind))
        self.kind = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS or tag == "body":
            self._flush()
            if tag == "body" or any(t == "head" for t, _ in self.stack):
                # Body content closes an unclosed <head>, as in a browser.
                names = [t for t, _ in self.stack]
                if "head" in names:
                    del self.stack[names.index("head"):]
        if tag not in VOID:
            self.stack.append((tag, tag in INVISIBLE or any(name == "hidden" for name, _ in attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        names = [t for t, _ in self.stack]
        if tag in names:
            if tag in BLOCKS and not self._hidden():
                self._flush()
            del self.stack[len(names) - 1 - names[::-1].index(tag):]
        elif tag in BLOCKS:  # a stray </p> or </br> still breaks the line
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._hidden():
            return
        if any(t == "pre" for t, _ in self.stack):
            first, *rest = data.split("\n")
            self._add(first)
            for part in rest:
                self._flush()
                self._add(part)
        else:
            self._add(data)

    def _add(self, data: str) -> None:
        if self.kind is None and data.strip():
            self.kind = self._line_kind()
        self.pieces.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def visible_text(html: str) -> VisibleText:
    """The page's visible text, one line per block element, with the kinds of its structured lines."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    kinds: list[tuple[int, str]] = []
    offset = 0
    for line, kind in parser.lines:
        if kind:
            kinds.append((offset, kind))
        offset += len(line) + 1
    return VisibleText("\n".join(line for line, _ in parser.lines), tuple(kinds))
