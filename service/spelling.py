""""Did you mean": a misspelt name in a query, replaced by the name the sources use.

A misspelt name ("Nadela") makes a question look unanswerable. Only names are corrected: words the
sources write capitalised most of the time (people, companies, products). Correcting common words
turns near-topic questions into different ones ("plants" into "plans"), and a word is known when any
form of it is (the same stem), so inflections are never "corrected".
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable

import Stemmer

_WORD = re.compile(r"[^\W\d_]+")
MIN_LENGTH = 5  # shorter names are too often a different name one letter away
CUTOFF = 0.8
MAX_NAMES = 50_000


class Speller:
    def __init__(self, names: list[str], known_stems: set[str]) -> None:
        self.stemmer = Stemmer.Stemmer("english")
        self.known_stems = known_stems
        self.by_length: dict[int, list[str]] = {}
        for name in names:
            self.by_length.setdefault(len(name), []).append(name)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Speller:
        stemmer = Stemmer.Stemmer("english")
        total: Counter[str] = Counter()
        capitalised: Counter[str] = Counter()
        spelt: dict[str, str] = {}
        for text in texts:
            for word in _WORD.findall(text):
                folded = word.casefold()
                total[folded] += 1
                if word[:1].isupper() and not word.isupper():
                    capitalised[folded] += 1
                    spelt.setdefault(folded, word)
        names = [spelt[w] for w, n in capitalised.most_common(MAX_NAMES)
                 if len(w) >= MIN_LENGTH - 1 and n * 2 > total[w] * 1.5]  # capitalised three times in four
        return cls(names, set(stemmer.stemWords(list(total))))

    def _known(self, word: str) -> bool:
        folded = word.casefold()
        return folded in self.known_stems or self.stemmer.stemWord(folded) in self.known_stems

    def closest(self, word: str) -> str | None:
        if len(word) < MIN_LENGTH or not word[:1].isupper() or self._known(word):
            return None
        candidates = [n for k in range(len(word) - 2, len(word) + 3) for n in self.by_length.get(k, ())
                      if n[0].casefold() == word[0].casefold()]
        by_fold = {n.casefold(): n for n in candidates}
        found = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=CUTOFF)
        return by_fold[found[0]] if found else None

    def correct(self, query: str) -> str | None:
        """The query with its misspelt names corrected, or None when it has none."""
        changed = False

        def fix(m: re.Match) -> str:
            nonlocal changed
            better = self.closest(m.group())
            changed = changed or better is not None
            return better or m.group()

        corrected = _WORD.sub(fix, query)
        return corrected if changed else None
