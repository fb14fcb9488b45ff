"""Query understanding: price bounds, brands and attribute values, synonyms, spelling.

"cordless drill under $100" -> terms "cordless drill" and ``price_max=100``; "samsung 4k tv" ->
brand "Samsung" when the catalog has that brand; "red leather sofa" -> colour "red" and material
"leather" when the catalog's attributes use those values. Everything understood is reported in
:class:`UnderstoodQuery` and can be overridden by the caller (explicit filters win; understanding
can be switched off).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shelf.search.spelling import SpellingCorrector
from shelf.text.tokenize import Analyzer

_AMOUNT = r"(\d+(?:[.,]\d+)*)"
_NUMBER = rf"\$?\s*{_AMOUNT}\s*(?:dollars?|usd|\$)?"
_MONEY = rf"\$\s*{_AMOUNT}"  # a number that must carry a dollar sign
_BELOW = r"under|below|less than|cheaper than|up to|max"
_ABOVE = r"over|above|more than|at least"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_PRICE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_rx(rf"\bbetween\s+{_NUMBER}\s+(?:and|to)\s+{_NUMBER}"), "range"),
    (_rx(rf"{_MONEY}\s*(?:-|to)\s*{_MONEY}"), "range"),
    (_rx(rf"\b(?:{_BELOW})\s*{_NUMBER}"), "max"),
    (_rx(rf"\b(?:{_ABOVE}|from|min)\s*{_MONEY}"), "min"),
    (_rx(rf"\b(?:{_ABOVE})\s+{_NUMBER}"), "min"),
)

DEFAULT_ATTRIBUTE_FACETS: tuple[str, ...] = ("color", "colour", "material", "finish")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_price(query: str) -> tuple[str, float | None, float | None]:
    """The query without its price phrase, and the price bounds it stated (min, max)."""
    for pattern, kind in _PRICE_PATTERNS:
        match = pattern.search(query)
        if match is None:
            continue
        rest = (query[: match.start()] + " " + query[match.end() :]).strip()
        rest = re.sub(r"\s+", " ", rest)
        if kind == "range":
            low, high = sorted((_number(match.group(1)), _number(match.group(2))))
            return rest, low, high
        if kind == "max":
            return rest, None, _number(match.group(1))
        return rest, _number(match.group(1)), None
    return query, None, None


def _apply_corrections(text: str, corrections: Mapping[str, str]) -> str:
    """``text`` with each corrected word replaced (case-insensitive, whole words)."""
    for wrong, right in corrections.items():
        text = re.sub(rf"\b{re.escape(wrong)}\b", right, text, flags=re.IGNORECASE)
    return text.strip()


class SynonymMap:
    """Configurable synonyms: each group of words or phrases is interchangeable.

    ``SynonymMap([["sofa", "couch"], ["tv", "television"]])``. Lookup is on index terms, so
    plural and singular forms share the same synonyms.
    """

    def __init__(self, groups: Iterable[Iterable[str]] = (), analyzer: Analyzer | None = None):
        self.analyzer = analyzer or Analyzer()
        self._map: dict[str, list[list[str]]] = {}
        self.groups: list[list[str]] = []
        for group in groups:
            self.add_group(group)

    def add_group(self, group: Iterable[str]) -> None:
        phrases = [p for p in group if p.strip()]
        self.groups.append(phrases)
        term_lists = [self.analyzer.terms(p) for p in phrases]
        for terms in term_lists:
            if len(terms) == 1:
                others = [t for t in term_lists if t != terms and t]
                self._map.setdefault(terms[0], []).extend(others)

    def expand(self, terms: list[str]) -> list[str]:
        """Extra terms for ``terms`` (not including the terms themselves)."""
        extra: list[str] = []
        for t in terms:
            for other in self._map.get(t, ()):
                extra.extend(x for x in other if x not in terms and x not in extra)
        return extra


@dataclass
class UnderstoodQuery:
    """What the engine understood from a query. Every field is shown to the user."""

    raw: str
    text: str  # the query after removing price phrases and correcting spelling
    words: list[str]
    terms: list[str]
    synonym_terms: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)
    price_min: float | None = None
    price_max: float | None = None
    brands: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "raw": self.raw,
            "text": self.text,
            "terms": self.terms,
            "synonyms": self.synonym_terms,
            "corrections": self.corrections,
            "price_min": self.price_min,
            "price_max": self.price_max,
            "brands": self.brands,
            "attributes": self.attributes,
        }


class QueryUnderstanding:
    """Turns a raw query into an :class:`UnderstoodQuery` using the catalog's vocabulary.

    ``brands`` maps a lower-cased brand name to its display form; ``attribute_values`` maps an
    attribute name to {lower-cased value: display value}.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        speller: SpellingCorrector | None = None,
        synonyms: SynonymMap | None = None,
        *,
        brands: Mapping[str, str] | None = None,
        attribute_values: Mapping[str, Mapping[str, str]] | None = None,
        max_phrase_words: int = 3,
    ) -> None:
        self.analyzer = analyzer
        self.speller = speller
        self.synonyms = synonyms or SynonymMap(analyzer=analyzer)
        self.brands = dict(brands or {})
        self.attribute_values = {k: dict(v) for k, v in (attribute_values or {}).items()}
        self.max_phrase_words = max_phrase_words

    def _phrases(self, words: list[str]) -> Iterable[str]:
        for n in range(self.max_phrase_words, 0, -1):
            for i in range(len(words) - n + 1):
                yield " ".join(words[i : i + n])

    def understand(
        self, query: str, *, parse_prices: bool = True, correct_spelling: bool = True
    ) -> UnderstoodQuery:
        text, price_min, price_max = parse_price(query) if parse_prices else (query, None, None)
        words = self.analyzer.words(text)
        corrections: dict[str, str] = {}
        if correct_spelling and self.speller is not None:
            words, corrections = self.speller.correct(words)
        terms = list(dict.fromkeys(self.analyzer.terms_of_words(words)))
        brands: list[str] = []
        attributes: dict[str, list[str]] = {}
        if self.brands or self.attribute_values:
            for phrase in self._phrases(words):
                brand = self.brands.get(phrase)
                if brand is not None and brand not in brands:
                    brands.append(brand)
                for name, values in self.attribute_values.items():
                    value = values.get(phrase)
                    if value is not None and value not in attributes.get(name, []):
                        attributes.setdefault(name, []).append(value)
        return UnderstoodQuery(
            raw=query,
            text=_apply_corrections(text, corrections),
            words=words,
            terms=terms,
            synonym_terms=self.synonyms.expand(terms),
            corrections=corrections,
            price_min=price_min,
            price_max=price_max,
            brands=brands,
            attributes=attributes,
        )
