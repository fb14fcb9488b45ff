"""Typo tolerance: correct query words that the catalog never uses to words it does.

The vocabulary is the catalog's own surface words with their document frequencies. A query word
absent from it (and long enough to be a word, not a number or a code) is replaced by the most
frequent vocabulary word within a small optimal-string-alignment distance (Levenshtein plus
adjacent transpositions, so "everblit" -> "everbilt" is one edit): at most 1 edit for words of
4-7 letters, 2 for longer words. Words are bucketed by length so each lookup compares against a
few thousand words with rapidfuzz's C implementation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA


def max_edits(word: str) -> int:
    """How many edits a word of this length may be corrected by."""
    n = len(word)
    if n < 4:
        return 0
    return 1 if n <= 7 else 2


class SpellingCorrector:
    """Vocabulary-based spelling correction (see module docstring)."""

    def __init__(self, *, min_count: int = 2) -> None:
        self.min_count = min_count
        self.counts_: Counter[str] = Counter()
        self._by_length: dict[int, list[str]] = {}
        self._dirty = True
        self._memo: dict[str, str | None] = {}

    def add_documents(self, docs: Iterable[Iterable[str]]) -> None:
        """Count each document's distinct alphabetic words."""
        for words in docs:
            self.counts_.update({w for w in words if w.isalpha()})
        self._dirty = True
        self._memo = {}

    def _buckets(self) -> dict[int, list[str]]:
        if self._dirty:
            by_length: dict[int, list[str]] = {}
            for word, count in self.counts_.items():
                if count >= self.min_count:
                    by_length.setdefault(len(word), []).append(word)
            self._by_length = by_length
            self._dirty = False
        return self._by_length

    def known(self, word: str) -> bool:
        return self.counts_.get(word, 0) > 0

    def correct_word(self, word: str) -> str | None:
        """The correction of ``word``, or None when it is known, too short or has none."""
        edits = max_edits(word)
        if edits == 0 or not word.isalpha() or self.known(word):
            return None
        if word in self._memo:
            return self._memo[word]
        fixed = self._search(word, edits)
        if len(self._memo) < 100_000:
            self._memo[word] = fixed
        return fixed

    def _search(self, word: str, edits: int) -> str | None:
        buckets = self._buckets()
        best: tuple[int, int, str] | None = None  # (distance, -count, word)
        for length in range(len(word) - edits, len(word) + edits + 1):
            bucket = buckets.get(length)
            if not bucket:
                continue
            for candidate, d, _ in process.extract(
                word, bucket, scorer=OSA.distance, score_cutoff=edits, limit=None
            ):
                key = (int(d), -self.counts_[candidate], candidate)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]

    def correct(self, words: list[str]) -> tuple[list[str], dict[str, str]]:
        """The words with corrections applied, and the corrections made (wrong -> right)."""
        out: list[str] = []
        made: dict[str, str] = {}
        for w in words:
            fixed = self.correct_word(w)
            if fixed is not None:
                made[w] = fixed
                out.append(fixed)
            else:
                out.append(w)
        return out, made
