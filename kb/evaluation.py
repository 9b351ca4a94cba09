"""Retrieval metrics computed in-process, the same way ``shared/eval/score.py`` computes them over HTTP.

Question file: one JSON object a line, ``{"id", "question", "relevant": [{"source", "quote"}]}``;
``relevant: []`` marks a question the sources cannot answer (the right answer is no result).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from service.search import Hit

SearchFn = Callable[[str, int], list[Hit]]


def load_questions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def quote_spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Every occurrence of the quote, ignoring case and runs of whitespace."""
    pattern = r"\s+".join(re.escape(w) for w in quote.split())
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


def is_relevant(hit: Hit, gold: list[dict], texts: dict[str, str]) -> bool:
    """Relevant: same document, and the passage covers at least half of one occurrence of a quote."""
    for g in gold:
        if hit.doc_id != g["source"] or g["source"] not in texts:
            continue
        for qs, qe in quote_spans(texts[g["source"]], g["quote"]):
            if min(hit.end, qe) - max(hit.start, qs) >= 0.5 * (qe - qs):
                return True
    return False


def evaluate(questions: list[dict], search: SearchFn, texts: dict[str, str], k: int = 10) -> dict:
    hits1 = hits5 = answerable = negatives = rejected = empty_answerable = checked = verbatim = 0
    rr: list[float] = []
    latencies: list[float] = []
    misses: list[str] = []
    for q in questions:
        began = time.perf_counter()
        results = search(q["question"], k)
        latencies.append((time.perf_counter() - began) * 1000)
        for h in results:
            checked += 1
            verbatim += texts.get(h.doc_id, "")[h.start:h.end] == h.text
        gold = q.get("relevant") or []
        if not gold:
            negatives += 1
            rejected += not results
            continue
        answerable += 1
        empty_answerable += not results
        flags = [is_relevant(h, gold, texts) for h in results[:k]]
        first = next((i for i, f in enumerate(flags) if f), None)
        hits1 += first == 0
        hits5 += first is not None and first < 5
        rr.append(0.0 if first is None else 1.0 / (first + 1))
        if first is None or first >= 5:
            misses.append(q["id"])
    nan = float("nan")
    return {
        "questions": len(questions),
        "answerable": answerable,
        "hit@1": hits1 / answerable if answerable else nan,
        "recall@5": hits5 / answerable if answerable else nan,
        "mrr@10": sum(rr) / len(rr) if rr else nan,
        "answerable_with_no_results": empty_answerable,
        "negatives": negatives,
        "negatives_rejected": rejected / negatives if negatives else nan,
        "passages_checked": checked,
        "verbatim": verbatim / checked if checked else nan,
        "latency_p50_ms": statistics.median(latencies) if latencies else nan,
        "missed_top5": misses,
    }


def format_report(report: dict) -> str:
    lines = []
    for key, value in report.items():
        lines.append(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
    return "\n".join(lines)
