"""Odd input to `kb index`: one clear line naming the file (and line) with exit code 2, or it works.
Real command line in-process, real index, real app."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from indexer.build import build_index
from kb.cli import main
from service.app import create_app
from service.search import load_searcher


def _index_fails(capsys, tmp_path: Path, source: Path) -> str:
    code = main(["index", str(source), "--index-dir", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kb: error: "), err
    assert "Traceback" not in err
    assert not (tmp_path / "index" / "CURRENT").exists()
    return lines[0]


@pytest.mark.parametrize(("line", "words"), [
    ('{"id": "a", "text": "x \\ud800"}', "invalid Unicode"),  # a lone surrogate in the text
    ('{"id": "a\\udc80", "text": "fine"}', "invalid Unicode"),
    ('{"id": "a", "title": "t \\udfff", "text": "fine"}', "invalid Unicode"),
    ('{"id": {"x": 1}, "text": "fine"}', "string or an integer"),
    ('{"id": [1, 2], "text": "fine"}', "string or an integer"),
    ('{"id": true, "text": "fine"}', "string or an integer"),
    ('{"id": 1.5, "text": "fine"}', "string or an integer"),
    ('{"id": "", "text": "fine"}', "empty"),
    ('{"id": "a\\nb", "text": "fine"}', "control character"),
    ('{"_id": "a\\u0000", "text": "fine"}', "control character"),
    ('{"id": "a", "text": "fine", "title": ["x"]}', "'title'"),
])
def test_bad_jsonl_lines_are_refused_with_file_and_line(capsys, tmp_path, line, words):
    source = tmp_path / "corpus.jsonl"
    source.write_text('{"id": "ok", "text": "A good first line."}\n' + line + "\n", encoding="utf-8")
    msg = _index_fails(capsys, tmp_path, source)
    assert f"{source}:2:" in msg and words in msg, msg


def test_invalid_utf8_jsonl_line_is_refused_with_file_and_line(capsys, tmp_path):
    source = tmp_path / "corpus.jsonl"
    source.write_bytes(b'{"id": "ok", "text": "fine"}\n{"id": "b", "text": "caf\xe9"}\n')
    msg = _index_fails(capsys, tmp_path, source)
    assert f"{source}:2:" in msg and "UTF-8" in msg, msg


@pytest.mark.parametrize(("name", "shown"), [
    (b"caf\xe9.txt", "caf\\xe9.txt"),  # not UTF-8: Python sees a lone surrogate
    (b"two\nlines.txt", "two\\nlines.txt"),  # a newline: no route could serve the id
    (b"tab\there.md", "tab\\there.md"),
])
def test_odd_file_names_are_refused_naming_the_file(capsys, tmp_path, name, shown):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "good.txt").write_text("A perfectly normal note about tomatoes.\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(folder), name), "wb") as f:
        f.write(b"Some text about peppers.\n")
    msg = _index_fails(capsys, tmp_path, folder)
    assert shown in msg and "file name" in msg, msg


def test_unusual_but_valid_ids_are_fetchable(tmp_path):
    folder = tmp_path / "sources"
    (folder / "sub dir").mkdir(parents=True)
    odd = "sub dir/a b?#%&+é😀.txt"
    (folder / odd).write_text("Notes on growing chilli peppers in pots.\n", encoding="utf-8")
    (folder / "records.jsonl").write_text(
        json.dumps({"id": 7, "text": "Record seven is about sourdough starters."}) + "\n"
        + json.dumps({"_id": " spaced id ", "text": "Spaced record about beekeeping."}) + "\n", encoding="utf-8")
    build_index([folder], tmp_path / "index", metadata_file=None)
    with TestClient(create_app(load_searcher(tmp_path / "index"))) as client:
        for doc_id, words in ((odd, "chilli"), ("7", "sourdough"), (" spaced id ", "beekeeping")):
            r = client.get("/documents/" + quote(doc_id, safe=""))
            assert r.status_code == 200, (doc_id, r.text)
            assert r.json()["doc_id"] == doc_id and words in r.json()["text"]
            hit = client.get("/search", params={"q": words, "k": 1, "min_score": 0}).json()["results"][0]
            assert hit["doc_id"] == doc_id
