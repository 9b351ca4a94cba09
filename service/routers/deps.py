"""What routes share: the loaded index, the app's settings and metrics, the error shapes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service import schemas
from service.config import Settings
from service.ops import Metrics
from service.search import Searcher

ERRORS = {422: {"model": schemas.ErrorBody}}
NOT_FOUND = {404: {"model": schemas.ErrorBody}}


async def get_searcher(request: Request) -> Searcher:
    """The loaded index (shared state, swapped as a whole when the index is reloaded).

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker thread,
    a hop that cost about 8% of the event loop's time under load."""
    return request.app.state.searcher


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SearcherDep = Annotated[Searcher, Depends(get_searcher)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
