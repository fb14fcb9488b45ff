"""Field-weighted lexical retrieval: one BM25 index per field, scores summed with field weights.

Fields are title, brand, category path, description and attribute values. The combined score is
``sum_f weight_f * bm25_f(q, d)`` (a weighted sum of per-field BM25, the simple form of BM25F;
Robertson, Zaragoza & Taylor, "Simple BM25 extension to multiple weighted fields", 2004).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from shelf.catalog import Item
from shelf.search.bm25 import BM25Field
from shelf.text.tokenize import Analyzer

FIELDS: tuple[str, ...] = ("title", "brand", "category", "description", "attributes")
DEFAULT_FIELD_WEIGHTS: dict[str, float] = {
    "title": 1.0,
    "brand": 0.6,
    "category": 0.5,
    "description": 0.2,
    "attributes": 0.3,
}


def field_texts(item: Item) -> dict[str, str]:
    """The text of each searchable field of ``item``."""
    attrs: list[str] = []
    for value in item.attributes.values():
        if isinstance(value, list):
            attrs.extend(str(v) for v in value)
        elif isinstance(value, str):
            attrs.append(value)
    return {
        "title": item.title,
        "brand": item.brand or "",
        "category": " ".join(item.category),
        "description": item.description,
        "attributes": " ".join(attrs),
    }


class LexicalIndex:
    """BM25 over several fields of the catalog, with per-field weights."""

    def __init__(
        self,
        analyzer: Analyzer | None = None,
        *,
        field_weights: Mapping[str, float] | None = None,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.field_weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        unknown = set(self.field_weights) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {list(FIELDS)}")
        self.fields: dict[str, BM25Field] = {
            f: BM25Field(k1=k1, b=b, positions=f == "title") for f in FIELDS
        }
        # adjacent title term pairs, for phrase features (not part of the combined score)
        self.bigrams = BM25Field(k1=k1, b=b)
        # character trigrams of the title words: misspellings, compounds, partial words
        self.trigrams = BM25Field(k1=k1, b=b)
        # the title's words as written (not stemmed): postings only, for exact-word features
        self.title_word_postings = BM25Field(k1=k1, b=b)
        self.titles: list[str] = []
        self.title_terms: list[list[str]] = []
        self.title_words: list[list[str]] = []
        self.n_docs = 0

    def add(self, items: Sequence[Item]) -> None:
        """Index ``items`` as the next documents (ids continue from :attr:`n_docs`)."""
        per_field: dict[str, list[list[str]]] = {f: [] for f in FIELDS}
        bigrams: list[list[str]] = []
        trigrams: list[list[str]] = []
        for item in items:
            texts = field_texts(item)
            words = self.analyzer.words(texts["title"])
            terms = self.analyzer.terms_of_words(words)
            self.title_words.append(words)
            self.title_terms.append(terms)
            self.titles.append(item.title)
            bigrams.append(bigram_tokens(terms))
            trigrams.append(char_trigrams(words))
            per_field["title"].append(terms)
            for f in FIELDS[1:]:
                per_field[f].append(self.analyzer.terms(texts[f]) if texts[f] else [])
        for f in FIELDS:
            if f == "title" or any(per_field[f]) or self.fields[f].n_docs_:
                self.fields[f].add(per_field[f])
        self.bigrams.add(bigrams)
        self.trigrams.add(trigrams)
        self.title_word_postings.add(self.title_words[self.n_docs :])
        self.n_docs += len(items)

    def field_scores(
        self, terms: Sequence[str], weights: Sequence[float] | None = None
    ) -> dict[str, np.ndarray]:
        """Per-field BM25 score arrays over all documents (empty fields give zeros)."""
        out: dict[str, np.ndarray] = {}
        for f, index in self.fields.items():
            if index.n_docs_ == self.n_docs:
                out[f] = index.scores(terms, weights)
            else:
                out[f] = np.zeros(self.n_docs, dtype=np.float32)
        return out

    def combine(self, per_field: Mapping[str, np.ndarray]) -> np.ndarray:
        total = np.zeros(self.n_docs, dtype=np.float32)
        for f, w in self.field_weights.items():
            if w:
                total += np.float32(w) * per_field[f]
        return total

    def idf(self, term: str) -> float:
        return self.fields["title"].idf(term)

    def vocabulary(self) -> Iterable[str]:
        return self.fields["title"].vocab_.keys()


def bigram_tokens(terms: Sequence[str]) -> list[str]:
    """Adjacent term pairs as single tokens: ["a", "b", "c"] -> ["a b", "b c"]."""
    return [f"{a} {b}" for a, b in itertools.pairwise(terms)]


def char_trigrams(words: Sequence[str]) -> list[str]:
    """Character trigrams of each word padded with ``#``: "saw" -> "#sa", "saw", "aw#"."""
    out: list[str] = []
    for w in words:
        padded = f"#{w}#"
        out.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest positive scores (ties by lower index), best first."""
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        part = np.argpartition(-scores[positive], k - 1)[:k]
        positive = positive[part]
    order = np.lexsort((positive, -scores[positive]))
    return positive[order]
