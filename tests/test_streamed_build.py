"""The streamed ONNX build: its vectors agree with the torch model's, each distinct text meets the model
once, the chunk size changes nothing, and a build that fails half-way publishes nothing."""

from __future__ import annotations

import io
import json
import random
import shutil

import numpy as np
import pytest

from corpus.cleaning import clean
from corpus.documents import load_documents
from corpus.passages import make_passages
from indexer import build, model, store
from indexer.bf16_encoder import Bf16BulkEncoder, cpu_has_bf16, resolve_arithmetic
from indexer.build import VectorFile, build_index, sentence_inputs, text_key
from service.encoder import QueryEncoder
from service.search import load_searcher
from tests.conftest import SEEDS

VECTOR_FILES = ("sentence_vectors.npy", "sentence_context_vectors.npy")
#: The class whose encode_bulk a default build calls on this machine (bf16 where the CPU has it).
BUILD_ENCODER = Bf16BulkEncoder if resolve_arithmetic("auto", "float32") == "bf16" else QueryEncoder
#: How close two builds' vectors of one text are: float32 rounding, or bfloat16 products grouped differently.
SAME_VECTOR = 0.9999 if BUILD_ENCODER is Bf16BulkEncoder else 0.99999


def seed_texts() -> list[str]:
    """What the build embeds for the seeds: passages (title prefix), sentences alone and with neighbours."""
    texts = []
    count = model.token_counter()
    for number, doc in enumerate(load_documents([SEEDS])):
        c = clean(doc)
        passages = make_passages(c, count)
        texts += [p.embed_text for p in passages]
        spans = list(dict.fromkeys(span for p in passages for span in p.sentences))
        sentences = [" ".join(c.visible(s, e).split()) for s, e in spans]
        table = np.array([(number, s, e) for s, e in spans], dtype=np.int64).reshape(-1, 3)
        texts += sentences + (sentence_inputs(sentences, table) if len(passages) > 1 else sentences)
    return texts


def stored_vectors(version) -> dict[str, np.ndarray]:
    """The vectors of a version by the hash of their text."""
    import faiss

    keys = json.loads((version / build.VECTOR_KEYS).read_text(encoding="utf-8"))
    dense = faiss.read_index(str(version / "dense.faiss"))
    arrays = [dense.reconstruct_n(0, dense.ntotal), *(np.load(version / name) for name in VECTOR_FILES)]
    out = {}
    for kind, vectors in zip(build.KINDS, arrays, strict=True):
        out.update(zip(keys[kind], vectors, strict=True))
    return out


def test_onnx_vectors_agree_with_torch(seed_index):
    """A sample of the texts the seeds index embeds: its stored (ONNX) vectors against torch's."""
    texts = seed_texts()
    sample = random.Random(7).sample(texts, 80) + [max(texts, key=len), min(texts, key=len)]
    version = store.current_version(seed_index)
    stored = stored_vectors(version)
    got = np.stack([stored[text_key(t)] for t in sample])
    want = model.embed(sample)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= 0.999, cosine.min()
    assert cosine.min() >= 0.9999  # in fact float32 rounding only
    # and encode_bulk, however the texts are grouped into calls
    encoder = QueryEncoder(version / "encoder", threads=1)
    for tokens_per_call in (64, 4096):
        again = encoder.encode_bulk(sample, tokens_per_call=tokens_per_call)
        assert (again * want).sum(axis=1).min() >= 0.9999


