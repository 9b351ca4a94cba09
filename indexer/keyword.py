"""The keyword side of retrieval: a bm25s index with English stemming and stop words."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import Stemmer

STEMMER = "english"
STOPWORDS = "en"


def _tokenizer() -> bm25s.tokenization.Tokenizer:
    return bm25s.tokenization.Tokenizer(stemmer=Stemmer.Stemmer(STEMMER), stopwords=STOPWORDS)


def build_keyword_index(texts: list[str], folder: Path) -> None:
    tokenizer = _tokenizer()
    ids = tokenizer.tokenize(texts, return_as="ids", show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(ids, show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    retriever.save(str(folder))
    tokenizer.save_vocab(str(folder))
    tokenizer.save_stopwords(str(folder))


class KeywordIndex:
    """Loaded BM25 index; ``scores`` gives every passage's BM25 score for a query."""

    def __init__(self, folder: Path) -> None:
        self.retriever = bm25s.BM25.load(str(folder))
        self.tokenizer = _tokenizer()
        self.tokenizer.load_vocab(str(folder))
        self.tokenizer.load_stopwords(str(folder))

    def query_terms(self, query: str) -> list[int]:
        ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        return list(ids)

    def scores(self, query: str) -> np.ndarray:
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.retriever.get_scores(terms), dtype=np.float32)

    def coverage(self, query: str, passage: int) -> float:
        """Share of the query's distinct known terms that occur in one passage (0 when none is known)."""
        terms = set(self.query_terms(query))
        if not terms:
            return 0.0
        found = sum(self.retriever.get_scores([t])[passage] > 0 for t in terms)
        return found / len(terms)
