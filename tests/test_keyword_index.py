"""The keyword index written a batch at a time is the index bm25s builds from all the texts at once."""

from __future__ import annotations

import filecmp
from pathlib import Path

import bm25s
import pytest

from indexer.keyword import KeywordIndex, KeywordIndexWriter, TokenRows, _tokenizer
from tests.conftest import SEEDS

TEXTS = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
# Paragraphs of the seeds, with the odd rows a real corpus has: empty, stop words only, one repeated word.
ROWS = [para for text in TEXTS for para in text.split("\n\n")] + ["", "the of and a", "roadmap " * 40]


def bm25s_at_once(texts: list[str], folder: Path) -> None:
    """bm25s's own way: tokenize every text, index the lists of ids, save index and tokenizer."""
    tokenizer = _tokenizer()
    retriever = bm25s.BM25()
    retriever.index(tokenizer.tokenize(texts, return_as="ids", show_progress=False), show_progress=False)
    retriever.save(str(folder))
    tokenizer.save_vocab(str(folder))
    tokenizer.save_stopwords(str(folder))


@pytest.mark.parametrize("batch", [1, 7, len(ROWS)])
def test_batches_give_the_files_of_one_bm25s_index(tmp_path, batch):
    bm25s_at_once(ROWS, tmp_path / "once")
    writer = KeywordIndexWriter()
    for start in range(0, len(ROWS), batch):
        writer.add(ROWS[start:start + batch])
    assert len(writer) == len(ROWS)
    writer.save(tmp_path / "batched")
    names = sorted(p.name for p in (tmp_path / "once").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "batched").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "once", tmp_path / "batched", names, shallow=False)
    assert mismatch == [] and errors == [], (mismatch, errors)
    assert len(writer) == 0  # the ids went with save


def test_written_index_scores_like_bm25s(tmp_path):
    writer = KeywordIndexWriter()
    writer.add(ROWS[:10])
    writer.add(ROWS[10:])
    writer.save(tmp_path / "kw")
    index = KeywordIndex(tmp_path / "kw")
    scores = index.scores("product roadmap")
    assert scores.shape == (len(ROWS),)
    best = int(scores.argmax())
    assert "roadmap" in ROWS[best].lower()
    assert scores[len(ROWS) - 3] == 0.0  # the empty row matches nothing


def test_token_rows_hand_back_each_text_s_ids():
    rows = TokenRows()
    rows.extend([[3, 1], [], [2, 2, 5]])
    rows.extend([[7]])
    assert len(rows) == 4
    assert list(rows) == [[3, 1], [], [2, 2, 5], [7]]
    assert [rows[n] for n in range(4)] == list(rows)
