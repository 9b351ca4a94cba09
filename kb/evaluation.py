"""Retrieval metrics computed in-process, the same way ``shared/eval/score.py`` computes them over HTTP.

Question file: one JSON object a line, ``{"id", "question", "relevant": [{"source", "quote"}]}``;
``relevant: []`` marks a question the sources cannot answer (the right answer is no result).
"""

from __future__ import annotations

import json
import math
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


# ---------------------------------------------------------------- BEIR collections


def is_beir_folder(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file()


def load_beir(folder: Path, split: str = "test") -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries by id and graded qrels ``{query_id: {doc_id: grade}}`` (grade > 0 is relevant)."""
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) >= 3 and int(parts[-1]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[-1])
    return {q: queries[q] for q in qrels if q in queries}, qrels


def ndcg_at_k(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (2^grade - 1) and log2 discounts; 0 when nothing is relevant."""
    dcg = sum((2 ** grades.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: list[str], grades: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def documents_in_order(hits: list[Hit]) -> list[str]:
    """Passages to a document ranking: a document ranks where its best passage does."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.doc_id, None)
    return list(seen)


def evaluate_beir(queries: dict[str, str], qrels: dict[str, dict[str, int]], search: SearchFn) -> dict:
    ndcgs, recalls, latencies = [], [], []
    for qid, text in queries.items():
        began = time.perf_counter()
        ranked = documents_in_order(search(text, 100))
        latencies.append((time.perf_counter() - began) * 1000)
        ndcgs.append(ndcg_at_k(ranked, qrels[qid], 10))
        recalls.append(recall_at_k(ranked, qrels[qid], 100))
    nan = float("nan")
    return {
        "queries": len(queries),
        "ndcg@10": statistics.fmean(ndcgs) if ndcgs else nan,
        "recall@100": statistics.fmean(recalls) if recalls else nan,
        "latency_p50_ms": statistics.median(latencies) if latencies else nan,
    }
