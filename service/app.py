"""The HTTP layer: validation, routing and error shapes. Retrieval lives in ``service.search``."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from kb.config import get_settings
from service import schemas
from service.batcher import MicroBatcher
from service.citations import Citation, CitationError, cite
from service.search import Hit, QueryError, Searcher

log = logging.getLogger("kb.service")
STATIC = Path(__file__).resolve().parent / "static"
NO_ANSWER = "No passage in the sources answers this question."


def _span(span) -> schemas.Span | None:
    return None if span is None else schemas.Span(start=span.start, end=span.end, text=span.text)


def _citation(c: Citation) -> schemas.CitationOut:
    return schemas.CitationOut(style=c.style, doc_id=c.doc_id, start=c.start, end=c.end, quote=c.quote,
                               reference=c.reference, text=c.text)


def _result(hit: Hit, doc, style: str) -> schemas.SearchResult:
    return schemas.SearchResult(
        rank=hit.rank, score=hit.score, doc_id=hit.doc_id, title=hit.title, section=hit.section,
        start=hit.start, end=hit.end, text=hit.text, highlight=_span(hit.highlight),
        context_before=_span(hit.context_before), context_after=_span(hit.context_after),
        citation=_citation(cite(doc, hit.highlight.start, hit.highlight.end, style)),
    )


def get_searcher(request: Request) -> Searcher:
    """The loaded index (shared state, swapped as a whole when the index is reloaded)."""
    return request.app.state.searcher


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


def create_app(searcher: Searcher) -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher = MicroBatcher(lambda texts: app.state.searcher.encode(texts),
                               max_batch=settings.max_batch, wait_ms=settings.batch_wait_ms)
        await batcher.start()
        app.state.batcher = batcher
        # Warm the encoder so the first real query does not pay for lazy initialisation.
        await batcher.encode("warm up")
        app.state.ready = True
        yield
        app.state.ready = False
        await batcher.stop()

    app = FastAPI(
        title="Knowledge-base search",
        version="0.1.0",
        description="Ranked, verbatim passages from the indexed sources, with their offsets, for citation.",
        lifespan=lifespan,
    )
    app.state.searcher = searcher
    app.state.ready = False

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    async def run_search(s: Searcher, req: schemas.SearchRequest) -> schemas.SearchResponse:
        """Validate, embed through the shared micro-batcher, then rank.

        Ranking runs on the event loop: it takes about a millisecond here, less than a hop to a
        worker thread costs under load (measured in docs/BENCHMARKS.md)."""
        query = req.q.strip()
        if not query:
            raise HTTPException(status_code=422, detail="query is empty")
        if len(query) > settings.max_query_chars:
            raise HTTPException(status_code=422, detail=f"query is longer than {settings.max_query_chars} characters")
        began = time.perf_counter()
        try:
            vector = await app.state.batcher.encode(query)
            hits = s.search(query, k=req.k, mode=req.mode, doc_ids=req.doc_ids, min_score=req.min_score,
                            query_vector=vector)
        except QueryError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return schemas.SearchResponse(
            query=query, mode=req.mode, results=[_result(h, s.doc_by_id[h.doc_id], req.style) for h in hits],
            message=None if hits else NO_ANSWER, took_ms=round((time.perf_counter() - began) * 1000, 3),
        )

    errors = {422: {"model": schemas.ErrorBody}}

    @app.get("/search", response_model=schemas.SearchResponse, responses=errors, summary="Search (query string)")
    async def search_get(
        s: SearcherDep,
        q: Annotated[str, Query(min_length=1, description="the question")],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        mode: schemas.Mode = "hybrid",
        doc_id: Annotated[list[str] | None, Query(description="restrict to these documents (repeatable)")] = None,
        min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        style: Literal["plain", "markdown", "apa"] = "apa",
    ) -> schemas.SearchResponse:
        return await run_search(
            s, schemas.SearchRequest(q=q, k=k, mode=mode, doc_ids=doc_id, min_score=min_score, style=style)
        )

    @app.post("/search", response_model=schemas.SearchResponse, responses=errors, summary="Search (JSON body)")
    async def search_post(s: SearcherDep, body: schemas.SearchRequest) -> schemas.SearchResponse:
        return await run_search(s, body)

    def _summary(d) -> dict:
        return {"doc_id": d.doc_id, "title": d.title, "published": d.published, "url": d.url, "author": d.author,
                "site": d.site, "length": len(d.text), "passages": d.passage_count}

    @app.get("/documents", response_model=schemas.DocumentList, summary="List the indexed documents")
    async def documents(s: SearcherDep) -> schemas.DocumentList:
        return schemas.DocumentList(documents=[schemas.DocumentSummary(**_summary(d)) for d in s.documents])

    @app.get("/documents/{doc_id:path}", response_model=schemas.DocumentFull,
             responses={404: {"model": schemas.ErrorBody}}, summary="One document's full text and metadata")
    async def document(s: SearcherDep, doc_id: str) -> schemas.DocumentFull:
        d = s.doc_by_id.get(doc_id)
        if d is None:
            raise HTTPException(status_code=404, detail="no such document")
        return schemas.DocumentFull(**_summary(d), sha256=d.sha256, text=d.text)

    @app.get("/cite", response_model=schemas.CitationOut,
             responses={404: {"model": schemas.ErrorBody}, 422: {"model": schemas.ErrorBody}},
             summary="Citation of an exact range of a document")
    async def cite_range(
        s: SearcherDep,
        doc_id: str,
        start: Annotated[int, Query(ge=0)],
        end: Annotated[int, Query(ge=1)],
        style: Literal["plain", "markdown", "apa"] = "apa",
    ) -> schemas.CitationOut:
        d = s.doc_by_id.get(doc_id)
        if d is None:
            raise HTTPException(status_code=404, detail="no such document")
        try:
            return _citation(cite(d, start, end, style))
        except CitationError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The search page for writers (no external assets: it works offline)."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz", response_model=schemas.Health, summary="The process is alive")
    async def healthz() -> schemas.Health:
        return schemas.Health(status="ok")

    @app.get("/readyz", response_model=schemas.Ready, responses={503: {"model": schemas.Ready}},
             summary="The index is loaded and the model warm")
    async def readyz(request: Request) -> JSONResponse:
        s: Searcher = request.app.state.searcher
        ready = bool(request.app.state.ready)
        body = schemas.Ready(ready=ready, index_version=s.version_dir.name, passages=s.passage_count)
        return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())

    return app
