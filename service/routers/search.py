"""GET and POST /search: ranked passages with their citations, or "no answer"."""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from service import schemas
from service.citations import cite
from service.routers.deps import ERRORS, SearcherDep
from service.routers.present import citation_out, span_out
from service.search import Hit, QueryError, Searcher

NO_ANSWER = "No passage in the sources answers this question."
# Control characters, lone surrogates, and U+FFFD (what an undecodable URL byte becomes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffd]")

router = APIRouter()


def _result(hit: Hit, doc, style: str) -> schemas.SearchResult:
    return schemas.SearchResult(
        rank=hit.rank, score=hit.score, doc_id=hit.doc_id, title=hit.title, section=hit.section,
        start=hit.start, end=hit.end, text=hit.text, highlight=span_out(hit.highlight),
        context_before=span_out(hit.context_before), context_after=span_out(hit.context_after),
        citation=citation_out(cite(doc, hit.highlight.start, hit.highlight.end, style)),
    )


async def run_search(request: Request, s: Searcher, req: schemas.SearchRequest) -> Response:
    """Validate, embed through the shared micro-batcher, then rank.

    Ranking runs on the event loop: it takes under half a millisecond here, less than a hop to a
    worker thread costs under load (measured in docs/BENCHMARKS.md)."""
    state = request.app.state
    query = req.q.strip()
    if not query:
        raise HTTPException(status_code=422, detail="query is empty")
    limit = state.settings.max_query_chars
    if len(query) > limit:
        raise HTTPException(status_code=422, detail=f"query is {len(query)} characters long; the limit is "
                            f"{limit} (KB_MAX_QUERY_CHARS)")
    if _CONTROL.search(query):
        raise HTTPException(status_code=422, detail="query contains control characters or invalid Unicode")
    began = time.perf_counter()

    def ranked(text: str, vector) -> list[Hit]:
        return s.search(text, k=req.k, mode=req.mode, doc_ids=req.doc_ids, min_score=req.min_score,
                        query_vector=vector)

    async def rank(text: str) -> list[Hit]:
        vector = await state.batcher.encode(text)
        # A store that waits on the network (PostgreSQL) is read from a worker thread, not the event loop.
        return await run_in_threadpool(ranked, text, vector) if s.store.remote else ranked(text, vector)

    try:
        hits = await rank(query)
        message, suggestion = None if hits else NO_ANSWER, None
        if not hits and (suggestion := s.speller.correct(query)):  # "Nadela": search what was meant
            hits = await rank(suggestion)
            message = f"Showing results for “{suggestion}”." if hits else NO_ANSWER
            suggestion = suggestion if hits else None
    except QueryError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    state.metrics.queries.labels("answered" if hits else "no_answer").inc()
    body = schemas.SearchResponse(
        query=query, mode=req.mode, results=[_result(h, s.doc_by_id[h.doc_id], req.style) for h in hits],
        message=message, suggestion=suggestion, took_ms=round((time.perf_counter() - began) * 1000, 3),
    )
    # Built from the model, so already valid: serialise once instead of letting FastAPI re-validate it.
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/search", response_model=schemas.SearchResponse, responses=ERRORS, summary="Search (query string)")
async def search_get(
    request: Request,
    s: SearcherDep,
    q: Annotated[str, Query(min_length=1, description="the question")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    mode: schemas.Mode = "hybrid",
    doc_id: Annotated[list[str] | None, Query(description="restrict to these documents (repeatable)")] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    style: Annotated[schemas.Style, Query(description=schemas.STYLE_HELP)] = "apa",
) -> Response:
    try:
        req = schemas.SearchRequest(q=q, k=k, mode=mode, doc_ids=doc_id, min_score=min_score, style=style)
    except ValidationError as exc:  # e.g. too many doc_id values: the body model's limits apply here too
        raise RequestValidationError(exc.errors()) from None
    return await run_search(request, s, req)


@router.post("/search", response_model=schemas.SearchResponse, responses=ERRORS, summary="Search (JSON body)")
async def search_post(request: Request, s: SearcherDep, body: schemas.SearchRequest) -> Response:
    return await run_search(request, s, body)