def test_each_distinct_text_is_embedded_once(tmp_path, monkeypatch):
    same = "The same sentence stands in two records."
    records = [
        {"id": "a", "text": same},  # no title: passage, sentence and its context are one text
        {"id": "b", "text": same},  # and again in another document (another chunk, too)
        {"id": "c", "text": f"{same} A second sentence follows it. {same}"},
        {"id": "d", "title": "Titled", "text": "Only one sentence here."},
    ]
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    seen: list[str] = []
    original = BUILD_ENCODER.encode_bulk

    def spy(self, texts, *args, **kwargs):
        seen.extend(texts)
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(BUILD_ENCODER, "encode_bulk", spy)
    report = build_index([source], tmp_path / "index", metadata_file=None, chunk_texts=2)
    version = report.version_dir
    raw = (version / build.VECTOR_KEYS).read_text(encoding="utf-8")
    keys = json.loads(raw)
    assert raw == json.dumps(keys)  # written a slice at a time, byte for byte what json.dumps writes
    all_keys = [k for kind in build.KINDS for k in keys[kind]]
    assert len(all_keys) > len(set(all_keys))  # the corpus does repeat texts
    assert len(seen) == len(set(seen)) == len(set(all_keys)) == report.embedded
    assert {text_key(t) for t in seen} == set(all_keys)
    # every row of a repeated text holds the same vector
    stored = {}
    import faiss

    dense = faiss.read_index(str(version / "dense.faiss"))
    arrays = [dense.reconstruct_n(0, dense.ntotal), *(np.load(version / name) for name in VECTOR_FILES)]
    for kind, vectors in zip(build.KINDS, arrays, strict=True):
        for key, vector in zip(keys[kind], vectors, strict=True):
            if key in stored:
                np.testing.assert_array_equal(stored[key], vector)
            stored.setdefault(key, vector)
    assert load_searcher(tmp_path / "index").search("same sentence", k=3, min_score=0)


def test_streamed_build_equals_one_chunk(seed_index, tmp_path):
    """The seeds cut and embedded a few texts at a time give the index of one chunk (the session's
    seed index: all its 1,018 texts fit one chunk): the same files, vectors equal to float rounding."""
    whole = store.current_version(seed_index)
    lines: list[str] = []
    report = build_index([SEEDS], tmp_path / "index", chunk_texts=50, progress=lines.append)
    streamed = report.version_dir
    assert sum(" texts/s, ETA " in line for line in lines) >= 1, lines
    a, b = (json.loads((v / store.MANIFEST).read_text(encoding="utf-8")) for v in (whole, streamed))
    assert sorted(a["files"]) == sorted(b["files"])
    for name in a["files"]:
        if name not in (*VECTOR_FILES, "dense.faiss"):
            assert a["files"][name] == b["files"][name], name
    assert a["counts"] == b["counts"] and a["fingerprint"] == b["fingerprint"]
    x, y = stored_vectors(whole), stored_vectors(streamed)
    assert x.keys() == y.keys()
    keys = sorted(x)
    cosine = (np.stack([x[k] for k in keys]) * np.stack([y[k] for k in keys])).sum(axis=1)
    assert cosine.min() >= SAME_VECTOR, cosine.min()


