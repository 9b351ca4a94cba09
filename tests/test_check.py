"""The draft check: sentences aligned with the draft, sources verbatim, the same decision as search."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.check import MAX_DRAFT_CHARS, DraftTooLarge, check_draft, draft_sentences

STATED = "Product leaders act as the main contact between senior leadership, investors and other stakeholders."
NOT_STATED = "Kubernetes operators reconcile custom resources in a control loop."
DRAFT = f"{STATED} {NOT_STATED}\n\n- Storytelling is one of the most underestimated parts of product leadership."


@pytest.fixture(scope="module")
def client(searcher):
    with TestClient(create_app(searcher)) as c:
        yield c


def test_sentences_are_ranges_of_the_draft():
    spans = draft_sentences(DRAFT)
    assert [DRAFT[s:e] for s, e in spans] == [
        STATED, NOT_STATED, "- Storytelling is one of the most underestimated parts of product leadership."]
    assert draft_sentences("1. --- 2024") == []  # no words, nothing to check


def test_a_stated_sentence_is_supported_and_an_unrelated_one_is_flagged(searcher, seed_texts):
    checked = check_draft(searcher, DRAFT)
    assert [c.supported for c in checked[:2]] == [True, False]
    first = checked[0]
    assert first.sources and not first.related
    assert "primary point of contact" in first.sources[0].highlight.text
    flagged = checked[1]
    assert flagged.sources == [] and flagged.related  # closest passages, marked as not support
    for c in checked:
        assert DRAFT[c.start:c.end] == c.text
        for hit in c.sources + c.related:
            source = seed_texts[hit.doc_id]
            assert source[hit.start:hit.end] == hit.text
            assert source[hit.highlight.start:hit.highlight.end] == hit.highlight.text


def test_one_batched_encode_for_the_whole_draft(searcher, monkeypatch):
    calls = []
    encode = searcher.encode

    def counting(texts, lane=False):
        calls.append(len(texts))
        return encode(texts, lane=lane)

    monkeypatch.setattr(searcher, "encode", counting)
    check_draft(searcher, DRAFT)
    assert calls == [3]


def test_limits(searcher):
    with pytest.raises(DraftTooLarge, match="20000"):
        check_draft(searcher, "word " * (MAX_DRAFT_CHARS // 5 + 1))
    with pytest.raises(DraftTooLarge, match="200"):
        check_draft(searcher, "Leaders plan ahead. " * 201)


def test_http_check(client, seed_texts):
    r = client.post("/check", json={"text": DRAFT, "style": "apa"})
    assert r.status_code == 200
    body = r.json()
    assert body["supported"] >= 1 and body["unsupported"] >= 1
    for s in body["sentences"]:
        assert DRAFT[s["start"]:s["end"]] == s["text"]
        assert 0.0 <= s["confidence"] <= 1.0
        assert bool(s["sources"]) == s["supported"]
        for src in s["sources"] + s["related"]:
            document = seed_texts[src["doc_id"]]
            assert document[src["start"]:src["end"]] == src["text"]
            quote = src["quote"]
            assert document[quote["start"]:quote["end"]] == quote["text"]
            assert src["start"] <= quote["start"] < quote["end"] <= src["end"]
    supported = body["sentences"][0]
    assert supported["supported"]
    source = supported["sources"][0]
    assert " ".join(source["quote"]["text"].split()) in source["citation"] and source["title"] in source["citation"]


@pytest.mark.parametrize(("payload", "status"), [
    ({"text": "Leaders plan ahead. " * 1001}, 413),
    ({"text": ""}, 422),
    ({"text": "ok", "style": "chicago-ish"}, 422),
    ({"text": "ok", "extra": 1}, 422),
])
def test_http_check_bad_input(client, payload, status):
    r = client.post("/check", json=payload)
    assert r.status_code == status
    assert r.json()["detail"]


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_kb_check_marks_each_sentence(seed_index, tmp_path, capsys, fmt):
    from kb.cli import main

    draft = tmp_path / "draft.md"
    draft.write_text(DRAFT, encoding="utf-8")
    assert main(["check", str(draft), "--index-dir", str(seed_index), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert STATED in out and NOT_STATED in out
    if fmt == "md":
        assert "[^1]" in out and "\n[^1]: " in out and "**[unsupported]**" in out
    else:
        assert "[✓ " in out and "[⚠ unsupported" in out


@pytest.mark.parametrize(("claim", "passage", "missing"), [
    ("Leaders spend a fifth of their time mentoring.", "Leaders spend much of their time mentoring.", 1.0),
    ("Set aside 10% of the budget.", "In 2010 they had 100 users and 10 teams.", 1.0),  # 10% is not 10, 100 or 2010
    ("Set aside 10 percent of the budget.", "Set aside 10% of it.", 0.0),
    ("The article lists seven steps.", "Here are 7 steps.", 0.0),
    ("It took 3 years and 2 teams.", "It took 3 years.", 0.5),
    ("Product leaders set the vision.", "Nothing numeric here.", 0.0),
])
def test_numbers_missing_compares_whole_quantities(claim, passage, missing):
    """A claim's quantities (digits, shares, number words, fractions) must be stated as such, not occur
    inside a longer number: the claim model's numbers_missing feature."""
    from service.answerable import _numbers_missing

    assert _numbers_missing(claim, passage) == missing


@pytest.mark.parametrize(("question", "asks"), [
    ("When was the Institute of Product Leadership founded?", True),
    ("How much do product leaders earn?", True),
    ("How does knowing your strengths help when you make product decisions?", False),  # "when" as a conjunction
    ("Why do product leaders need empathy?", False),
])
def test_asks_for_a_quantity(question, asks):
    from service.answerable import _ASKS_QUANTITY

    assert bool(_ASKS_QUANTITY.search(question)) is asks


def test_pronoun_contractions_are_not_names():
    from service.answerable import _names

    assert _names("Should the company I join change what I'll do, as Satya Nadella did?") == ["Satya", "Nadella"]
