"""Incremental re-indexing: only changed text meets the model, removed documents go, and the result
ranks exactly like a full rebuild of the same sources (the same passages in the same order; scores equal
to the rounding of the build's arithmetic: bfloat16 products differ in the fifth digit with the texts a
call groups, and an incremental build groups fewer texts)."""

from __future__ import annotations

import shutil

from indexer.build import build_index
from service.search import load_searcher
from tests.conftest import SEEDS

QUESTIONS = ["What is RICE?", "How did Satya Nadella change Microsoft's product culture?",
             "Which agile methodologies support product leadership?", "Is anyone born a great product leader?",
             "What outcomes does better product management leadership bring?", "What is a galaxy cluster?"]


def ranking(index_dir) -> tuple[list, list]:
    """The passages each question gets, and their scores."""
    s = load_searcher(index_dir)
    hits = [s.search(q, k=5) for q in QUESTIONS]
    return [[(h.doc_id, h.start, h.end) for h in found] for found in hits], [h.score for found in hits for h in found]


def test_incremental_equals_full_rebuild(seed_index, tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(SEEDS, sources)
    served = tmp_path / "served"
    shutil.copytree(seed_index, served)

    # change one document, remove another, add a new one
    changed = sources / "003_fea07baa30f7a95e.txt"
    changed.write_text(changed.read_text(encoding="utf-8").replace("Nobody is born", "No one is born"),
                       encoding="utf-8", newline="")
    (sources / "000_84296d58a3fcb7b3.txt").unlink()
    (sources / "new.md").write_text("# Galaxy clusters\n\nA galaxy cluster holds hundreds of galaxies bound "
                                    "by gravity. Dark matter makes up most of its mass.\n", encoding="utf-8")

    report = build_index([sources], served)
    full = build_index([sources], tmp_path / "full")
    assert report.embedded < full.embedded / 5, (report.embedded, full.embedded)
    assert report.passages == full.passages and report.documents == full.documents == 5
    (passages, scores), (full_passages, full_scores) = ranking(served), ranking(tmp_path / "full")
    assert passages == full_passages
    assert max(abs(a - b) for a, b in zip(scores, full_scores, strict=True)) < 1e-3
    s = load_searcher(served)
    assert "000_84296d58a3fcb7b3.txt" not in s.doc_by_id and "new.md" in s.doc_by_id
