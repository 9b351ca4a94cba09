# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Tokens the model reads for each kind of vector of a collection (what the build embeds, distinct texts).

.venv/bin/python bench/experiments/token_counts.py bench/.cache/collection-2000-s13.jsonl
"""

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from corpus.cleaning import clean
from corpus.documents import load_documents
from corpus.passages import make_passages
from indexer import model
from indexer.build import sentence_inputs

tokenizer = Tokenizer.from_file(str(model.model_path() / "tokenizer.json"))
tokenizer.enable_truncation(max_length=model.MAX_SEQ_LENGTH)
tokenizer.no_padding()  # the shipped file pads to 128
count = model.token_counter()
kinds: dict[str, list[str]] = {
    "passages": [],
    "sentences alone": [],
    "windows (every document)": [],
    "windows (cut documents only, as built)": [],
}
for number, doc in enumerate(load_documents([Path(a) for a in sys.argv[1:]])):
    c = clean(doc)
    passages = make_passages(c, count)
    spans = list(dict.fromkeys(span for p in passages for span in p.sentences))
    sentences = [" ".join(c.visible(s, e).split()) for s, e in spans]
    windows = sentence_inputs(sentences, np.array([(number, s, e) for s, e in spans], dtype=np.int64).reshape(-1, 3))
    kinds["passages"] += [p.embed_text for p in passages]
    kinds["sentences alone"] += sentences
    kinds["windows (every document)"] += windows
    kinds["windows (cut documents only, as built)"] += windows if len(passages) > 1 else []
seen: set[str] = set()
for kind, texts in kinds.items():
    fresh = [t for t in dict.fromkeys(texts) if t not in seen]
    if not kind.startswith("windows (every"):
        seen.update(fresh)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(fresh))
    print(f"{kind}: {len(texts)} texts, {len(fresh)} new distinct, {tokens} tokens")
