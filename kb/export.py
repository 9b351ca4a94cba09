"""Search results as text for the terminal, or as Markdown, CSV or JSON lines to paste into notes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping

from service.citations import cite
from service.search import Hit
from service.stores import DocumentRecord

NO_ANSWER = "No passage in the sources answers this question."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render(hits: list[Hit], docs: Mapping[str, DocumentRecord], fmt: str, question: str, style: str = "apa") -> str:
    rows = []
    for h in hits:
        c = cite(docs[h.doc_id], h.highlight.start, h.highlight.end, style)
        rows.append({"rank": h.rank, "score": h.score, "doc_id": h.doc_id, "title": h.title, "section": h.section,
                     "start": h.start, "end": h.end, "text": h.text, "quote": c.quote,
                     "quote_start": c.start, "quote_end": c.end, "citation": c.text})
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["rank"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if not rows:
        return (f"## {question}\n\n_{NO_ANSWER}_\n" if fmt == "md" else NO_ANSWER + "\n")
    if fmt == "md":
        parts = [f"## {question}\n"]
        for r in rows:
            parts.append(f"### {r['rank']}. {r['title']} ({r['doc_id']} [{r['start']}:{r['end']}])\n\n"
                         f"> {_one_line(r['quote'])}\n\n{r['citation']}\n\n<details><summary>passage</summary>\n\n"
                         f"{_one_line(r['text'])}\n\n</details>\n")
        return "\n".join(parts)
    parts = []
    for r in rows:
        parts.append(f"{r['rank']}. [{r['score']:.3f}] {r['title']} — {r['doc_id']} [{r['start']}:{r['end']}]"
                     + (f"\n   section: {r['section']}" if r["section"] else "")
                     + f"\n   {_one_line(r['text'])}\n   quote: \"{_one_line(r['quote'])}\""
                     + f"\n   cite: {r['citation']}\n")
    return "\n".join(parts)


def render_check(draft: str, checked: list, docs: Mapping[str, DocumentRecord], fmt: str, style: str = "apa") -> str:
    """A checked draft: the draft as written, with a mark and a citation after each supported sentence
    and a flag after each unsupported one (``text``), or with Markdown footnotes citing the sources (``md``)."""
    out: list[str] = []
    notes: list[str] = []
    position = 0
    for c in checked:
        out.append(draft[position:c.end])
        position = c.end
        if c.supported:
            best = c.sources[0]
            citation = cite(docs[best.doc_id], best.highlight.start, best.highlight.end, style).text
            if fmt == "md":
                notes.append(f"[^{len(notes) + 1}]: {_one_line(citation)}")
                out.append(f"[^{len(notes)}]")
            else:
                out.append(f" [✓ {_one_line(citation)}]")
        else:
            out.append(" [⚠ unsupported: no source states this]" if fmt != "md" else " **[unsupported]**")
    out.append(draft[position:])
    text = "".join(out)
    if notes:
        text = text.rstrip("\n") + "\n\n" + "\n".join(notes) + "\n"
    return text if text.endswith("\n") else text + "\n"
