"""The indexed documents: list, full text with the ranges passages cover, and references to export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse, Response

from service import references, schemas
from service.routers.deps import NOT_FOUND, SearcherDep

router = APIRouter()


def _summary(d) -> dict:
    return {"doc_id": d.doc_id, "title": d.title, "published": d.published, "url": d.url, "author": d.author,
            "site": d.site, "length": len(d.text), "passages": d.passage_count}


@router.get("/documents", response_model=schemas.DocumentList, summary="List the indexed documents")
async def documents(s: SearcherDep) -> schemas.DocumentList:
    return schemas.DocumentList(documents=[schemas.DocumentSummary(**_summary(d)) for d in s.documents])


@router.get("/documents/{doc_id:path}/reference", responses=NOT_FOUND, response_class=PlainTextResponse,
            summary="A document's reference for reference managers: BibTeX, RIS or CSL-JSON")
async def document_reference(
    s: SearcherDep, doc_id: str,
    format: Annotated[Literal["bibtex", "ris", "csl-json"], Query(description="file format")] = "bibtex",
) -> Response:
    d = s.doc_by_id.get(doc_id)
    if d is None:
        raise HTTPException(status_code=404, detail="no such document")
    return Response(references.export(d, format), media_type=references.FORMATS[format] + "; charset=utf-8")


@router.get("/documents/{doc_id:path}", response_model=schemas.DocumentFull, responses=NOT_FOUND,
            summary="One document's full text and metadata")
async def document(s: SearcherDep, doc_id: str) -> schemas.DocumentFull:
    d = s.doc_by_id.get(doc_id)
    if d is None:
        raise HTTPException(status_code=404, detail="no such document")
    return schemas.DocumentFull(**_summary(d), sha256=d.sha256, text=d.text, indexed=s.indexed_ranges(doc_id))
