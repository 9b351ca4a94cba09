"""The keyword side of retrieval: a bm25s index with English stemming and stop words."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

STEMMER = "english"
STOPWORDS = "en"


def _tokenizer() -> bm25s.tokenization.Tokenizer:
    return bm25s.tokenization.Tokenizer(stemmer=Stemmer.Stemmer(STEMMER), stopwords=STOPWORDS)


class TokenRows:
    """Token ids of many texts in two flat arrays (ids, and where each text's ids end), handed to bm25s as
    its ``ids``: a text's list of ids exists only while bm25s reads it, so a million passages cost their ids
    (4 bytes a token) rather than a million strings or lists."""

    def __init__(self) -> None:
        self.ids = array("i")
        self.ends = array("q")

    def extend(self, rows: list[list[int]]) -> None:
        for row in rows:
            self.ids.extend(row)
            self.ends.append(len(self.ids))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, n: int) -> list[int]:
        start = self.ends[n - 1] if n > 0 else 0
        return self.ids[start:self.ends[n]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        start = 0
        for end in self.ends:
            yield self.ids[start:end].tolist()
            start = end


class KeywordIndexWriter:
    """A BM25 index written from texts added a batch at a time (the build's chunks), the texts let go as
    soon as they are tokenized. The result is the index ``bm25s`` builds from all texts at once."""

    def __init__(self) -> None:
        self.tokenizer = _tokenizer()
        self.rows = TokenRows()

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, texts: list[str]) -> None:
        self.rows.extend(self.tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False))

    def save(self, folder: Path) -> None:
        """Index what was added and write it to ``folder``; the ids and the vocabulary are released."""
        rows, self.rows = self.rows, TokenRows()
        # The matrix's columns as bm25s numbers them when given lists of ids: the ids that occur, and one more
        # for an empty query (0 if no text has token 0, else the largest id + 1).
        present = set(rows.ids)
        present.add(max(present) + 1 if 0 in present else 0)
        columns = {token: column for column, token in enumerate(present)}
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenization.Tokenized(ids=rows, vocab=dict(columns)), show_progress=False)
        retriever.vocab_dict = columns
        retriever.unique_token_ids_set = set(columns.values())
        del rows
        folder.mkdir(parents=True, exist_ok=True)
        retriever.save(str(folder))
        self.tokenizer.save_vocab(str(folder))
        self.tokenizer.save_stopwords(str(folder))
        self.tokenizer.reset_vocab()


def build_keyword_index(texts: list[str], folder: Path) -> None:
    """A BM25 index of ``texts`` (rows in their order) written to ``folder``."""
    writer = KeywordIndexWriter()
    writer.add(texts)
    writer.save(folder)


def rows_holding(postings: list[np.ndarray], items: np.ndarray) -> np.ndarray:
    """Which of the items each sorted posting list holds: bool, one row per list (a binary search of each
    item in the list, far cheaper than a set test when the items are few and the postings long)."""
    out = np.zeros((len(postings), len(items)), dtype=bool)
    for i, rows in enumerate(postings):
        if len(rows):
            at = np.minimum(np.searchsorted(rows, items), len(rows) - 1)
            out[i] = rows[at] == items
    return out


class KeywordIndex:
    """Loaded BM25 index; ``scores`` gives every passage's BM25 score for a query."""

    def __init__(self, folder: Path) -> None:
        self.retriever = bm25s.BM25.load(str(folder))
        self.tokenizer = _tokenizer()
        self.tokenizer.load_vocab(str(folder))
        self.tokenizer.load_stopwords(str(folder))
        self._stopwords = frozenset(self.tokenizer.stopwords or ())

    def analyse(self, query: str) -> list[int | None]:
        """The term id of each content word (stop words left out) of a query; None for unknown words.

        The same rules as ``Tokenizer.tokenize(update_vocab=False)`` (lower case, split, known word,
        else stop word, else stem), but read-only: bm25s caches every new query word in the loaded
        vocabulary, which would grow for as long as the service runs and is not safe across threads.
        """
        t = self.tokenizer
        ids: list[int | None] = []
        for word in t.splitter(query.lower() if t.lower else query):
            if word in self._stopwords:
                continue
            term = t.word_to_id.get(word)
            if term is None:
                term = t.stem_to_sid.get(t.stemmer(word) if t.stemmer else word)
            ids.append(term)
        return ids

    def query_terms(self, query: str) -> list[int]:
        return [t for t in self.analyse(query) if t is not None]

    def scores(self, query: str) -> np.ndarray:
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(terms), dtype=np.float32)

    def postings(self, term: int) -> np.ndarray:
        """Rows (passages, or documents for the title field) that contain a term."""
        indptr = self.retriever.scores["indptr"]
        return self.retriever.scores["indices"][indptr[term]:indptr[term + 1]]

    def holding(self, terms: list[int], items: np.ndarray) -> np.ndarray:
        """Which of the items (rows) hold each term: bool, one row per term."""
        return rows_holding([self.postings(t) for t in terms], items)

    @property
    def max_idf(self) -> float:
        """The IDF of a term that occurs in one row only: the largest any term can have."""
        n = self.retriever.scores["num_docs"]
        return float(np.log(1 + (n - 0.5) / 1.5))

    def idf(self, term: int) -> float:
        """BM25's inverse document frequency of a term."""
        n = self.retriever.scores["num_docs"]
        df = len(self.postings(term))
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
