"""Passage size, overlap and embedding prefix, measured on a labelled question file.

    .venv/bin/python bench/chunking.py [--questions ../shared/eval/questions.jsonl]

Builds one throw-away index per setting (about 20 s each) and prints a Markdown table of the
default search (hybrid + rerank) for each. This is how the defaults in corpus/passages.py were chosen.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from corpus.passages import ChunkSettings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.evaluation import evaluate, load_questions  # noqa: E402
from service.search import load_searcher  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [
    ChunkSettings(target_tokens=60, overlap_sentences=1),
    ChunkSettings(target_tokens=120, overlap_sentences=0),
    ChunkSettings(target_tokens=120, overlap_sentences=1),
    ChunkSettings(target_tokens=120, overlap_sentences=1, prefix="none"),
    ChunkSettings(target_tokens=120, overlap_sentences=1, prefix="title+section"),
    ChunkSettings(target_tokens=200, overlap_sentences=1),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=Path, default=ROOT.parent / "shared/eval/questions.jsonl")
    args = ap.parse_args()
    questions = load_questions(args.questions)
    print("| target tokens | overlap | prefix | passages | hit@1 | recall@5 | mrr@10 | negatives rejected |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for chunking in SETTINGS:
        with tempfile.TemporaryDirectory() as tmp:
            build_index([ROOT / "seeds"], Path(tmp), chunking=chunking)
            searcher = load_searcher(Path(tmp))
            texts = {d.doc_id: d.text for d in searcher.documents}
            r = evaluate(questions, lambda q, k, s=searcher: s.search(q, k=k), texts)
            print(f"| {chunking.target_tokens} | {chunking.overlap_sentences} | {chunking.prefix} "
                  f"| {searcher.passage_count} | {r['hit@1']:.3f} | {r['recall@5']:.3f} | {r['mrr@10']:.3f} "
                  f"| {r['negatives_rejected']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
