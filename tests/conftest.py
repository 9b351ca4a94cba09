"""Shared fixtures: one real index of the seed articles, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    from indexer.build import build_index

    index_dir = tmp_path_factory.mktemp("index")
    build_index([SEEDS], index_dir)
    return index_dir


@pytest.fixture(scope="session")
def searcher(seed_index):
    from service.search import load_searcher

    return load_searcher(seed_index)


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    texts = {}
    for p in sorted(SEEDS.iterdir()):
        with p.open(encoding="utf-8", newline="") as f:
            texts[p.name] = f.read()
    return texts
