"""Tokenisation for search: English stemming and stop words, jieba for Chinese.

One :class:`Analyzer` turns a text into index terms. The same analyzer must be used for the
documents and the queries of one index. ``terms`` are what the inverted index stores (stemmed,
stop words removed); ``words`` are the surface forms (lower-cased, unstemmed), used by the
spelling corrector and for phrase matching.

English: lower-case, split on anything that is not a letter or digit (a decimal point inside a
number and a fraction slash are kept: "1/2", "2.5"), split letters from digits ("60amp" ->
"60 amp"), drop stop words, Snowball-stem (PyStemmer). Chinese runs of CJK characters are
segmented with jieba; its tokens are not stemmed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

Language = Literal["en", "zh", "auto"]

# The English stop words of bm25s (its "en" list).
ENGLISH_STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    }
)

# Unit words normalised to one term. Those marked ambiguous ("in", "a") only after a number.
UNITS = {
    "inch": "inch", "inches": "inch", "in": "inch",
    "ft": "ft", "feet": "ft", "foot": "ft",
    "gal": "gal", "gallon": "gal", "gallons": "gal",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
    "oz": "oz", "ounce": "oz", "ounces": "oz",
    "v": "volt", "volt": "volt", "volts": "volt",
    "w": "watt", "watt": "watt", "watts": "watt",
    "amp": "amp", "amps": "amp", "a": "amp",
    "sq": "sq", "square": "sq",
    "cu": "cu", "cubic": "cu",
    "mm": "mm", "cm": "cm", "qt": "qt", "quart": "qt",
}  # fmt: skip
_AFTER_NUMBER_ONLY = frozenset({"in", "a", "v", "w"})

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|\d+(?:[./]\d+)*|[^\W\d_]+", re.UNICODE)
_HAS_CJK = re.compile(rf"[{_CJK}]")


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def _jieba_cut(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(60)  # jieba prints its dictionary loading otherwise
    return [t for t in jieba.lcut(text) if t.strip()]


class Analyzer:
    """Text -> index terms. ``language="auto"`` segments CJK runs with jieba, the rest as English.

    ``stem`` and ``stop_words`` can be switched off (e.g. for brand or id fields).
    """

    def __init__(
        self, *, language: Language = "auto", stem: bool = True, stop_words: bool = True
    ) -> None:
        self.language = language
        self.stem = stem
        self.stop_words = stop_words
        self._stem_cache: dict[str, str] = {}

    def words(self, text: str) -> list[str]:
        """Lower-cased surface tokens, stop words kept, nothing stemmed."""
        out: list[str] = []
        for match in _TOKEN.finditer(text.lower()):
            token = match.group()
            if _HAS_CJK.match(token):
                if self.language == "en":
                    out.append(token)
                else:
                    out.extend(_jieba_cut(token))
            else:
                out.append(token)
        return out

    def stem_word(self, word: str) -> str:
        """One word's index term (its stem, or itself for numbers and CJK)."""
        if not self.stem or not word.isascii() or not word.isalpha():
            return word
        cached = self._stem_cache.get(word)
        if cached is None:
            cached = _stemmer().stemWord(word)  # type: ignore[attr-defined]
            if len(self._stem_cache) < 500_000:
                self._stem_cache[word] = cached
        return cached

    def is_stop_word(self, word: str) -> bool:
        return self.stop_words and word in ENGLISH_STOP_WORDS

    def normalise(self, words: list[str]) -> list[str]:
        """Unit words made canonical ("3 in." -> "3 inch", "gallons" -> "gal")."""
        out: list[str] = []
        previous_number = False
        for w in words:
            unit = UNITS.get(w)
            if unit is not None and (previous_number or w not in _AFTER_NUMBER_ONLY):
                out.append(unit)
            else:
                out.append(w)
            previous_number = w[:1].isdigit()
        return out

    def terms(self, text: str) -> list[str]:
        """Index terms of ``text``: units normalised, stop words dropped, the rest stemmed."""
        return self.terms_of_words(self.words(text))

    def terms_of_words(self, words: list[str]) -> list[str]:
        """Index terms of already split words (see :meth:`words`)."""
        return [self.stem_word(w) for w in self.normalise(words) if not self.is_stop_word(w)]
