"""Source metadata: what the text gives (headline, printed date), completed by ``corpus/sources.toml``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

FIELDS = ("title", "author", "site", "url", "published", "description")
DEFAULT_FILE = Path(__file__).resolve().parent / "sources.toml"


class MetadataError(ValueError):
    pass


@dataclass(frozen=True)
class SourceMeta:
    title: str | None = None
    author: str | None = None
    site: str | None = None
    url: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    description: str | None = None  # what an untitled page is, for a bracketed citation ("[Web page on …]")

    def as_dict(self) -> dict:
        return asdict(self)


def parse_date(text: str | None) -> str | None:
    """ISO date from "Jul 28, 2023", "28 July 2023", "2023-07-28" (with an optional "Published" label)."""
    if not text:
        return None
    cleaned = re.sub(r"^(published|updated|posted)(\s+on)?:?\s*", "", text.strip(), flags=re.IGNORECASE)
    cleaned = re.sub(r"\bSept\b", "Sep", cleaned.replace(".", "").replace(",", ""), flags=re.IGNORECASE)
    for fmt in ("%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def load_overrides(path: Path | None) -> dict[str, dict]:
    if path is None or not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{path}: {exc}") from exc
    for doc_id, fields in data.items():
        if not isinstance(fields, dict):
            raise MetadataError(f"{path}: [{doc_id}] must be a table")
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise MetadataError(f"{path}: [{doc_id}] unknown field(s) {', '.join(sorted(unknown))}")
        if "published" in fields:
            value = fields["published"]
            if isinstance(value, date):
                fields["published"] = value.isoformat()
            elif parse_date(str(value)) is None:
                raise MetadataError(f"{path}: [{doc_id}] published must be a date (YYYY-MM-DD)")
            else:
                fields["published"] = parse_date(str(value))
    return data


def merge(extracted: SourceMeta, override: dict | None) -> SourceMeta:
    values = extracted.as_dict()
    for key, value in (override or {}).items():
        if value not in (None, ""):
            values[key] = str(value).strip()
    return SourceMeta(**values)
