"""All configuration in one place: environment variables prefixed ``KB_``, read once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(f"KB_{name}", default)


@dataclass(frozen=True)
class Settings:
    """Runtime settings; every field maps to ``KB_<FIELD NAME IN CAPITALS>``."""

    index_dir: Path = field(default_factory=lambda: Path(_env("INDEX_DIR", str(PROJECT_ROOT / "index"))))
    sources: Path = field(default_factory=lambda: Path(_env("SOURCES", str(PROJECT_ROOT / "seeds"))))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8000")))
    # Cores for query embedding: the lone-query call's ONNX Runtime threads and the number of
    # single-thread lanes under load; 0 means every core this process may use.
    threads: int = field(default_factory=lambda: int(_env("THREADS", "0")))
    # Micro-batching: the most queries one model call takes.
    max_batch: int = field(default_factory=lambda: int(_env("MAX_BATCH", "64")))
    max_query_chars: int = field(default_factory=lambda: int(_env("MAX_QUERY_CHARS", "1000")))
    max_body_bytes: int = field(default_factory=lambda: int(_env("MAX_BODY_BYTES", "65536")))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "info"))
    # Admin endpoints (POST /admin/reload) need this bearer token; unset, they are disabled.
    admin_token: str | None = field(default_factory=lambda: _env("ADMIN_TOKEN", "") or None)
    # Optional API keys (comma-separated) required in X-API-Key for search, cite and documents.
    api_keys: frozenset[str] = field(
        default_factory=lambda: frozenset(k.strip() for k in _env("API_KEYS", "").split(",") if k.strip())
    )
    # Per-client rate limit in requests per second (0: off), with bursts of twice that (at least 1).
    rate_limit: float = field(default_factory=lambda: float(_env("RATE_LIMIT", "0")))
    # Browser origins allowed to call the API (comma-separated); none by default.
    cors_origins: tuple[str, ...] = field(
        default_factory=lambda: tuple(o.strip() for o in _env("CORS_ORIGINS", "").split(",") if o.strip())
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
