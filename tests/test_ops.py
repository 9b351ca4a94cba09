"""Operations: metrics, request ids, limits and odd input, admin auth, and reload under load."""

from __future__ import annotations

import re
import shutil
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.search import load_searcher
from tests.conftest import SEEDS
from tests.loadgen import SearchLoad, admin_reload, wait_ready
from tests.test_e2e import free_port

TOKEN = "test-admin-token"


@pytest.fixture()
def settings_env(monkeypatch):
    """Settings as the environment would give them with these KB_ variables; passed to create_app."""
    def apply(**env: str) -> Settings:
        for key, value in env.items():
            monkeypatch.setenv(f"KB_{key}", value)
        return Settings()

    return apply


@pytest.fixture(scope="module")
def client(searcher):
    with TestClient(create_app(searcher)) as c:
        yield c


def test_metrics_count_routes_outcomes_and_index(client):
    client.get("/search", params={"q": "Which agile methodologies support product leadership?"})
    client.get("/search", params={"q": "How do I bake sourdough bread at home?"})
    client.get("/search", params={"q": ""})
    text = client.get("/metrics").text
    assert 'kb_http_requests_total{method="GET",route="/search",status="200"}' in text
    assert 'kb_http_requests_total{method="GET",route="/search",status="422"}' in text
    assert 'kb_queries_total{outcome="no_answer"}' in text and 'kb_queries_total{outcome="answered"}' in text
    assert "kb_index_passages" in text and "kb_index_info{version=" in text and "kb_model_seconds_count" in text


def test_request_id_is_returned_and_kept(client):
    made = {client.get("/healthz").headers["x-request-id"] for _ in range(20)}
    assert len(made) == 20 and all(re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]{8,}", rid) for rid in made)
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"] != "bad id\n"


@pytest.mark.parametrize("query,status", [
    ("control\x00char", 422), ("bell\x07", 422), ("ما هي قيادة المنتج؟", 200), ("‮reversed text‬", 200),
    ("emoji 🙂 product leadership", 200),
])
def test_odd_unicode(client, query, status):
    r = client.get("/search", params={"q": query})
    assert r.status_code == status and "Traceback" not in r.text


def test_lone_surrogate_in_url_is_4xx(client):
    r = client.get("/search?q=%ED%A0%80abc")
    assert 400 <= r.status_code < 500


def test_body_size_limit(client):
    body = b"{\"q\": \"" + b"a" * 200_000 + b"\"}"
    r = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/documents/..%2F..%2Fetc%2Fpasswd", "/documents/../../pyproject.toml",
                                  "/documents/%00", "/documents/seeds%2F000_84296d58a3fcb7b3.txt"])
def test_path_tricks_never_leave_the_corpus(client, path):
    r = client.get(path)
    assert r.status_code == 404 and "root:" not in r.text


def test_admin_is_disabled_without_a_token(searcher, settings_env):
    with TestClient(create_app(searcher, settings=settings_env(ADMIN_TOKEN=""))) as c:
        assert c.post("/admin/reload").status_code == 403
        assert c.post("/admin/reload", headers={"Authorization": "Bearer anything"}).status_code == 403


def test_api_keys_when_configured(searcher, settings_env):
    with TestClient(create_app(searcher, settings=settings_env(API_KEYS="k1,k2"))) as c:
        assert c.get("/search", params={"q": "RICE"}).status_code == 401
        assert c.get("/search", params={"q": "RICE"}, headers={"X-API-Key": "k2"}).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_rate_limit_when_configured(searcher, settings_env):
    limited = settings_env(RATE_LIMIT="1")  # 1 request a second, bursts of 2
    with TestClient(create_app(searcher, settings=limited)) as c:
        codes = [c.get("/documents").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and 429 in codes[2:]
        limited = c.get("/documents")
        assert limited.status_code == 429 and limited.json()["detail"] and limited.headers["retry-after"]
        assert c.get("/healthz").status_code == 200  # probes are never limited
        assert 'status="429"' in c.get("/metrics").text


def test_reindex_and_reload_under_load_loses_no_request(seed_index, tmp_path, settings_env):
    """16 clients search while the seeds are re-indexed into the served folder and the service reloads."""
    from indexer.build import build_index

    settings = settings_env(ADMIN_TOKEN=TOKEN)
    index_dir = tmp_path / "served"
    shutil.copytree(seed_index, index_dir)
    app = create_app(load_searcher(index_dir), index_dir=index_dir, settings=settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_ready(port)
    before = load_searcher(index_dir).version_dir.name
    questions = ["What is RICE?", "How do product leaders deal with burnout?", "Is anyone born a great leader?"]
    try:
        with SearchLoad(port, 16, questions, k=5) as load:
            time.sleep(1)
            build_index([SEEDS], index_dir)  # re-index into the served folder
            assert admin_reload(port, "wrong")[0] == 401
            status, body = admin_reload(port, TOKEN)
            assert status == 200 and '"reloaded":true' in body, body
            time.sleep(1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert load.statuses and not load.failures(), load.failures()
    assert load_searcher(index_dir).version_dir.name != before
