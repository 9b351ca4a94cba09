"""Citations: exact quotes for any range, complete references, no empty fields, 4xx on bad ranges."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.citations import STYLES

DOCS = ["000_84296d58a3fcb7b3.txt", "001_e28bdbd0f2a78354.txt", "002_2f4c244069263bdf.txt",
        "003_fea07baa30f7a95e.txt", "004_39652e173a875e87.txt"]


@pytest.fixture(scope="module")
def client(searcher):
    with TestClient(create_app(searcher)) as c:
        yield c


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.sampled_from(DOCS), a=st.floats(0, 1), b=st.floats(0, 1), style=st.sampled_from(STYLES))
def test_every_quote_is_verbatim(client, seed_texts, doc, a, b, style):
    text = seed_texts[doc]
    start, end = sorted((int(a * len(text)), int(b * len(text))))
    r = client.get("/cite", params={"doc_id": doc, "start": start, "end": end, "style": style})
    if end <= start:
        assert r.status_code == 422
        return
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quote"] == text[start:end]
    # Every word of the quote, in order (quote marks inside it turn single, list markers are escaped).
    assert re.sub(r"[\W_]+", "", body["quote"]) in re.sub(r"[\W_]+", "", body["text"])
    for bad in ("None", "()", "[]", "(, ", " , "):
        assert bad not in body["reference"]


def test_apa_citation_of_001_has_title_and_year(client):
    body = client.get("/cite", params={"doc_id": DOCS[1], "start": 128, "end": 300, "style": "apa"}).json()
    assert "The Importance of Product Leadership in Driving Success" in body["reference"]
    assert "(2023, July 28)" in body["reference"]


def test_unknown_source_fields_are_left_out(client):
    body = client.get("/cite", params={"doc_id": DOCS[0], "start": 0, "end": 20, "style": "apa"}).json()
    assert body["reference"] == "Everything You Need to Know About Product Management Leadership. (n.d.)."
    body = client.get("/cite", params={"doc_id": DOCS[3], "start": 0, "end": 20, "style": "plain"}).json()
    assert "Institute of Product Leadership" in body["reference"]


@pytest.mark.parametrize("params,status", [
    ({"doc_id": "nope.txt", "start": 0, "end": 5}, 404),
    ({"doc_id": DOCS[0], "start": 0, "end": 10**7}, 422),
    ({"doc_id": DOCS[0], "start": -1, "end": 5}, 422),
    ({"doc_id": DOCS[0], "start": 5, "end": 5}, 422),
    ({"doc_id": DOCS[0], "start": 0, "end": 5, "style": "vancouver"}, 422),
    ({"doc_id": DOCS[0], "start": "a", "end": 5}, 422),
])
def test_bad_citation_requests_are_4xx(client, params, status):
    r = client.get("/cite", params=params)
    assert r.status_code == status and r.json()["detail"]


def test_search_results_carry_a_citation_of_their_highlight(client, seed_texts):
    results = client.get("/search", params={"q": "Which agile methodologies support product leadership?",
                                            "k": 3}).json()["results"]
    assert results  # the loop below must check something
    for x in results:
        c = x["citation"]
        assert (c["start"], c["end"]) == (x["highlight"]["start"], x["highlight"]["end"])
        assert seed_texts[x["doc_id"]][c["start"]:c["end"]] == c["quote"]


# ---------------------------------------------------------------- CSL styles and reference exports

CSL = ("apa", "chicago", "mla", "harvard")
EMPTY = ("None", "()", "[]", "(, ", " , ", ",,", "..", "“”", "<i></i>", "n.d.n.d.")


def _full_record():
    """A source whose metadata has every field (the seeds have no author or url)."""
    from service.search import DocumentRecord

    text = "Guide to roadmaps\n\n- Start from the outcome, not the feature list.\nA “roadmap” is a promise.\n"
    return DocumentRecord(doc_id="guide.txt", title="Guide to Roadmaps", published="2024-03-05",
                          url="https://example.org/guide", author="Jane Q. Doe", site="Example Press",
                          kind="text", sha256="0" * 64, text=text, passage_count=1)


@pytest.mark.parametrize("style", CSL)
@pytest.mark.parametrize("doc_id", DOCS)
def test_every_style_renders_every_seed(searcher, doc_id, style):
    from service.citations import cite, is_untitled

    doc = searcher.doc_by_id[doc_id]
    c = cite(doc, 0, 40, style)
    for bad in EMPTY:
        assert bad not in c.reference and bad not in c.in_text, (bad, c.reference, c.in_text)
    assert doc_id not in c.reference and ".txt" not in c.reference  # never cited by its file name
    if is_untitled(doc):
        assert doc.description and f"[{doc.description}]" in c.reference
    else:
        assert doc.title.casefold().rstrip("?") in c.reference.casefold()
    if doc.site:
        assert doc.site in c.reference
    if doc.published:
        assert doc.published[:4] in c.reference
    elif style != "mla":  # MLA leaves an unknown date out; the others say so
        assert ("no date" if style == "harvard" else "n.d.") in c.reference
    assert c.paragraph >= 1 and str(c.paragraph) in c.in_text


@pytest.mark.parametrize("style", CSL)
def test_every_field_of_a_full_record_is_cited(style):
    from service.citations import cite

    doc = _full_record()
    c = cite(doc, doc.text.index("A “roadmap”"), len(doc.text) - 1, style)
    assert "Doe" in c.reference and "2024" in c.reference and "Example Press" in c.reference
    assert "https://example.org/guide" in c.reference and "Guide to Roadmaps".casefold() in c.reference.casefold()
    assert "Doe" in c.in_text and "para. 3" in c.in_text.replace("par. 3", "para. 3")
    assert "‘roadmap’" in c.text  # a quote inside the quote takes single marks
    for bad in EMPTY:
        assert bad not in c.reference


def test_apa_italicises_the_title_and_brackets_an_untitled_page(searcher):
    from service.citations import cite

    c = cite(_full_record(), 0, 10, "apa")
    assert c.reference == "Doe, J. Q. (2024, March 5). Guide to Roadmaps. Example Press. https://example.org/guide"
    assert "<i>Guide to Roadmaps</i>" in c.reference_html
    untitled = cite(searcher.doc_by_id[DOCS[3]], 0, 10, "apa")
    assert untitled.reference.startswith("[Web page on product leadership")
    assert "<i>[" not in untitled.reference_html  # a description is not a title: no italics


def test_markdown_blockquote_survives_a_leading_list_marker():
    from service.citations import cite

    doc = _full_record()
    start = doc.text.index("- Start")
    c = cite(doc, start, doc.text.index("\n", start), "markdown")
    assert c.text.startswith("> \\- Start from the outcome")


@pytest.mark.parametrize("doc_id", DOCS)
def test_references_export_and_parse_back(client, doc_id, seed_texts):
    import json

    import bibtexparser
    import rispy

    ris = client.get(f"/documents/{doc_id}/reference", params={"format": "ris"})
    assert ris.status_code == 200 and ris.headers["content-type"].startswith("application/x-research-info-systems")
    entry = rispy.loads(ris.text)[0]
    assert entry["id"] == doc_id and entry["title"] and ".txt" not in entry["title"]
    bib = bibtexparser.parse_string(client.get(f"/documents/{doc_id}/reference").text)
    assert not bib.failed_blocks and len(bib.entries) == 1
    assert bib.entries[0].fields_dict["title"].value == entry["title"]
    item = json.loads(client.get(f"/documents/{doc_id}/reference", params={"format": "csl-json"}).text)[0]
    assert item["id"] == doc_id and item["title"] == entry["title"] and item["type"] == "webpage"


def test_full_record_exports_every_field():
    import bibtexparser
    import rispy

    from service.references import to_bibtex, to_ris

    entry = rispy.loads(to_ris(_full_record()))[0]
    assert entry["authors"] == ["Doe, Jane Q."] and entry["year"] == "2024" and entry["urls"] == ["https://example.org/guide"]
    fields = bibtexparser.parse_string(to_bibtex(_full_record())).entries[0].fields_dict
    assert fields["author"].value == "Doe, Jane Q." and fields["year"].value == "2024"


def test_bad_reference_requests_are_4xx(client):
    assert client.get("/documents/nope.txt/reference").status_code == 404
    r = client.get(f"/documents/{DOCS[0]}/reference", params={"format": "docx"})
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.parametrize("style", CSL)
def test_markup_in_metadata_stays_text_in_the_html_reference(style):
    """The page shows reference_html as HTML: a title or site holding markup must arrive escaped."""
    from dataclasses import replace

    from service.citations import cite

    doc = replace(_full_record(), title="<img src=x onerror=alert(1)> & Co", site="A<b>S</b>")
    c = cite(doc, 0, 10, style)
    assert "<img" not in c.reference_html and "<b>" not in c.reference_html
    assert "&lt;img" in c.reference_html.replace("&lt;Img", "&lt;img")
    assert "<img" in c.reference.replace("<Img", "<img")  # the plain text says what the metadata says


def test_the_citeproc_speedup_changes_no_output(searcher):
    """service/csl_speedup.py memoises style lookups inside citeproc: every style must render every seed and
    a full record exactly as plain citeproc does."""
    from service import citations, csl_speedup

    docs = [*searcher.documents, _full_record()]

    def render_all() -> list:
        citations._render_item.cache_clear()
        return [citations.cite(d, 0, 40, style) for d in docs for style in STYLES]

    assert csl_speedup.install()
    fast = render_all()
    csl_speedup.uninstall()
    try:
        plain = render_all()
    finally:
        assert csl_speedup.install()
        citations._render_item.cache_clear()
    assert fast == plain
