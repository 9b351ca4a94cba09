"""The HTTP contract, in-process: shapes, verbatim slices, documents, health, and every bad-input path."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app


@pytest.fixture(scope="module")
def client(searcher):
    with TestClient(create_app(searcher)) as c:
        yield c


def test_search_returns_verbatim_ranked_passages(client, seed_texts):
    r = client.get("/search", params={"q": "Which agile methodologies support product leadership?", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] and body["took_ms"] >= 0 and body["mode"] == "hybrid"
    results = body["results"]
    assert 1 <= len(results) <= 5
    assert [x["rank"] for x in results] == list(range(1, len(results) + 1))
    assert [x["score"] for x in results] == sorted((x["score"] for x in results), reverse=True)
    for x in results:
        source = seed_texts[x["doc_id"]]
        assert source[x["start"]:x["end"]] == x["text"]
        for key in ("highlight", "context_before", "context_after"):
            if x[key]:
                assert source[x[key]["start"]:x[key]["end"]] == x[key]["text"]
        assert x["title"]
    assert "Scrum, Kanban, or SAFe" in results[0]["text"]


def test_post_search_matches_get(client):
    q = "Why is storytelling important for product leaders?"
    got = client.get("/search", params={"q": q, "k": 3}).json()["results"]
    posted = client.post("/search", json={"q": q, "k": 3}).json()["results"]
    assert [(x["doc_id"], x["start"]) for x in got] == [(x["doc_id"], x["start"]) for x in posted]


def test_unanswerable_question_gets_no_results(client):
    body = client.get("/search", params={"q": "What is the boiling point of mercury in kelvin?"}).json()
    assert body["results"] == [] and body["message"]


def test_documents_list_and_detail(client, seed_texts):
    docs = client.get("/documents").json()["documents"]
    assert {d["doc_id"] for d in docs} == set(seed_texts)
    for d in docs:
        assert d["length"] == len(seed_texts[d["doc_id"]]) and d["passages"] > 0
    one = client.get("/documents/001_e28bdbd0f2a78354.txt").json()
    assert one["text"] == seed_texts["001_e28bdbd0f2a78354.txt"]
    assert one["title"] == "The Importance of Product Leadership in Driving Success"


@pytest.mark.parametrize("doc_id", ["nope.txt", "../pyproject.toml", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd"])
def test_unknown_document_is_404(client, doc_id):
    r = client.get(f"/documents/{doc_id}")
    assert r.status_code == 404 and r.json()["detail"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["passages"] > 0


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 10001},
        {"q": "leadership", "k": 0},
        {"q": "leadership", "k": 101},
        {"q": "leadership", "k": "ten"},
        {"q": "leadership", "mode": "magic"},
        {"q": "leadership", "min_score": 2},
        {"q": "leadership", "doc_id": "missing.txt"},
        {"q": "leadership", "doc_id": [f"d{i}" for i in range(1001)]},
        {},
    ],
)
def test_bad_query_parameters_are_4xx_with_a_message(client, params):
    r = client.get("/search", params=params)
    assert 400 <= r.status_code < 500
    assert r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{"q": 3}, {"q": "ok", "k": "many"}, {"q": "ok", "unexpected": 1}, {"k": 3}, [], "text", {"q": "ok", "k": 1000}],
)
def test_bad_json_bodies_are_4xx(client, body):
    r = client.post("/search", json=body)
    assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_malformed_json_is_4xx(client):
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_doc_filter_restricts_results(client):
    r = client.get("/search", params={"q": "product leadership vision", "doc_id": "003_fea07baa30f7a95e.txt"})
    results = r.json()["results"]
    assert results and {x["doc_id"] for x in results} == {"003_fea07baa30f7a95e.txt"}


def test_long_pasted_question_is_searched_and_the_limit_is_named(client):
    pasted = ("How should a product leader balance long-term vision with the day-to-day work of the team? " * 60)
    assert 5000 < len(pasted) <= 10000
    assert client.post("/search", json={"q": pasted, "k": 3}).status_code == 200
    r = client.post("/search", json={"q": "x" * 10001, "k": 3})
    assert r.status_code == 422
    assert "10000" in r.json()["detail"] and "KB_MAX_QUERY_CHARS" in r.json()["detail"]
