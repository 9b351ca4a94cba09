"""A document's reference in the formats reference managers import: BibTeX, RIS and CSL-JSON.

All three are made from the same CSL-JSON item as the rendered citations (``citations.csl_item``), so
a reference exported to Zotero says what the service's own citations say.
"""

from __future__ import annotations

import json
import re

from service.citations import csl_item

FORMATS = {"bibtex": "application/x-bibtex", "ris": "application/x-research-info-systems",
           "csl-json": "application/vnd.citationstyles.csl+json"}
_BIBTEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                   "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _names(item: dict) -> list[str]:
    """Authors as "Family, Given" (or the organisation's name as written)."""
    out = []
    for a in item.get("author", []):
        out.append(a["literal"] if "literal" in a else f"{a['family']}, {a['given']}")
    return out


def _date(item: dict) -> list[int]:
    return item.get("issued", {}).get("date-parts", [[]])[0]


def bibtex_key(item: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_:-]+", "_", item["id"]).strip("_") or "source"


def _bibtex_value(text: str) -> str:
    return "{" + "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in text) + "}"


def to_bibtex(doc) -> str:
    item = csl_item(doc)
    fields: list[tuple[str, str]] = [("title", item["title"])]
    names = _names(item)
    if names:
        # An organisation is one name: braces keep BibTeX from splitting it into first and last names.
        fields.append(("author", " and ".join(n if "," in n else "{" + n + "}" for n in names)))
    if "container-title" in item:
        fields.append(("organization", item["container-title"]))
    date = _date(item)
    if date:
        fields.append(("year", str(date[0])))
        if len(date) >= 2:
            fields.append(("month", str(date[1])))
    if "URL" in item:
        fields.append(("url", item["URL"]))
    fields.append(("note", f"doc_id {item['id']}"))
    body = ",\n".join(f"  {name} = {_bibtex_value(value)}" for name, value in fields)
    return f"@misc{{{bibtex_key(item)},\n{body}\n}}\n"


def to_ris(doc) -> str:
    item = csl_item(doc)
    lines = [("TY", "ELEC" if item["type"] == "webpage" else "GEN"), ("TI", item["title"])]
    lines += [("AU", n) for n in _names(item)]
    if "container-title" in item:
        lines.append(("T2", item["container-title"]))
    date = _date(item)
    if date:
        lines.append(("PY", str(date[0])))
        lines.append(("DA", "/".join(f"{x:02d}" if i else str(x) for i, x in enumerate(date))))
    if "URL" in item:
        lines.append(("UR", item["URL"]))
    lines += [("ID", item["id"]), ("ER", "")]
    return "".join(f"{tag}  - {' '.join(value.split())}".rstrip() + "\n" for tag, value in lines)


def to_csl_json(doc) -> str:
    return json.dumps([csl_item(doc)], ensure_ascii=False, indent=2) + "\n"


def export(doc, fmt: str) -> str:
    if fmt == "bibtex":
        return to_bibtex(doc)
    if fmt == "ris":
        return to_ris(doc)
    if fmt == "csl-json":
        return to_csl_json(doc)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
