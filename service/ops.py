"""Operations around the API: request ids, JSON access logs, body size limit, Prometheus metrics,
and the bearer-token check of admin endpoints. Pure ASGI middleware, so streaming stays cheap."""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import os
import re
import sys
import time
from collections import deque

from fastapi import Header, HTTPException
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import Match

log = logging.getLogger("kb.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("kb")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kb_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("kb_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
                                 buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.queries = Counter("kb_queries_total", "searches by outcome", ["outcome"], registry=self.registry)
        # path: "all_cores" (a lone query on an idle service) or "lane" (single-thread calls under load)
        self.model_seconds = Histogram("kb_model_seconds", "query-embedding calls (one per micro-batch)", ["path"],
                                       registry=self.registry, buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25))
        self.batch_size = Histogram("kb_model_batch_size", "queries per embedding call", ["path"],
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))
        self.passages = Gauge("kb_index_passages", "passages in the loaded index", registry=self.registry)
        self.index_info = Gauge("kb_index_info", "the loaded index version (value 1)", ["version"],
                                registry=self.registry)
        self.reloads = Counter("kb_index_reloads_total", "index reloads by outcome", ["outcome"],
                               registry=self.registry)

    def set_index(self, version: str, passages: int) -> None:
        self.index_info.clear()
        self.index_info.labels(version=version).set(1)
        self.passages.set(passages)


_ID_PREFIX = os.urandom(6).hex()  # differs between processes and restarts
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    """Unique within this process, and across replicas by its random prefix: cheaper than a uuid4,
    which asks the kernel for randomness on every request."""
    return f"{_ID_PREFIX}-{next(_id_counter):08x}"


class RequestMiddleware:
    """Request id (kept from X-Request-ID when sane, else new), body limit, access log, metrics."""

    def __init__(self, app, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else _new_request_id()
        began = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        length = headers.get(b"content-length")
        too_big = {"detail": f"request body larger than {self.max_body} bytes (KB_MAX_BODY_BYTES)"}
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _json(send_with_id, 413, too_big)
        elif b"transfer-encoding" in headers:
            # A chunked body announces no length: read it here, up to the limit, then hand it on.
            pending = await _read_body(receive, self.max_body)
            if pending is None:
                await _json(send_with_id, 413, too_big)
            else:
                async def replay():
                    return pending.popleft() if pending else await receive()

                await self.app(scope, replay, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        elapsed = time.perf_counter() - began
        route_path = _route_path(scope)
        self.metrics.requests.labels(route_path, scope["method"], str(status["code"])).inc()
        self.metrics.latency.labels(route_path).observe(elapsed)
        log.info("request", extra={"fields": {
            "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route_path,
            "status": status["code"], "ms": round(elapsed * 1000, 2)}})


class RateLimitMiddleware:
    """Per-client token bucket (client = peer address): ``rate`` requests a second, bursts of ``burst``.

    Health, readiness and metrics are never limited, so probes and scrapers keep working.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app, rate: float, burst: int) -> None:
        self.app = app
        self.rate = rate
        self.burst = float(max(1, burst))
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill time)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self.buckets[client] = (tokens, now)
            retry = max(1, int((1 - tokens) / self.rate + 0.999))
            data = json.dumps({"detail": "too many requests from this client; slow down"}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", str(retry).encode()),
                (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        self.buckets[client] = (tokens - 1, now)
        if len(self.buckets) > 100_000:  # forget idle clients rather than grow without bound
            self.buckets = {c: v for c, v in self.buckets.items() if now - v[1] < 60}
        await self.app(scope, receive, send)


async def _read_body(receive, limit: int) -> deque[dict] | None:
    """The request's messages up to the end of its body, or None once the body passes ``limit`` bytes."""
    messages: deque[dict] = deque()
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _route_path(scope) -> str:
    """The route template a request matched (for metrics). Requests answered before routing (rate
    limit, body limit) are matched here against the app's routes, so they count under their route too."""
    route = scope.get("route")
    if route is None:
        routes = _flat(getattr(getattr(scope.get("app"), "router", None), "routes", ()))
        matches = [(match, candidate) for candidate in routes if (match := candidate.matches(scope)[0]) != Match.NONE]
        full = [candidate for match, candidate in matches if match == Match.FULL]
        route = (full or [candidate for _, candidate in matches] or [None])[0]
    return getattr(route, "path", None) or "unmatched"


def _flat(routes):
    """Routes, with those of included routers (FastAPI keeps an included router whole, unprefixed here)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route


async def _json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def admin_guard(token: str | None):
    """A dependency: admin endpoints need ``Authorization: Bearer <KB_ADMIN_TOKEN>``; no token, no admin."""

    async def check(authorization: str | None = Header(None, description="Bearer <admin token>")) -> None:
        if not token:
            raise HTTPException(status_code=403, detail="admin endpoints are disabled (KB_ADMIN_TOKEN is not set)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong admin token",
                                headers={"WWW-Authenticate": "Bearer"})

    return check
