"""HTML sources: the document is the page's visible text, so no markup can ever be quoted.
Real model, real index, real app."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from corpus.cleaning import clean
from corpus.documents import load_documents
from corpus.html_text import visible_text
from indexer.build import build_index
from service.app import create_app
from service.search import load_searcher

PAGE = """<!DOCTYPE html>
<html><head><title>Head title never shown</title>
<meta charset="utf-8"><style>p { color: red } .secret-style-rule {}</style>
<script>var leaked = "script-body-text";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Caring for Pelargoniums</h1>
<!-- a comment that must never show: hidden-comment-text -->
<p>Pelargoniums need <b>bright light</b> and <em>well&#8209;drained</em> soil &amp; little water
   in winter.</p><style>.inline-style-rule { display: none }</style>
<script>alert(1)</script>
<h2>Watering &quot;rules&quot;</h2>
<p>Water them when the top <a href="#x"><span>two centimetres</span></a> of compost feel dry to the touch.
<img src="x.png" onerror="alert('img-onerror-payload')"> Overwatering rots the roots quickly.</p>
<ul><li>Use terracotta pots.</li><li>Feed them with tomato fertiliser in summer.</li></ul>
<template><p>template-body-text</p></template>
<p>Deadheading faded flowers keeps new ones coming all season&nbsp;long.</p>
</body></html>
"""
FORBIDDEN = ("script-body-text", "secret-style-rule", "inline-style-rule", "hidden-comment-text", "alert",
             "onerror", "img-onerror-payload", "template-body-text", "Head title never shown", "&amp;", "&quot;")
TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")


def _clean_text(text: str) -> None:
    assert not TAG.search(text), text
    assert "<" not in text and ">" not in text, text
    for bad in FORBIDDEN:
        assert bad not in text, (bad, text)


@pytest.fixture(scope="module")
def html_client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    (folder / "sources").mkdir()
    (folder / "sources" / "pelargonium.html").write_text(PAGE, encoding="utf-8")
    build_index([folder / "sources"], folder / "index", metadata_file=None)
    with TestClient(create_app(load_searcher(folder / "index"))) as client:
        yield client


def test_html_document_is_visible_text(html_client):
    doc = html_client.get("/documents/pelargonium.html").json()
    _clean_text(doc["text"])
    assert doc["title"] == "Caring for Pelargoniums"
    # block elements on lines of their own; inline tags do not split a sentence; entities decoded
    lines = doc["text"].split("\n")
    assert "Caring for Pelargoniums" in lines
    assert 'Watering "rules"' in lines
    assert "Use terracotta pots." in lines
    assert "Pelargoniums need bright light and well\u2011drained soil & little water in winter." in lines
    assert "season\u00a0long." in doc["text"]


@pytest.mark.parametrize(("query", "words"), [
    ("how much light and what soil do pelargoniums need", "bright light and well\u2011drained soil"),
    ("when should I water pelargoniums", "two centimetres of compost feel dry"),
    ("what fertiliser to feed pelargoniums", "tomato fertiliser"),
])
def test_html_passages_highlights_and_citations_are_visible_text(html_client, query, words):
    text = html_client.get("/documents/pelargonium.html").json()["text"]
    results = html_client.get("/search", params={"q": query, "k": 10, "min_score": 0}).json()["results"]
    assert results
    assert words in results[0]["text"]
    for x in results:
        assert text[x["start"]:x["end"]] == x["text"]
        _clean_text(x["text"])
        for key in ("highlight", "context_before", "context_after"):
            if x[key]:
                assert text[x[key]["start"]:x[key]["end"]] == x[key]["text"]
                _clean_text(x[key]["text"])
        _clean_text(x["citation"]["quote"])
        _clean_text(x["citation"]["text"])


def test_html_structure_gives_kinds_of_lines(tmp_path):
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (doc,) = load_documents([tmp_path / "page.html"])
    cleaned = clean(doc)
    assert cleaned.title == "Caring for Pelargoniums"
    kinds = {doc.text[b.start:b.end]: b.kind for b in cleaned.blocks}
    assert kinds['Watering "rules"'] == "heading"
    assert kinds["Use terracotta pots."] == "item"
    assert "Home About" not in kinds  # inside <nav>: visible, but site chrome
    assert doc.source_sha256 == hashlib.sha256(PAGE.encode()).hexdigest()


def test_pre_keeps_its_lines_and_unclosed_head_does_not_hide_the_body():
    page = visible_text("<html><head><title>T</title><body><pre>a  b\n  c</pre><p>x<br>y</p></body>")
    assert page.text == "a  b\nc\nx\ny"


def test_header_headline_stays_and_hidden_elements_are_left_out():
    page = visible_text("<body><header><h1>The Headline</h1><p>Menu Blog</p></header>"
                        "<div hidden>hidden-div-text</div><p aria-label='x'>Body text.</p>"
                        "<footer><ul><li>About</li></ul></footer></body>")
    assert page.text == "The Headline\nMenu Blog\nBody text.\nAbout"
    assert page.line_kinds == ((0, "h1"), (13, "chrome"), (34, "chrome"))
