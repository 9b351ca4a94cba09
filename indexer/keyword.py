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
        self._stopwords = frozenset(self.tokenizer.stopwords or ())

    def query_terms(self, query: str) -> list[int]:
        """Term ids of a query: the words bm25s's tokenizer would map to indexed terms, in order.

        The same rules as ``Tokenizer.tokenize(update_vocab=False)`` (lower case, split, known word,
        else stop word, else stem), but read-only: bm25s caches every new query word in the loaded
        vocabulary, which would grow for as long as the service runs and is not safe across threads.
        """
        t = self.tokenizer
        ids = []
        for word in t.splitter(query.lower() if t.lower else query):
            term = t.word_to_id.get(word)
            if term is None and word not in self._stopwords:
                term = t.stem_to_sid.get(t.stemmer(word) if t.stemmer else word)
            if term is not None:
                ids.append(term)
        return ids

    def scores(self, query: str) -> np.ndarray:
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(terms), dtype=np.float32)

    def coverage(self, query: str, passage: int) -> float:
        """Share of the query's distinct known terms that occur in one passage (0 when none is known)."""
        terms = set(self.query_terms(query))
        if not terms:
            return 0.0
        found = sum(self.retriever.get_scores_from_ids([t])[passage] > 0 for t in terms)
        return found / len(terms)
