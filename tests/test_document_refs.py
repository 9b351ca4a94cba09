"""Documents by reference: a build scans its sources for ids and hashes, then reads each document again when
it gets to it. What it reads must be exactly what loading everything at once gives, and a source that
changes between the two reads must stop the build instead of indexing a text whose hash the manifest lies
about."""

from __future__ import annotations

import json

import pytest

from corpus.documents import DocumentReader, SourceError, load_documents, scan_documents
from indexer import store
from indexer.build import build_index
from indexer.model import DIMENSION, MODEL_NAME


def _collection(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    lines = [json.dumps({"id": f"r{i:03d}", "title": f"Record {i}" if i % 2 else None,
                         "text": f"Record number {i} says something. Its second sentence is here."})
             for i in range(40, 0, -1)]  # ids out of file order: the build reads them sorted
    lines.insert(5, "")  # blank lines are skipped and do not shift the offsets
    (folder / "records.jsonl").write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    (folder / "note.md").write_text("# A note\n\nPlain words about bees and how far they fly.\n", encoding="utf-8")
    (folder / "page.html").write_text("<html><head><title>Page</title></head><body><h1>Page</h1>"
                                      "<p>Visible text of a page.</p></body></html>", encoding="utf-8")
    return folder


def test_reading_by_reference_gives_what_loading_gives(tmp_path):
    folder = _collection(tmp_path)
    loaded = load_documents([folder])
    refs = scan_documents([folder])
    assert [r.doc_id for r in refs] == [d.doc_id for d in loaded]
    assert [r.sha256 for r in refs] == [d.sha256 for d in loaded]
    with DocumentReader() as reader:
        assert [reader.read(r) for r in reversed(refs)] == loaded[::-1]  # any order: each read by its offset


@pytest.mark.parametrize("edit", [
    lambda text: text.replace("Record number 7 ", "Record number 8 "),  # same length: caught by the hash
    lambda text: text.replace("Record number 39 says", "Record 39 says"),  # later lines moved
])
def test_a_source_changed_during_the_build_stops_it(tmp_path, edit):
    folder = _collection(tmp_path)
    refs = scan_documents([folder])
    path = folder / "records.jsonl"
    path.write_text(edit(path.read_text(encoding="utf-8-sig")), encoding="utf-8-sig")
    with DocumentReader() as reader, pytest.raises(SourceError, match="changed while it was being indexed"):
        for r in refs:
            reader.read(r)


def test_index_built_by_reference_is_the_index_of_the_loaded_documents(tmp_path):
    folder = _collection(tmp_path)
    version = build_index([folder], tmp_path / "index", metadata_file=None).version_dir
    stored = [json.loads(line) for line in (version / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(d["doc_id"], d["text"], d["sha256"]) for d in stored] == \
           [(d.doc_id, d.text, d.sha256) for d in load_documents([folder])]
    again = build_index([folder], tmp_path / "index", metadata_file=None, only_if_stale=True)
    assert again.skipped


def test_a_version_whose_manifest_lists_every_hash_is_still_current_and_loads_without_the_list(tmp_path):
    """Versions built before the manifest stopped repeating documents.jsonl's hashes keep working."""
    folder = _collection(tmp_path)
    version = build_index([folder], tmp_path / "index", metadata_file=None).version_dir
    path = version / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    assert "sources" not in manifest
    manifest["sources"] = {d.doc_id: d.sha256 for d in load_documents([folder])}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert build_index([folder], tmp_path / "index", metadata_file=None, only_if_stale=True).skipped
    loaded = store.verify(version, MODEL_NAME, DIMENSION)
    assert "sources" not in loaded and loaded["counts"]["documents"] == len(manifest["sources"])


def test_references_are_read_one_at_a_time_in_id_order(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    records = [{"id": doc_id, "text": f"Text of {doc_id}."} for doc_id in ("zeta", "alpha", "émile", "beta")]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (folder / "b.txt").write_text("A plain file.", encoding="utf-8")
    refs = scan_documents([folder])
    assert len(refs) == 5
    assert [r.doc_id for r in refs] == sorted(d.doc_id for d in load_documents([folder]))
    assert refs[-1] == refs[4] and refs[0].doc_id == refs.doc_id(0)
    assert sorted(r.line for r in refs) == [0, 1, 2, 3, 4]  # JSONL records by line; the text file whole
    with pytest.raises(IndexError):
        refs[5]
    with DocumentReader() as reader:
        assert [reader.read(r).text for r in refs] == [d.text for d in load_documents([folder])]


def test_a_repeated_id_is_refused_naming_the_second_file(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "same", "text": "One."}) + "\n", encoding="utf-8")
    (folder / "b.jsonl").write_text(json.dumps({"id": "x", "text": "Two."}) + "\n" +
                                    json.dumps({"id": "same", "text": "Three."}) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"duplicate document id '.*same' \(from .*b\.jsonl\)"):
        scan_documents([folder])
    with pytest.raises(SourceError, match=r"duplicate document id '.*same' \(from .*b\.jsonl\)"):
        load_documents([folder])
