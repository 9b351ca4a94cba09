"""BEIR-layout evaluation: nDCG@10 and recall@100 at document level, by hand and through `kb eval`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from kb.evaluation import documents_in_order, evaluate_beir, is_beir_folder, load_beir, ndcg_at_k, recall_at_k
from service.search import Hit, Span

DOCS = {
    "d1": ("Sourdough", "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria."),
    "d2": ("Kubernetes ingress", "An ingress controller routes external HTTP traffic to services in a cluster."),
    "d3": ("Photosynthesis", "Plants turn light, water and carbon dioxide into sugar and oxygen."),
    "d4": ("Volcanoes", "Magma rises through the crust and erupts as lava, ash and gas."),
    "d5": ("Chess openings", "The Sicilian Defence answers 1.e4 with c5 and leads to sharp play."),
    "d6": ("Coffee roasting", "Roasting green coffee beans develops aroma through the Maillard reaction."),
    "d7": ("Tides", "The gravity of the Moon and the Sun raises the ocean tides twice a day."),
    "d8": ("Honeybees", "Worker bees dance to tell the hive where flowers with nectar are."),
    "d9": ("Rust ownership", "Rust's borrow checker enforces that each value has a single owner."),
    "d10": ("Marathon training", "Long slow runs build the aerobic base a marathon runner needs."),
}
QUERIES = {
    "q1": ("How does a plant make sugar from light?", {"d3": 2}),
    "q2": ("What causes ocean tides?", {"d7": 1}),
    "q3": ("How do bees tell each other where flowers are?", {"d8": 2}),
    "q4": ("How is traffic routed into a Kubernetes cluster?", {"d2": 1}),
    "q5": ("What makes bread rise without commercial yeast?", {"d1": 2, "d6": 0}),
}


def write_collection(folder: Path, docs=DOCS, queries=QUERIES) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc_id, (title, text) in docs.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, (text, _) in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, (_, grades) in queries.items():
            for doc_id, grade in grades.items():
                f.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder


def hit(doc_id: str, rank: int = 1) -> Hit:
    return Hit(rank=rank, score=1.0, doc_id=doc_id, title=doc_id, section=None, start=0, end=1, text="x",
               highlight=Span(0, 1, "x"), context_before=None, context_after=None)


# ------------------------------------------------------------------ metrics by hand


def test_ndcg_binary():
    assert ndcg_at_k(["a", "b"], {"a": 1}) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b", "c", "a"], {"a": 1}) == pytest.approx(1 / math.log2(4))


def test_ndcg_graded():
    # gains are the grades (as in BEIR / trec_eval): ideal order is y (2) then x (1)
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at_k(["y", "x"], {"x": 1, "y": 2}) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], {"x": 1, "y": 2}) == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    # the ideal counts judged documents that were not retrieved
    assert ndcg_at_k(["x", "n"], {"x": 1, "y": 2}) == pytest.approx(1 / ideal)
    # grade 0 (and below) is not relevant
    assert ndcg_at_k(["z", "a"], {"a": 1, "z": 0, "w": -1}) == pytest.approx(1 / math.log2(3))


def test_ndcg_cutoff_and_nothing_relevant_retrieved():
    assert ndcg_at_k(["z", "y"], {"a": 1}) == 0.0
    assert ndcg_at_k([], {"a": 1}) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}) == 0.0  # no relevant document at all
    fillers = [f"n{i}" for i in range(10)]
    assert ndcg_at_k(fillers + ["a"], {"a": 1}, k=10) == 0.0  # found at rank 11: outside the cut-off
    assert ndcg_at_k(["a", *fillers], {"a": 1}, k=10) == pytest.approx(1.0)


def test_recall():
    assert recall_at_k(["a", "b", "c"], {"a": 1, "d": 2}) == 0.5
    assert recall_at_k(["c"], {"a": 1}) == 0.0
    assert recall_at_k([], {"a": 1}) == 0.0
    assert recall_at_k(["a"], {"a": 1, "b": 0}) == 1.0  # grade 0 is not relevant
    assert recall_at_k(["x", "a", "b"], {"a": 1, "b": 3}, k=2) == 0.5


def test_passages_become_a_document_ranking():
    assert documents_in_order([hit("a"), hit("b"), hit("a"), hit("c"), hit("b")]) == ["a", "b", "c"]


def test_evaluate_beir_averages_over_judged_queries():
    runs = {"first": [hit("a"), hit("a"), hit("b")], "second": [hit("q2"), hit("z"), hit("c")], "third": []}
    queries = {"q1": "first", "q2": "second", "q3": "third", "q4": "unjudged"}
    qrels = {"q1": {"a": 1}, "q2": {"c": 1}, "q3": {"a": 2}, "q4": {"a": 0}}
    report = evaluate_beir(queries, qrels, lambda text, k: runs[text])
    # q1 perfect; q2: its own id is dropped (BEIR), c at rank 2; q3 nothing retrieved; q4 has no relevant doc
    assert report["queries"] == 3
    assert report["queries_without_relevant_docs"] == 1
    assert report["queries_with_no_results"] == 1
    assert report["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 0) / 3)
    assert report["recall@100"] == pytest.approx(2 / 3)


def test_load_beir(tmp_path):
    folder = write_collection(tmp_path / "c")
    assert is_beir_folder(folder)
    assert not is_beir_folder(tmp_path)
    queries, qrels = load_beir(folder)
    assert list(queries) == ["q1", "q2", "q3", "q4", "q5"]
    assert queries["q2"] == "What causes ocean tides?"
    assert qrels["q5"] == {"d1": 2, "d6": 0}
    with (folder / "qrels" / "test.tsv").open("a") as f:
        f.write("q9\td1\t1\n")
    with pytest.raises(ValueError, match="not in queries.jsonl"):
        load_beir(folder)


# ------------------------------------------------------------------ the real command, the real model


def test_kb_eval_on_a_beir_collection(tmp_path):
    folder = write_collection(tmp_path / "tiny-beir")
    index_dir = tmp_path / "idx"
    run = subprocess.run([sys.executable, "-m", "kb.cli", "eval", str(folder), "--index-dir", str(index_dir),
                          "--json"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["queries"] == 5
    assert 0.0 <= report["ndcg@10"] <= 1.0
    assert 0.0 <= report["recall@100"] <= 1.0
    assert report["recall@100"] == 1.0
    assert report["ndcg@10"] >= 0.9
    assert report["latency_p50_ms"] > 0
    assert (index_dir / "CURRENT").is_file()
    assert not (folder / ".kb-index").exists()  # --index-dir was given


def test_kb_eval_without_index_dir_caches_outside_the_collection(tmp_path):
    """The collection may be read-only or shared: its index goes to the project's .cache/eval, one per path."""
    import shutil

    from kb.cli import eval_cache_dir

    folder = write_collection(tmp_path / "tiny-beir")
    cache = eval_cache_dir(folder)
    assert cache != eval_cache_dir(write_collection(tmp_path / "other" / "tiny-beir"))  # same name, other path
    assert not cache.is_relative_to(folder)
    try:
        run = subprocess.run([sys.executable, "-m", "kb.cli", "eval", str(folder), "--json"],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["recall@100"] == 1.0
        assert (cache / "CURRENT").is_file()
        assert sorted(p.name for p in folder.iterdir()) == ["corpus.jsonl", "qrels", "queries.jsonl"]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
