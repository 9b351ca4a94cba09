"""Fit the "no answer" model (service/answerable.py) on labelled questions, by cross-validation.

Labels: every question file below; a question with `relevant: []` is one the seeds do not answer.
The features are computed with the shipped ranking on an index of seeds/. The figures printed are
out-of-sample: stratified 5-fold cross-validation (repeated), and leave-one-file-out (fit without a
file, score that file), which is the closest to "new questions of the same kinds".

    .venv/bin/python bench/fit_answer_model.py            # report only
    .venv/bin/python bench/fit_answer_model.py --write    # also write service/answer_model.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import RepeatedStratifiedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from bench.tune import seed_searcher  # noqa: E402
from kb.evaluation import load_questions  # noqa: E402
from service.answerable import FEATURES, MODEL_FILE, answer_features  # noqa: E402
from service.search import SearchParams  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
FILES = [SHARED / "questions.jsonl", SHARED / "near_questions.jsonl",
         ROOT / "eval" / "seed_questions_2.jsonl", ROOT / "eval" / "near_questions_2.jsonl",
         ROOT / "eval" / "short_queries.jsonl"]
C = 1.0  # inverse regularisation strength (scikit-learn's default)
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def feature_table(files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    searcher = seed_searcher()
    params = SearchParams()
    rows, labels, groups, texts = [], [], [], []
    for g, path in enumerate(files):
        questions = load_questions(path)
        vectors = searcher.encode([q.get("question") or q["claim"] for q in questions])
        for q, v in zip(questions, vectors, strict=True):
            text = q.get("question") or q["claim"]
            pool = searcher.pool(text, v, "hybrid", None, params)
            rows.append(answer_features(searcher, text, v, pool, searcher.fuse(pool, "hybrid", params)))
            labels.append(1 if q["relevant"] else 0)
            groups.append(g)
            texts.append(text)
    return np.array(rows), np.array(labels), np.array(groups), texts


def fit(x: np.ndarray, y: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=C, class_weight="balanced").fit(scaler.transform(x), y)
    return scaler, model


def rates(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    kept = float(np.mean(p[y == 1] >= 0.5)) if (y == 1).any() else float("nan")
    rejected = float(np.mean(p[y == 0] < 0.5)) if (y == 0).any() else float("nan")
    return {"answerable_kept": round(kept, 3), "negatives_rejected": round(rejected, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the model fitted on every label")
    args = parser.parse_args()
    x, y, groups, texts = feature_table(FILES)

    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=7)
    out_of_fold = []  # (labels, probabilities) of every held-out fold
    for train, test in folds.split(x, y):
        scaler, model = fit(x[train], y[train])
        out_of_fold.append((y[test], model.predict_proba(scaler.transform(x[test]))[:, 1]))
    print(f"labels: {int(y.sum())} answerable, {int((1 - y).sum())} unanswerable, {len(FEATURES)} features")
    print("5-fold CV x10, by threshold on the answer probability (the service's min_score):")
    for threshold in THRESHOLDS:
        kept = np.mean([np.mean(p[t == 1] >= threshold) for t, p in out_of_fold])
        rejected = np.mean([np.mean(p[t == 0] < threshold) for t, p in out_of_fold])
        print(f"  {threshold:.2f}: answerable kept {kept:.3f}, negatives rejected {rejected:.3f}")
    for g, path in enumerate(FILES):
        train, test = groups != g, groups == g
        scaler, model = fit(x[train], y[train])
        p = model.predict_proba(scaler.transform(x[test]))[:, 1]
        print(f"leave out {path.name:28s} {rates(y[test], p)}")
        for text, label, prob in zip(np.array(texts)[test], y[test], p, strict=True):
            if (prob >= 0.5) != bool(label):
                print(f"    wrong ({'answerable' if label else 'unanswerable'}, p={prob:.2f}): {text}")

    scaler, model = fit(x, y)
    coef = dict(zip(FEATURES, model.coef_[0].round(4).tolist(), strict=True))
    print("fitted on all labels:", coef, "intercept", round(float(model.intercept_[0]), 4))
    if args.write:
        MODEL_FILE.write_text(json.dumps({
            "features": list(FEATURES), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
            "fitted_on": [str(p.relative_to(ROOT.parent)) for p in FILES], "C": C,
        }, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_FILE}")


if __name__ == "__main__":
    main()
