"""BEIR-layout evaluation: nDCG@10 and recall@100 at document level, on a collection the test builds."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from kb.evaluation import ndcg_at_k, recall_at_k

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


def test_ndcg_by_hand():
    assert ndcg_at_k(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at_k(["b", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    # graded: the grade-2 document should come first
    got = ndcg_at_k(["x", "y"], {"x": 1, "y": 2})
    ideal = 3 + 1 / math.log2(3)
    assert got == pytest.approx((1 + 3 / math.log2(3)) / ideal)
    assert ndcg_at_k(["z"], {"a": 1}) == 0.0
    assert ndcg_at_k(["a"] + ["z"] * 20, {"a": 1}, k=10) == 1.0


def test_recall_by_hand():
    assert recall_at_k(["a", "b", "c"], {"a": 1, "d": 2}) == 0.5
    assert recall_at_k(["c"], {"a": 1}) == 0.0
    assert recall_at_k(["a"], {"a": 1, "b": 0}) == 1.0  # grade 0 is not relevant


def test_kb_eval_on_a_beir_collection(tmp_path):
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        for qid, (text, _) in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, (_, grades) in QUERIES.items():
            for doc_id, grade in grades.items():
                f.write(f"{qid}\t{doc_id}\t{grade}\n")
    run = subprocess.run([sys.executable, "-m", "kb.cli", "eval", str(folder), "--index-dir", str(tmp_path / "idx"),
                          "--json"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["queries"] == 5
    assert report["recall@100"] == 1.0
    assert 0.9 <= report["ndcg@10"] <= 1.0
