"""All configuration in one place: environment variables prefixed ``KB_``, read once and validated.

A value the service cannot use raises ``ConfigError`` naming the variable, what it expects and what
it got; ``kb`` turns that into one line on stderr and exit code 2."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the folder holding service/
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class ConfigError(ValueError):
    """A ``KB_*`` variable holds a value the service cannot use."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"KB_{name}", default)


def _int(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = _env(name, str(default)).strip()
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"KB_{name}={raw!r}: expected a whole number {bounds}") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"KB_{name}={raw!r}: expected a whole number {bounds}")
    return value


def _float(name: str, default: float, low: float, positive: bool = False) -> float:
    raw = _env(name, str(default)).strip()
    wanted = f"a number {'above' if positive else 'of at least'} {low:g}"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"KB_{name}={raw!r}: expected {wanted}") from None
    if not math.isfinite(value) or value < low or (positive and value == low):
        raise ConfigError(f"KB_{name}={raw!r}: expected {wanted}")
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _env(name, default).strip().lower()
    if raw not in choices:
        raise ConfigError(f"KB_{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


def _text(name: str, default: str) -> str:
    raw = _env(name, default).strip()
    if not raw:
        raise ConfigError(f"KB_{name} is empty")
    return raw


STORE_SCHEMES = ("postgresql://", "postgres://")


def store_url(raw: str, name: str = "KB_STORE") -> str | None:
    """A PostgreSQL store's URL (``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``), or None when empty."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.startswith(STORE_SCHEMES) or len(raw) <= len("postgres://"):
        shown = raw.split("@")[-1] if "@" in raw else raw  # never echo a password
        raise ConfigError(f"{name}={shown[:80]!r}: expected a postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL")
    return raw


def _list(name: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in _env(name, "").split(",") if x.strip())


def _proxies(name: str) -> tuple[str, ...]:
    """IP addresses or networks (``10.0.0.0/8``), or ``*`` for any peer."""
    items = _list(name)
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"KB_{name}: {item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") \
                from None
    return items


@dataclass(frozen=True)
class Settings:
    """Runtime settings; every field maps to ``KB_<FIELD NAME IN CAPITALS>``."""

    index_dir: Path = field(default_factory=lambda: Path(_text("INDEX_DIR", str(PROJECT_ROOT / "index"))))
    sources: Path = field(default_factory=lambda: Path(_text("SOURCES", str(PROJECT_ROOT / "seeds"))))
    # A PostgreSQL + pgvector store (postgresql://...) that kb index publishes to and kb serve, search,
    # check and eval read, instead of the index folder; unset: the index folder.
    store: str | None = field(default_factory=lambda: store_url(_env("STORE", "")))
    host: str = field(default_factory=lambda: _text("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("PORT", 8000, 1, 65535))
    # Cores for query embedding: the lone-query call's ONNX Runtime threads and the number of
    # single-thread lanes under load; 0 means every core this process may use.
    threads: int = field(default_factory=lambda: _int("THREADS", 0, 0, 1024))
    # Micro-batching: the most queries one model call takes.
    max_batch: int = field(default_factory=lambda: _int("MAX_BATCH", 64, 1, 4096))
    max_query_chars: int = field(default_factory=lambda: _int("MAX_QUERY_CHARS", 10000, 1))
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 65536, 1))
    # HTTP hardening: the most bytes of a request line plus headers (more: 431), the seconds a client
    # has to send a whole request once it starts (or once it connects; slower: 408 and the connection
    # closed), and the seconds an idle keep-alive connection stays open.
    max_header_bytes: int = field(default_factory=lambda: _int("MAX_HEADER_BYTES", 16384, 1024))
    read_timeout: float = field(default_factory=lambda: _float("READ_TIMEOUT", 10, 0, positive=True))
    keep_alive: int = field(default_factory=lambda: _int("KEEP_ALIVE", 5, 1, 3600))
    log_level: str = field(default_factory=lambda: _choice("LOG_LEVEL", "info", LOG_LEVELS))
    # Admin endpoints (POST /admin/reload) need this bearer token; unset, they are disabled.
    admin_token: str | None = field(default_factory=lambda: _env("ADMIN_TOKEN", "") or None)
    # Optional API keys (comma-separated) required in X-API-Key for search, cite and documents.
    api_keys: frozenset[str] = field(default_factory=lambda: frozenset(_list("API_KEYS")))
    # Per-client rate limit in requests per second (0: off), with bursts of twice that (at least 1).
    rate_limit: float = field(default_factory=lambda: _float("RATE_LIMIT", 0, 0))
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or networks);
    # none by default, so the client address (for the rate limit and the logs) is the TCP peer's.
    trusted_proxies: tuple[str, ...] = field(default_factory=lambda: _proxies("TRUSTED_PROXIES"))
    # Browser origins allowed to call the API (comma-separated); none by default.
    cors_origins: tuple[str, ...] = field(default_factory=lambda: _list("CORS_ORIGINS"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
