"""Liveness, readiness and metrics, for load balancers and monitoring (HEAD answers too)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import schemas
from service.routers.deps import MetricsDep
from service.search import Searcher

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics_page(metrics: MetricsDep) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", response_model=schemas.Health, summary="The process is alive")
async def healthz() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get("/readyz", response_model=schemas.Ready, responses={503: {"model": schemas.Ready}},
            summary="The index is loaded and the model warm")
async def readyz(request: Request) -> JSONResponse:
    s: Searcher = request.app.state.searcher
    ready = bool(request.app.state.ready)
    body = schemas.Ready(ready=ready, index_version=s.version_dir.name, passages=s.passage_count)
    return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())


# Load balancers probe with HEAD: the same answers without a body (uvicorn drops it), kept out of the
# OpenAPI schema, which documents the GET routes.
for _path, _endpoint in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)
