"""Retrieval's results as the API's response models."""

from __future__ import annotations

from service import schemas
from service.citations import Citation


def span_out(span) -> schemas.Span | None:
    return None if span is None else schemas.Span(start=span.start, end=span.end, text=span.text)


def citation_out(c: Citation) -> schemas.CitationOut:
    return schemas.CitationOut(style=c.style, doc_id=c.doc_id, start=c.start, end=c.end, quote=c.quote,
                               reference=c.reference, reference_html=c.reference_html, in_text=c.in_text,
                               paragraph=c.paragraph, text=c.text)
