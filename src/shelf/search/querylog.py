"""Query-log expansion: each product also answers to the queries it was judged relevant for.

A shop's search log (or its judged queries) says, in its customers' words, what each product
is: "vanity" for a product titled "Glacier Bay 30 in. Bath Cabinet". The classic use (document
expansion with click-through queries) is a second text field per item made of those queries,
scored by BM25 like the others. It yields a feature (``querylog_bm25``) and up to
``K_QUERYLOG`` extra candidates that the title alone would not retrieve.

The field is learned from judgements, so it is built by ``train_search`` from the training
queries only, and cross-fitted for the ranker's own training rows (a query never meets its own
text in the field); the evaluation builds it per fold. Items with no logged query have an empty
field. BM25 is :class:`shelf.search.bm25.BM25Field` (ours, because it grows with the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from shelf.search.bm25 import BM25Field
from shelf.text.tokenize import Analyzer

K_QUERYLOG = 50  # candidates taken from the query-log field
MIN_RELEVANCE = 2.0  # graded judgement from which a query joins the item's field (1..3 scale)


class QueryLog:
    """Per-item text of the queries it answered; ``entries`` maps item id to query texts."""

    def __init__(self, entries: Mapping[str, Sequence[str]]) -> None:
        self.entries = {k: list(v) for k, v in entries.items() if v}
        self.field: BM25Field | None = None
        self._built_for: tuple[int, int] | None = None  # (id of positions map, items)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def from_judgements(
        cls,
        texts: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        *,
        min_relevance: float = MIN_RELEVANCE,
    ) -> QueryLog:
        """From judged queries: each query's text joins the items it was judged relevant for."""
        entries: dict[str, list[str]] = {}
        for qid, text in texts.items():
            if not text.strip():
                continue
            for item_id, relevance in qrels.get(qid, {}).items():
                if relevance >= min_relevance:
                    entries.setdefault(item_id, []).append(text)
        return cls(entries)

    def bind(self, positions: Mapping[str, int], n_items: int, analyzer: Analyzer) -> BM25Field:
        """The BM25 field over the index's items (built on first use, grown for new items)."""
        key = (id(positions), n_items)
        if self.field is not None and self._built_for == key:
            return self.field
        built = self._built_for
        grown = built is not None and built[0] == id(positions) and built[1] < n_items
        if self.field is not None and built is not None and grown:
            # items added to the index since: empty fields for them
            self.field.add([[] for _ in range(n_items - built[1])])
            self._built_for = key
            return self.field
        docs: list[list[str]] = [[] for _ in range(n_items)]
        for item_id, texts in self.entries.items():
            row = positions.get(item_id)
            if row is not None and row < n_items:
                docs[row] = [t for text in texts for t in analyzer.terms(text)]
        self.field = BM25Field().fit(docs)
        self._built_for = key
        return self.field

    def scores(
        self, terms: Sequence[str], positions: Mapping[str, int], n_items: int, analyzer: Analyzer
    ) -> np.ndarray:
        """BM25 of the query terms against every item's logged queries."""
        if not terms or not self.entries:
            return np.zeros(n_items, dtype=np.float32)
        return np.asarray(self.bind(positions, n_items, analyzer).scores(terms), np.float32)
