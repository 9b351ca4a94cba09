"""The HTTP layer: validation, routing and error shapes. Retrieval lives in ``service.search``."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from indexer import store
from kb.config import get_settings
from service import references, schemas
from service.batcher import MicroBatcher
from service.check import CheckedSentence, DraftTooLarge, check_draft
from service.citations import Citation, CitationError, cite
from service.ops import Metrics, RateLimitMiddleware, RequestMiddleware, admin_guard
from service.search import Hit, QueryError, Searcher, load_searcher
from service.stores import live_version

log = logging.getLogger("kb.service")
STATIC = Path(__file__).resolve().parent / "static"
NO_ANSWER = "No passage in the sources answers this question."


def _span(span) -> schemas.Span | None:
    return None if span is None else schemas.Span(start=span.start, end=span.end, text=span.text)


def _citation(c: Citation) -> schemas.CitationOut:
    return schemas.CitationOut(style=c.style, doc_id=c.doc_id, start=c.start, end=c.end, quote=c.quote,
                               reference=c.reference, reference_html=c.reference_html, in_text=c.in_text,
                               paragraph=c.paragraph, text=c.text)


def _result(hit: Hit, doc, style: str) -> schemas.SearchResult:
    return schemas.SearchResult(
        rank=hit.rank, score=hit.score, doc_id=hit.doc_id, title=hit.title, section=hit.section,
        start=hit.start, end=hit.end, text=hit.text, highlight=_span(hit.highlight),
        context_before=_span(hit.context_before), context_after=_span(hit.context_after),
        citation=_citation(cite(doc, hit.highlight.start, hit.highlight.end, style)),
    )


def _source(hit: Hit, doc, style: str) -> schemas.CheckSource:
    quote = hit.highlight
    c = cite(doc, quote.start, quote.end, style)
    return schemas.CheckSource(doc_id=hit.doc_id, title=hit.title, start=hit.start, end=hit.end, text=hit.text,
                               quote=_span(quote), score=hit.score, citation=c.text, in_text=c.in_text,
                               reference=c.reference)


def _checked(c: CheckedSentence, docs: dict, style: str) -> schemas.CheckedSentence:
    return schemas.CheckedSentence(
        start=c.start, end=c.end, text=c.text, supported=c.supported, confidence=round(c.probability, 4),
        sources=[_source(h, docs[h.doc_id], style) for h in c.sources],
        related=[_source(h, docs[h.doc_id], style) for h in c.related],
    )


async def get_searcher(request: Request) -> Searcher:
    """The loaded index (shared state, swapped as a whole when the index is reloaded).

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker thread,
    a hop that cost about 8% of the event loop's time under load."""
    return request.app.state.searcher


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


def _api_key_guard(keys: frozenset[str]):
    async def check(x_api_key: str | None = Header(None, description="API key, when the service requires one")):
        if keys and x_api_key not in keys:
            raise HTTPException(status_code=401, detail="missing or unknown API key (X-API-Key)")

    return check


# Control characters, lone surrogates, and U+FFFD (what an undecodable URL byte becomes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffd]")


