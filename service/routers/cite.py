"""GET /cite: the citation of an exact range of a document, in a CSL style."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from service import schemas
from service.citations import CitationError, cite
from service.routers.deps import NOT_FOUND, SearcherDep
from service.routers.present import citation_out

router = APIRouter()


@router.get("/cite", response_model=schemas.CitationOut, responses={**NOT_FOUND, 422: {"model": schemas.ErrorBody}},
            summary="Citation of an exact range of a document")
async def cite_range(
    s: SearcherDep,
    doc_id: str,
    start: Annotated[int, Query(ge=0)],
    end: Annotated[int, Query(ge=1)],
    style: Annotated[schemas.Style, Query(description=schemas.STYLE_HELP)] = "apa",
) -> schemas.CitationOut:
    d = s.doc_by_id.get(doc_id)
    if d is None:
        raise HTTPException(status_code=404, detail="no such document")
    try:
        return citation_out(cite(d, start, end, style))
    except CitationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
