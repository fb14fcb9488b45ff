"""Popularity and time-decayed trending (overall and per category).

Trending weights each interaction by ``0.5 ** (age / half_life)`` (exponential decay, as in
Gorse's and Reddit's "hot" rankings), where age is measured back from the newest event. Without
timestamps (``sequences.txt``), a position's recency within its user's sequence stands in.

Both keep integer counts and derive their scores from them (:mod:`shelf.recommend.counts`), so
they forget a user exactly. Trending counts events per (item, hour): an event's age is that of
its hour, ``newest_hour - hour``, where ``newest_hour`` is the newest hour holding any event.
An hour is finer than a week's half-life tells apart (a weight moves by 0.4% in an hour), and
the model keeps one count per item and hour rather than each event's timestamp. Without
timestamps the counts are per (item, age in positions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shelf.recommend.base import Validation
from shelf.recommend.counts import (
    HOUR,
    CountsRecommender,
    KeyedCounts,
    UserRecords,
    decayed,
    flatten,
    hour_buckets,
    item_counts,
    keyed_counts,
    position_ages,
    subtract_vector,
)
from shelf.recommend.data import SequenceData


class Popularity(CountsRecommender):
    """Most interacted-with items; the same list for everyone (history excluded)."""

    name = "pop"
    counts_key = "occurrences"

    def tally(self, records: UserRecords, n_items: int) -> np.ndarray:
        return item_counts(records.sequences, n_items)

    def _set_counts(self, counts: np.ndarray) -> None:
        self.occurrences_ = counts

    def _uncount(self, records: UserRecords) -> None:
        gone = item_counts(records.sequences, self.n_items)
        self.occurrences_ = subtract_vector(self.occurrences_, gone)

    def _derive(self) -> None:
        self.popularity_ = np.log1p(self.occurrences_).astype(np.float32)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(histories), self.n_items)).copy()

    def _count_arrays(self) -> dict[str, np.ndarray]:
        return {"occurrences": self.occurrences_}

    def _restore_counts(self, arrays: dict[str, np.ndarray]) -> None:
        self.occurrences_ = arrays["occurrences"]


def trend_counts(records: UserRecords) -> KeyedCounts:
    """Events per (item, hour), or per (item, age in positions) when there are no hours."""
    items, _ = flatten(records.sequences)
    if records.hours is not None:
        return keyed_counts(items, flatten(records.hours)[0])
    return keyed_counts(items, position_ages(records.sequences))


class Trending(CountsRecommender):
    """Time-decayed popularity; :meth:`trending` also answers per category.

    ``half_life`` is in seconds when the data has timestamps (default one week), else
    ``half_life_positions`` in sequence positions.
    """

    name = "trending"
    counts_key = "trend_counts"

    def __init__(self, *, half_life: float = 7 * 86400.0, half_life_positions: float = 3.0):
        self.half_life = half_life
        self.half_life_positions = half_life_positions

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        cats = data.categories or [None] * data.n_items
        self.categories_ = ["" if c is None else str(c) for c in cats]
        super()._fit(data, validation)

    def _records(self, data: SequenceData) -> UserRecords:
        records = super()._records(data)
        if data.timestamps is not None and any(len(t) for t in data.timestamps):
            records.hours = [hour_buckets(t) for t in data.timestamps]
        return records

    def tally(self, records: UserRecords, n_items: int) -> KeyedCounts:
        del n_items
        return trend_counts(records)

    def _set_counts(self, counts: KeyedCounts) -> None:
        self.trend_counts_ = counts

    def _uncount(self, records: UserRecords) -> None:
        self.trend_counts_ = self.trend_counts_ - trend_counts(records)

    def _derive(self) -> None:
        counts, n = self.trend_counts_, self.n_items
        if self.records_.hours is not None:  # age in hours before the newest hour
            trend = decayed(counts, n, self.half_life, HOUR, newest=True)
        else:  # age in positions from the end of each sequence
            trend = decayed(counts, n, self.half_life_positions, 1.0, newest=False)
        self.trend_ = trend.astype(np.float32)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.trend_, (len(histories), self.n_items)).copy()

    def trending(self, n: int, category: str | None = None) -> list[tuple[str, float]]:
        """The ``n`` most trending items, optionally within one category (prefix match)."""
        self._check_fitted()
        scores = self.trend_.copy()
        if category:
            allowed = np.array([c.startswith(category) for c in self.categories_], dtype=bool)
            scores[~allowed] = -np.inf
        order = np.argsort(-scores, kind="stable")[:n]
        return [(self.items_[i], float(scores[i])) for i in order if np.isfinite(scores[i])]

    def _count_arrays(self) -> dict[str, np.ndarray]:
        counts = self.trend_counts_
        return {
            "trend_items": counts.items,
            "trend_keys": counts.keys,
            "trend_counts": counts.counts,
            "categories": np.array(self.categories_, dtype=str),
        }

    def _restore_counts(self, arrays: dict[str, np.ndarray]) -> None:
        items, keys, counts = (arrays[f"trend_{k}"] for k in ("items", "keys", "counts"))
        self.trend_counts_ = KeyedCounts(items, keys, counts)
        self.categories_ = [str(c) for c in arrays["categories"]]