def create_app(searcher: Searcher, index_dir: Path | str | None = None) -> FastAPI:
    """The app around a loaded index; ``index_dir`` (an index folder or a ``postgresql://`` store) is where
    POST /admin/reload looks for a newer one."""
    settings = get_settings()
    metrics = Metrics()
    metrics.set_index(searcher.version_dir.name, searcher.passage_count)

    def timed_encode(texts: list[str], lane: bool):
        began = time.perf_counter()
        vectors = app.state.searcher.encode(texts, lane=lane)
        path = "lane" if lane else "all_cores"
        metrics.model_seconds.labels(path).observe(time.perf_counter() - began)
        metrics.batch_size.labels(path).observe(len(texts))
        return vectors

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lanes = searcher.encoder.threads  # one single-thread lane per core the all-cores call uses
        batcher = MicroBatcher(timed_encode, lanes=lanes, max_batch=settings.max_batch)
        await batcher.start()
        app.state.batcher = batcher
        await run_in_threadpool(searcher.encoder.warm_up)
        log.info("ready: %d passages, query embedding on %d single-thread lanes (a lone query on all %d)",
                 searcher.passage_count, lanes, lanes)
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
    app.state.reload_lock = asyncio.Lock()
    if settings.rate_limit > 0:
        app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit, burst=int(2 * settings.rate_limit))
    # Added last, so it runs first: limited and refused requests are counted and logged too.
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])
    # Without configured keys there is nothing to check (and no header to document in the schema).
    guarded = [Depends(_api_key_guard(settings.api_keys))] if settings.api_keys else []
    admin = [Depends(admin_guard(settings.admin_token))]

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

    async def run_search(s: Searcher, req: schemas.SearchRequest) -> Response:
        """Validate, embed through the shared micro-batcher, then rank.

        Ranking runs on the event loop: it takes under half a millisecond here, less than a hop to a
        worker thread costs under load (measured in docs/BENCHMARKS.md)."""
        query = req.q.strip()
        if not query:
            raise HTTPException(status_code=422, detail="query is empty")
        if len(query) > settings.max_query_chars:
            raise HTTPException(status_code=422, detail=f"query is {len(query)} characters long; the limit is "
                                f"{settings.max_query_chars} (KB_MAX_QUERY_CHARS)")
        if _CONTROL.search(query):
            raise HTTPException(status_code=422, detail="query contains control characters or invalid Unicode")
        began = time.perf_counter()
        try:
            vector = await app.state.batcher.encode(query)

            def ranked(text: str, vector) -> list[Hit]:
                return s.search(text, k=req.k, mode=req.mode, doc_ids=req.doc_ids, min_score=req.min_score,
                                query_vector=vector)

            async def rank(text: str, vector) -> list[Hit]:
                # A store that waits on the network (PostgreSQL) is read from a worker thread, not the event loop.
                return await run_in_threadpool(ranked, text, vector) if s.store.remote else ranked(text, vector)

            hits = await rank(query, vector)
            message, suggestion = None if hits else NO_ANSWER, None
            if not hits and (suggestion := s.speller.correct(query)):  # "Nadela": search what was meant
                hits = await rank(suggestion, await app.state.batcher.encode(suggestion))
                message = f"Showing results for “{suggestion}”." if hits else NO_ANSWER
                suggestion = suggestion if hits else None
        except QueryError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        metrics.queries.labels("answered" if hits else "no_answer").inc()
        body = schemas.SearchResponse(
            query=query, mode=req.mode, results=[_result(h, s.doc_by_id[h.doc_id], req.style) for h in hits],
            message=message, suggestion=suggestion, took_ms=round((time.perf_counter() - began) * 1000, 3),
        )
        # Built from the model, so already valid: serialise once instead of letting FastAPI re-validate it.
        return Response(body.model_dump_json(), media_type="application/json")

    errors = {422: {"model": schemas.ErrorBody}}

    @app.get("/search", response_model=schemas.SearchResponse, responses=errors, summary="Search (query string)",
             dependencies=guarded)
    async def search_get(
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
        return await run_search(s, req)

    @app.post("/search", response_model=schemas.SearchResponse, responses=errors, summary="Search (JSON body)",
              dependencies=guarded)
    async def search_post(s: SearcherDep, body: schemas.SearchRequest) -> Response:
        return await run_search(s, body)

    def _summary(d) -> dict:
        return {"doc_id": d.doc_id, "title": d.title, "published": d.published, "url": d.url, "author": d.author,
                "site": d.site, "length": len(d.text), "passages": d.passage_count}

    @app.get("/documents", response_model=schemas.DocumentList, summary="List the indexed documents",
             dependencies=guarded)
    async def documents(s: SearcherDep) -> schemas.DocumentList:
        return schemas.DocumentList(documents=[schemas.DocumentSummary(**_summary(d)) for d in s.documents])

    @app.get("/documents/{doc_id:path}/reference", responses={404: {"model": schemas.ErrorBody}},
             response_class=PlainTextResponse, dependencies=guarded,
             summary="A document's reference for reference managers: BibTeX, RIS or CSL-JSON")
    async def document_reference(
        s: SearcherDep, doc_id: str,
        format: Annotated[Literal["bibtex", "ris", "csl-json"], Query(description="file format")] = "bibtex",
    ) -> Response:
        d = s.doc_by_id.get(doc_id)
        if d is None:
            raise HTTPException(status_code=404, detail="no such document")
        return Response(references.export(d, format), media_type=references.FORMATS[format] + "; charset=utf-8")

    @app.get("/documents/{doc_id:path}", response_model=schemas.DocumentFull,
             responses={404: {"model": schemas.ErrorBody}}, summary="One document's full text and metadata",
             dependencies=guarded)
    async def document(s: SearcherDep, doc_id: str) -> schemas.DocumentFull:
        d = s.doc_by_id.get(doc_id)
        if d is None:
            raise HTTPException(status_code=404, detail="no such document")
        return schemas.DocumentFull(**_summary(d), sha256=d.sha256, text=d.text, indexed=s.indexed_ranges(doc_id))

    @app.get("/cite", response_model=schemas.CitationOut,
             responses={404: {"model": schemas.ErrorBody}, 422: {"model": schemas.ErrorBody}},
             summary="Citation of an exact range of a document", dependencies=guarded)
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
            return _citation(cite(d, start, end, style))
        except CitationError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/check", response_model=schemas.CheckResponse, responses={413: {"model": schemas.ErrorBody}, **errors},
              summary="Check a draft: each sentence with the sources that state it, or flagged", dependencies=guarded)
    async def check(s: SearcherDep, body: schemas.CheckRequest) -> schemas.CheckResponse:
        began = time.perf_counter()
        try:
            checked = await run_in_threadpool(check_draft, s, body.text)  # one batched encode, off the loop
        except DraftTooLarge as exc:
            raise HTTPException(status_code=413, detail=str(exc)) from None
        sentences = [_checked(c, s.doc_by_id, body.style) for c in checked]
        supported = sum(c.supported for c in checked)
        return schemas.CheckResponse(sentences=sentences, supported=supported, unsupported=len(checked) - supported,
                                     took_ms=round((time.perf_counter() - began) * 1000, 3))

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        """The search page for writers (no external assets: it works offline)."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics_page() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", response_model=schemas.Reloaded, dependencies=admin,
              responses={401: {"model": schemas.ErrorBody}, 403: {"model": schemas.ErrorBody},
                         409: {"model": schemas.ErrorBody}},
              summary="Load the newest index version (requires the admin bearer token)")
    async def reload(request: Request) -> schemas.Reloaded:
        if index_dir is None:
            raise HTTPException(status_code=409, detail="this service was not started from an index folder or store")
        async with request.app.state.reload_lock:
            current: Searcher = request.app.state.searcher
            try:
                version = live_version(index_dir)
                if version is not None and version == current.version:
                    return schemas.Reloaded(reloaded=False, index_version=version, passages=current.passage_count)
                fresh = await run_in_threadpool(load_searcher, index_dir, settings.threads or None, current)
                await run_in_threadpool(fresh.encoder.warm_up)
            except store.BadIndexError as exc:
                metrics.reloads.labels("refused").inc()
                raise HTTPException(status_code=409, detail=f"kept the current index: {exc}") from None
            # One assignment: requests that already hold the old searcher finish with it.
            request.app.state.searcher = fresh
            current.store.close()  # a database store's idle connections; requests in flight finish on theirs
            metrics.set_index(fresh.version_dir.name, fresh.passage_count)
            metrics.reloads.labels("ok").inc()
            log.info("reloaded index %s", fresh.version_dir.name)
            return schemas.Reloaded(reloaded=True, index_version=fresh.version_dir.name, passages=fresh.passage_count)

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

    # Load balancers probe with HEAD: the same answers without a body (uvicorn drops it), kept out of
    # the OpenAPI schema, which documents the GET routes.
    for path, endpoint in (("/", page), ("/healthz", healthz), ("/readyz", readyz)):
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)

    return app
