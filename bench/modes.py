"""Retrieval quality and in-process latency of each search mode on a labelled question file.

    .venv/bin/python bench/modes.py [--questions ../shared/eval/questions.jsonl] [--index-dir index]

Prints a Markdown table: dense, keyword, hybrid (fusion only) and hybrid + rerank (the default).
Latency is per query, in-process (query embedding included, HTTP excluded), median of 5 passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.evaluation import evaluate, load_questions  # noqa: E402
from service.config import get_settings  # noqa: E402
from service.search import load_searcher  # noqa: E402

ROWS = [("dense", "dense", False), ("keyword", "keyword", False), ("hybrid (RRF, no rerank)", "hybrid", False),
        ("hybrid + rerank (default)", "hybrid", True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_questions = Path(__file__).resolve().parents[2] / "shared/eval/questions.jsonl"
    ap.add_argument("--questions", type=Path, default=default_questions)
    ap.add_argument("--index-dir", type=Path, default=get_settings().index_dir)
    args = ap.parse_args()
    searcher = load_searcher(args.index_dir)
    questions = load_questions(args.questions)
    texts = {d.doc_id: d.text for d in searcher.documents}
    print("| mode | hit@1 | recall@5 | mrr@10 | negatives rejected | answerable with no results | p50 ms | p90 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, mode, rerank in ROWS:
        def run(q: str, k: int, mode: str = mode, rerank: bool = rerank):
            return searcher.search(q, k=k, mode=mode, rerank=rerank)

        report = evaluate(questions, run, texts)
        timings = []
        for _ in range(5):
            for q in questions:
                began = time.perf_counter()
                run(q["question"], 10)
                timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        print(f"| {label} | {report['hit@1']:.3f} | {report['recall@5']:.3f} | {report['mrr@10']:.3f} "
              f"| {report['negatives_rejected']:.3f} | {report['answerable_with_no_results']} "
              f"| {statistics.median(timings):.1f} | {timings[int(len(timings) * 0.9)]:.1f} |")


if __name__ == "__main__":
    main()
