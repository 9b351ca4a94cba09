# ruff: noqa: E402  (a one-off experiment: sys.path is set before the project imports)
"""Why an int8 encoder runs one text a call: texts per CPU second and vector drift, batched against alone.

    .venv/bin/kb index seeds --index-dir /tmp/kb-int8 --precision int8
    .venv/bin/python bench/experiments/int8_batching.py /tmp/kb-int8 [a float32 index folder]

On 1,500 sentences of the benchmark collection (bench/make_collection.py --docs 2000), single thread.
"""

import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT_DIR = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))
from pathlib import Path

from indexer import store
from service.encoder import BULK_TOKENS_PER_CALL, QueryEncoder

collection = ROOT_DIR / "bench" / ".cache" / "collection-2000-s13.jsonl"
records = [json.loads(line)["text"] for line in collection.open(encoding="utf-8")][:600]
sentences = [s + " ." for text in records for s in text.split(" . ")][:1500]
for index_dir in sys.argv[1:]:
    encoder = QueryEncoder(store.current_version(Path(index_dir)) / "encoder", threads=1)
    vectors = {}
    for label, alone in (("batched", False), ("one text a call", True)):
        encoder.one_text_per_call = alone
        began = time.process_time()
        vectors[label] = encoder.encode_bulk(sentences, tokens_per_call=BULK_TOKENS_PER_CALL, lanes=1)
        print(f"{encoder.precision} {label}: {len(sentences) / (time.process_time() - began):.0f} texts per CPU second")
    drift = float((vectors["batched"] * vectors["one text a call"]).sum(axis=1).min())
    print(f"{encoder.precision}: lowest cosine of a text's vector batched against alone {drift:.4f}")
