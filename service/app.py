"""The app factory: middleware, error shapes, and the routers of ``service.routers``. Retrieval lives in
``service.search``; each capability's routes live in their own module."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from service.batcher import MicroBatcher
from service.config import Settings, get_settings
from service.ops import Metrics, RateLimitMiddleware, RequestMiddleware, admin_guard
from service.routers import admin, check, cite, documents, health, page, search
from service.search import Searcher

log = logging.getLogger("kb.service")


def _api_key_guard(keys: frozenset[str]):
    async def check_key(x_api_key: str | None = Header(None, description="API key, when the service requires one")):
        if keys and x_api_key not in keys:
            raise HTTPException(status_code=401, detail="missing or unknown API key (X-API-Key)")

    return check_key


def create_app(searcher: Searcher, index_dir: Path | str | None = None, settings: Settings | None = None) -> FastAPI:
    """The app around a loaded index; ``index_dir`` (an index folder or a ``postgresql://`` store) is where
    POST /admin/reload looks for a newer one. ``settings`` are given by whoever starts the service (the
    environment's, read once, when not)."""
    settings = settings or get_settings()
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
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.index_dir = index_dir
    app.state.ready = False
    app.state.reload_lock = asyncio.Lock()
    if settings.rate_limit > 0:
        app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit, burst=int(2 * settings.rate_limit))
    # Added last, so it runs first: limited and refused requests are counted and logged too.
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])

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

    # Without configured keys there is nothing to check (and no header to document in the schema).
    guarded = [Depends(_api_key_guard(settings.api_keys))] if settings.api_keys else []
    for router in (search.router, documents.router, cite.router, check.router):
        app.include_router(router, dependencies=guarded)
    app.include_router(admin.router, dependencies=[Depends(admin_guard(settings.admin_token))])
    app.include_router(page.router)
    app.include_router(health.router)
    return app