def test_build_failing_midway_publishes_nothing(seed_index, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    before = sorted(p.name for p in index_dir.iterdir())
    current = (index_dir / store.CURRENT).read_bytes()
    sources = tmp_path / "sources"
    sources.mkdir()
    for p in SEEDS.iterdir():  # every text new, so that every chunk needs the model
        (sources / p.name).write_text(p.read_text(encoding="utf-8").replace(" the ", " a "), encoding="utf-8")
    calls = {"n": 0}
    original = BUILD_ENCODER.encode_bulk

    def fail_on_third(self, texts, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the model fell over")
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(BUILD_ENCODER, "encode_bulk", fail_on_third)
    with pytest.raises(RuntimeError, match="fell over"):
        build_index([sources], index_dir, chunk_texts=64)
    assert calls["n"] == 3
    assert (index_dir / store.CURRENT).read_bytes() == current
    assert sorted(p.name for p in index_dir.iterdir()) == before  # no half-written version, no staging folder
    assert load_searcher(index_dir).passage_count > 0


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_vector_file_is_what_np_save_writes(tmp_path, rows):
    vectors = np.random.default_rng(rows).standard_normal((rows, 384)).astype(np.float32)
    f = VectorFile(tmp_path / "v.npy", 384)
    for start in range(0, rows, 3):
        f.append(vectors[start:start + 3])
        assert np.array_equal(f.read(start), vectors[start])
    f.close()
    want = io.BytesIO()
    np.save(want, vectors)
    assert (tmp_path / "v.npy").read_bytes() == want.getvalue()


def test_one_passage_document_reuses_its_sentence_vectors(tmp_path):
    """Window vectors go through the model only where ranking weighs them: in a document cut into several
    passages (``Searcher.fuse`` scales the sentence weight by 1 - 1/passages). In a one-passage document
    the window rows hold the sentences-alone vectors (quality of both ways: docs/RETRIEVAL.md)."""
    short = "Wing flutter appears at high speed. Damping delays the onset. Tests confirm the model."
    long = " ".join(f"Sentence number {i} discusses boundary layers and heat transfer in supersonic flow."
                    for i in range(80))
    source = tmp_path / "corpus.jsonl"
    source.write_text(json.dumps({"id": "short", "title": "Flutter", "text": short}) + "\n"
                      + json.dumps({"id": "long", "title": "Heat", "text": long}) + "\n", encoding="utf-8")
    report = build_index([source], tmp_path / "index", metadata_file=None)
    searcher = load_searcher(tmp_path / "index")
    table = searcher.store.sentence_table
    number = {d.doc_id: i for i, d in enumerate(searcher.documents)}
    alone, context = np.asarray(searcher.store.sentence_vectors), np.asarray(searcher.store.context_vectors)
    in_short, in_long = table[:, 0] == number["short"], table[:, 0] == number["long"]
    assert searcher.doc_passages[number["short"]] == 1 and searcher.doc_passages[number["long"]] > 1
    np.testing.assert_array_equal(context[in_short], alone[in_short])
    assert not np.allclose(context[in_long], alone[in_long])  # read with neighbours where it counts
    # passages + every sentence alone + the long document's windows (its first and last have one neighbour)
    assert report.embedded == searcher.passage_count + len(table) + int(in_long.sum())
    hits = searcher.search("what delays the onset of flutter?", k=1, min_score=0)
    assert hits and hits[0].doc_id == "short"


def test_int8_build_ships_its_encoder_and_never_mixes_with_float32(tmp_path):
    """``--precision int8``: the version's encoder is the quantised one (queries use it too), its vectors are
    that encoder's, and a float32 build of the same sources is stale and reuses none of them."""
    records = [{"id": "a", "title": "Flutter", "text": "Wing flutter appears at high speed. Damping delays it."},
               {"id": "b", "title": "Heat", "text": "Boundary layers carry heat away from the wall."}]
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    index_dir = tmp_path / "index"
    int8 = build_index([source], index_dir, metadata_file=None, precision="int8")
    manifest = json.loads((int8.version_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["precision"] == "int8"
    config = json.loads((int8.version_dir / "encoder" / "encoder.json").read_text(encoding="utf-8"))
    assert config["precision"] == "int8"
    searcher = load_searcher(index_dir)
    texts = ["Wing flutter appears at high speed.", "Damping delays it."]  # two sentences alone
    stored = stored_vectors(int8.version_dir)
    got = np.stack([stored[text_key(t)] for t in texts])
    encoder = QueryEncoder(int8.version_dir / "encoder")
    want = encoder.encode(texts)
    assert float((got * want).sum(axis=1).min()) > 0.9999  # the shipped encoder made them
    # int8 scales activations per call: each text runs alone, so its vector never depends on its company
    crowd = encoder.encode([texts[0], "A much longer neighbour text about supersonic wind tunnels and shocks."])
    np.testing.assert_array_equal(crowd[0], encoder.encode(texts[:1])[0])
    assert searcher.search("what delays flutter?", k=1, min_score=0)[0].doc_id == "a"

    assert not build_index([source], index_dir, metadata_file=None, only_if_stale=True, precision="int8").embedded
    float32 = build_index([source], index_dir, metadata_file=None, only_if_stale=True)
    assert not float32.skipped and float32.embedded == int8.embedded  # nothing reused across precisions
    config = json.loads((float32.version_dir / "encoder" / "encoder.json").read_text(encoding="utf-8"))
    assert config["precision"] == "float32"


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 units (the build embeds in float32)")
def test_bf16_build_agrees_with_float32_and_says_how_it_was_made(seed_index, tmp_path):
    """The default build on a bf16 CPU: OpenVINO's bfloat16 products, vectors at cosine >= 0.9999 to the
    float32 ones of every text, the same files otherwise, the engine named in the manifest; and the two
    builds are interchangeable (no staleness, vectors reused)."""
    bf16 = store.current_version(seed_index)
    manifest = json.loads((bf16 / store.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["model"]["document_encoder"].startswith("OpenVINO ")
    assert manifest["model"]["precision"] == "float32"
    float32 = build_index([SEEDS], tmp_path / "index", arithmetic="float32").version_dir
    other = json.loads((float32 / store.MANIFEST).read_text(encoding="utf-8"))
    assert other["model"]["document_encoder"].startswith("ONNX Runtime ")
    assert other["fingerprint"] == manifest["fingerprint"]
    x, y = stored_vectors(bf16), stored_vectors(float32)
    assert x.keys() == y.keys()
    keys = sorted(x)
    got, want = np.stack([x[k] for k in keys]), np.stack([y[k] for k in keys])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= 0.9999 and cosine.mean() >= 0.99995, (cosine.min(), cosine.mean())
    assert not np.array_equal(got, want)  # really another arithmetic
    # and a default re-index over the float32 version finds it up to date
    again = build_index([SEEDS], tmp_path / "index", only_if_stale=True)
    assert again.skipped


def test_arithmetic_choices_are_checked():
    with pytest.raises(ValueError, match="expected one of auto, bf16, float32"):
        resolve_arithmetic("fp16", "float32")
    with pytest.raises(ValueError, match="int8 index has its own"):
        resolve_arithmetic("bf16", "int8")
    assert resolve_arithmetic("auto", "int8") == "int8"
    assert resolve_arithmetic("float32", "float32") == "float32"
    assert resolve_arithmetic("auto", "float32") == ("bf16" if cpu_has_bf16() else "float32")


def test_fingerprint_is_a_few_digests_whatever_the_corpus_and_moves_with_any_document():
    """The manifest's fingerprint does not list every document (a million of them made it as large as the
    ``sources`` table beside it), yet any changed, renamed, added or removed document changes it."""
    from corpus.documents import Document
    from corpus.passages import ChunkSettings

    def fingerprint(docs):
        return build.sources_fingerprint(docs, ChunkSettings(), {})

    docs = [Document(f"r{i}", f"record {i} text", "record") for i in range(1000)]
    base = fingerprint(docs)
    assert len(base) == len(fingerprint(docs[:3])) == 4
    assert fingerprint(list(docs)) == base
    changed = docs[:500] + [Document("r500", "record 500 text, edited", "record")] + docs[501:]
    renamed = docs[:500] + [Document("r500b", "record 500 text", "record")] + docs[501:]
    for other in (changed, renamed, docs[:-1], docs + [Document("r1000", "new", "record")]):
        assert fingerprint(other)["__sources__"] != base["__sources__"]
        assert fingerprint(other)["__chunking__"] == base["__chunking__"]


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 units (the build embeds in float32)")
def test_bf16_encoder_lets_its_model_go_and_a_new_one_agrees(seed_index):
    """The build releases the encoder before its keyword and dense stages. The bf16 encoder runs one
    synchronous request a lane from Python threads (no Python callback inside OpenVINO's threads, which
    once left a release waiting for the GIL for ever); several rounds of encode and close give the same
    vectors."""
    folder = store.current_version(seed_index) / "encoder"
    texts = seed_texts()[:300]
    first = None
    for _ in range(3):
        encoder = Bf16BulkEncoder(folder, lanes=2)
        vectors = encoder.encode_bulk(texts)
        encoder.close()
        assert encoder._compiled is None and not encoder._requests
        if first is None:
            first = vectors
        np.testing.assert_allclose(vectors, first, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
