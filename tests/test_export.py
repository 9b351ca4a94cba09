"""`kb search --format md|csv|jsonl`: pasteable results whose quotes are verbatim."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kb.cli import main


def run(capsys, seed_index, *args: str) -> str:
    assert main(["search", *args, "--index-dir", str(seed_index)]) == 0
    return capsys.readouterr().out


def test_jsonl_export(capsys, seed_index, seed_texts):
    rows = [json.loads(x) for x in run(capsys, seed_index, "Why is storytelling important?", "--format", "jsonl",
                                       "-k", "3").splitlines()]
    assert 1 <= len(rows) <= 3
    for r in rows:
        assert seed_texts[r["doc_id"]][r["start"]:r["end"]] == r["text"]
        assert seed_texts[r["doc_id"]][r["quote_start"]:r["quote_end"]] == r["quote"]
        assert r["citation"] and "None" not in r["citation"]


def test_csv_export(capsys, seed_index, seed_texts):
    question = "Which agile methodologies support product leadership?"
    rows = list(csv.DictReader(io.StringIO(run(capsys, seed_index, question, "--format", "csv"))))
    assert rows and "Scrum" in rows[0]["quote"]
    assert seed_texts[rows[0]["doc_id"]][int(rows[0]["start"]):int(rows[0]["end"])] == rows[0]["text"]


@pytest.mark.parametrize("fmt", ["md", "text"])
def test_readable_exports(capsys, seed_index, fmt):
    out = run(capsys, seed_index, "Which agile methodologies support product leadership?", "--format", fmt, "-k", "2")
    assert "Scrum, Kanban, or SAFe" in out
    empty = run(capsys, seed_index, "How do I bake sourdough bread at home?", "--format", fmt)
    assert "No passage in the sources answers this question." in empty
