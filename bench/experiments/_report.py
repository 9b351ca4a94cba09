"""The "no answer" experiments' one way to report a feature set: bench/fit_answer_model.py's folds and threshold
rule, then kept / refused on every file not fitted on."""

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

import bench.fit_answer_model as f


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
