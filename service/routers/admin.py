"""POST /admin/reload: load the newest index version without dropping a request."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from indexer import store
from service import schemas
from service.routers.deps import MetricsDep, SettingsDep
from service.search import Searcher, load_searcher
from service.stores import live_version

log = logging.getLogger("kb.service")
router = APIRouter()


@router.post("/admin/reload", response_model=schemas.Reloaded,
             responses={401: {"model": schemas.ErrorBody}, 403: {"model": schemas.ErrorBody},
                        409: {"model": schemas.ErrorBody}},
             summary="Load the newest index version (requires the admin bearer token)")
async def reload(request: Request, settings: SettingsDep, metrics: MetricsDep) -> schemas.Reloaded:
    index_dir = request.app.state.index_dir
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
