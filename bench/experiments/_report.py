"""The "no answer" experiments' one way to build a feature table (the shipped features of every labelled
question or claim, then the candidates) and to report a feature set: bench/fit_answer_model.py's folds and
threshold rule, then kept / refused on every file not fitted on."""

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

import bench.fit_answer_model as f
from kb.evaluation import load_questions
from service.answerable import answer_features

#: Candidate features of one entry: (text, pool, fused scores, index of the best-scored candidate) -> values.
Extra = Callable[[str, object, np.ndarray, int], list[float]]


def feature_table(searcher, params, files, extra: Extra) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the shipped features followed by ``extra``'s, and labels (1: answerable or stated)."""
    rows, labels = [], []
    for path in files:
        entries = load_questions(path)
        texts = [e.get("question") or e["claim"] for e in entries]
        for e, text, v in zip(entries, texts, searcher.encode(texts), strict=True):
            pool = searcher.pool(text, v, "hybrid", None, params)
            scores = searcher.fuse(pool, "hybrid", params)
            top = int(np.argmax(scores))
            rows.append(np.r_[answer_features(searcher, text, v, pool, scores), extra(text, pool, scores, top)])
            labels.append(1 if e["relevant"] else 0)
    return np.array(rows), np.array(labels)


def report(kind: str, name: str, x, y, held: list) -> None:
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=7)
    oof = []
    for tr, te in folds.split(x, y):
        scaler, model = f.fit(x[tr], y[tr])
        oof.append((y[te], model.predict_proba(scaler.transform(x[te]))[:, 1]))
    tab = {t: tuple(np.mean([f.rates(a, b, t)[i] for a, b in oof]) for i in (0, 1)) for t in f.THRESHOLDS}
    w = f.MISSED_ANSWER_COST[kind]
    t = min(tab, key=lambda k: w * (1 - tab[k][0]) * y.sum() + (1 - tab[k][1]) * (1 - y).sum())
    scaler, model = f.fit(x, y)
    line = f"{kind} {name}: threshold {t}, CV kept {tab[t][0]:.3f} refused {tab[t][1]:.3f}"
    for path, hx, hy in held:
        k, r = f.rates(hy, model.predict_proba(scaler.transform(hx))[:, 1], t)
        line += f" | {path.stem} {k:.2f}/{r:.2f}"
    print(line, flush=True)
