# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Token alignment (BERTScore-like) as a feature of the "unsupported" / "no answer" model.

    .venv/bin/python bench/experiments/token_alignment.py

A claim that adds something the passage does not say ("... mainly because it lowers staff turnover",
"... within his first year") reuses most of the passage's words, so its sentence cosine stays high. Read
word by word it does not: the added words find no close token in the passage. For every content word of
the claim (three letters or more, not a stop word; its word pieces averaged), the best cosine against the
tokens of the top-ranked passage, both read in context by the same MiniLM (torch, hidden states of one
layer); the features are the lowest such cosine, the mean of the two lowest, and the mean.

Printed like bench/experiments/claim_features.py: per kind, the threshold the expected-error rule picks,
kept / refused in 5-fold CV x 10 on bench/fit_answer_model.py's labels, then on every file not fitted on
(held_out_claims_2 / held_out_questions_2 included, for reporting).
"""

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
import numpy as np
import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from transformers import AutoModel, AutoTokenizer

import bench.fit_answer_model as f
from bench.experiments._report import feature_table, report
from bench.tune import seed_searcher
from indexer.model import model_path
from service.answerable import FEATURES
from service.search import SearchParams

S = seed_searcher()
P = SearchParams()
TOK = AutoTokenizer.from_pretrained(str(model_path()))
MODEL = AutoModel.from_pretrained(str(model_path())).eval()
LAYERS = (3, 4, 6)
CANDIDATES = [f"{name}@{layer}" for layer in LAYERS for name in ("align_min", "align_low2", "align_mean")]
_cache: dict[str, tuple] = {}


def states(text: str) -> tuple:
    """Per layer: (word vectors of the content words, token vectors of every token), normalised."""
    if text in _cache:
        return _cache[text]
    enc = TOK(text, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = MODEL(**enc, output_hidden_states=True).hidden_states
    ids = enc.word_ids(0)
    offsets = TOK(text, truncation=True, max_length=256, return_offsets_mapping=True)["offset_mapping"]
    words: dict[int, list[int]] = {}
    spans: dict[int, tuple[int, int]] = {}
    for i, w in enumerate(ids):
        if w is None:
            continue
        words.setdefault(w, []).append(i)
        s, e = offsets[i]
        spans[w] = (spans.get(w, (s, e))[0], e)
    content = [w for w in words if len(text[spans[w][0]:spans[w][1]]) >= 3
               and text[spans[w][0]:spans[w][1]].isalpha()
               and text[spans[w][0]:spans[w][1]].lower() not in ENGLISH_STOP_WORDS]
    out = {}
    for layer in LAYERS:
        h = hidden[layer][0].numpy()
        tokens = h[1:-1] / np.linalg.norm(h[1:-1], axis=1, keepdims=True)
        wv = np.array([h[words[w]].mean(axis=0) for w in content]) if content else np.zeros((0, h.shape[1]))
        if len(wv):
            wv /= np.linalg.norm(wv, axis=1, keepdims=True)
        out[layer] = (wv, tokens)
    _cache[text] = out
    return out


def alignment(text: str, passage: str) -> list[float]:
    q, p = states(text), states(passage)
    feats = []
    for layer in LAYERS:
        wv, _ = q[layer]
        _, tokens = p[layer]
        if not len(wv):
            feats += [1.0, 1.0, 1.0]
            continue
        best = np.sort((wv @ tokens.T).max(axis=1))
        feats += [float(best[0]), float(best[:2].mean()), float(best.mean())]
    return feats


def extra(text: str, pool, scores, top: int) -> list[float]:
    i = int(pool.rows[top])
    doc = S.documents[int(S.p_doc[i])]
    return alignment(text, doc.text[int(S.p_start[i]):int(S.p_end[i])])


def table(files):
    return feature_table(S, P, files, extra)


EXTRA_HELD = {"question": [f.ROOT / "eval" / "held_out_questions_2.jsonl"],
              "claim": [f.ROOT / "eval" / "held_out_claims_2.jsonl"]}

for kind, files in f.FILES.items():
    if len(sys.argv) > 1 and kind not in sys.argv[1:]:
        continue
    used = [FEATURES.index(n) for n in f.KIND_FEATURES[kind]]
    x, y = table(files)
    held = [(path, *table([path])) for path in f.HELD_OUT[kind] + EXTRA_HELD[kind]]
    for j, name in enumerate(CANDIDATES):
        col = len(FEATURES) + j
        pos, neg = x[y == 1, col], x[y == 0, col]
        print(f"{kind} {name}: stated/answerable mean {pos.mean():.3f}, not {neg.mean():.3f}")
    variants = [("shipped", used)] + [(f"+ {c}", used + [len(FEATURES) + j]) for j, c in enumerate(CANDIDATES)]
    variants += [(f"+ all three @{layer}", used + [len(FEATURES) + 3 * k + m for m in range(3)])
                 for k, layer in enumerate(LAYERS)]
    for name, cols in variants:
        report(kind, name, x[:, cols], y, [(p, hx[:, cols], hy) for p, hx, hy in held])
