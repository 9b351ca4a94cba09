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
#
# Layout: ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl`` ({"_id", "text"}) and
# ``qrels/test.tsv`` (header ``query-id  corpus-id  score``; graded, score > 0 is relevant).
# Metrics follow BEIR (pytrec_eval): linear gains, log2 discounts, averaged over queries.

Qrels = dict[str, dict[str, int]]


def is_beir_folder(path: Path, split: str = "test") -> bool:
    """True when ``path`` is a folder with the three files of a BEIR collection."""
    return path.is_dir() and all(
        (path / name).is_file() for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")
    )


def load_beir(folder: Path, split: str = "test") -> tuple[dict[str, str], Qrels]:
    """Queries ``{query_id: text}`` of every query judged in ``qrels/<split>.tsv``, and the judgements
    ``{query_id: {doc_id: grade}}`` as given (grades <= 0 included); ValueError on a malformed file."""
    texts: dict[str, str] = {}
    path = folder / "queries.jsonl"
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                texts[str(record["_id"])] = str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: expected a JSON object with '_id' and 'text'") from exc
    qrels: Qrels = {}
    path = folder / "qrels" / f"{split}.tsv"
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            try:
                query_id, doc_id, grade = parts[0], parts[-2], int(parts[-1])
                if len(parts) < 3:
                    raise ValueError
            except (ValueError, IndexError) as exc:
                if lineno == 1:
                    continue  # the header line
                raise ValueError(f"{path}:{lineno}: expected query-id, corpus-id and an integer score") from exc
            qrels.setdefault(query_id, {})[doc_id] = grade
    missing = [q for q in qrels if q not in texts]
    if missing:
        raise ValueError(f"{path}: {len(missing)} judged queries are not in queries.jsonl (first: {missing[0]!r})")
    return {q: texts[q] for q in qrels}, qrels


def ndcg_at_k(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    """nDCG@k of a ranked list of distinct doc ids: gain = grade (grades <= 0 count 0), discount
    log2(rank + 1), ideal from all judged documents; 0.0 when no document is relevant."""
    gains = {d: g for d, g in grades.items() if g > 0}
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: list[str], grades: dict[str, int], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the first k of a ranked list of distinct
    doc ids; 0.0 when no document is relevant."""
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def documents_in_order(hits: list[Hit]) -> list[str]:
    """Passages to a document ranking: a document ranks where its first (best) passage does."""
    return list(dict.fromkeys(h.doc_id for h in hits))


PASSAGES_PER_DOCUMENT = 3


def evaluate_beir(queries: dict[str, str], qrels: Qrels, search: SearchFn, depth: int = 100,
                  ignore_identical_ids: bool = True) -> dict:
    """Mean nDCG@10 and recall@100 over the queries with at least one relevant document (the others
    are only counted). ``search(text, n)`` returns ranked passages (``n`` = 3 x depth, enough to rank
    ``depth`` documents when several passages of one document rank high); as in BEIR, a document whose
    id equals the query's id is dropped from its ranking unless ``ignore_identical_ids`` is False."""
    ndcgs: list[float] = []
    recalls: list[float] = []
    latencies: list[float] = []
    unjudged = no_results = 0
    for qid, text in queries.items():
        grades = qrels.get(qid, {})
        if not any(g > 0 for g in grades.values()):
            unjudged += 1
            continue
        began = time.perf_counter()
        # Passages to documents: a document may hold several of the best passages, so ask for enough
        # passages to rank ``depth`` documents (recall@100 is a document figure).
        hits = search(text, PASSAGES_PER_DOCUMENT * depth)
        latencies.append((time.perf_counter() - began) * 1000)
        ranked = [d for d in documents_in_order(hits) if not (ignore_identical_ids and d == qid)]
        no_results += not ranked
        ndcgs.append(ndcg_at_k(ranked, grades, 10))
        recalls.append(recall_at_k(ranked, grades, 100))
    nan = float("nan")
    return {
        "queries": len(ndcgs),
        "ndcg@10": statistics.fmean(ndcgs) if ndcgs else nan,
        "recall@100": statistics.fmean(recalls) if recalls else nan,
        "queries_without_relevant_docs": unjudged,
        "queries_with_no_results": no_results,
        "latency_p50_ms": statistics.median(latencies) if latencies else nan,
    }
