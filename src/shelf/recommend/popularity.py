"""Popularity and time-decayed trending (overall and per category).

Trending weights each interaction by ``0.5 ** (age / half_life)`` (exponential decay, as in
Gorse's and Reddit's "hot" rankings), where age is measured back from the newest event. Without
timestamps (``sequences.txt``), a position's recency within its user's sequence stands in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shelf.recommend.base import Recommender, Validation
from shelf.recommend.data import SequenceData


class Popularity(Recommender):
    """Most interacted-with items; the same list for everyone (history excluded)."""

    name = "pop"

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        self.popularity_ = np.log1p(self.item_counts_).astype(np.float32)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(histories), self.n_items)).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.popularity_ = arrays["popularity"]


def decayed_counts(
    sequences: Sequence[np.ndarray],
    n_items: int,
    half_life: float,
    timestamps: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Sum of ``0.5 ** (age / half_life)`` per item; age in seconds from the newest event, or
    (no timestamps) in positions from the end of each user's sequence."""
    scores = np.zeros(n_items, dtype=np.float64)
    if timestamps is not None and any(len(t) for t in timestamps):
        newest = max(float(t.max()) for t in timestamps if len(t))
        for seq, stamps in zip(sequences, timestamps, strict=True):
            np.add.at(scores, seq, 0.5 ** ((newest - stamps) / half_life))
    else:
        for seq in sequences:
            age = np.arange(len(seq) - 1, -1, -1, dtype=np.float64)
            np.add.at(scores, seq, 0.5 ** (age / half_life))
    return scores


class Trending(Recommender):
    """Time-decayed popularity; :meth:`trending` also answers per category.

    ``half_life`` is in seconds when the data has timestamps (default one week), else in
    sequence positions.
    """

    name = "trending"

    def __init__(self, *, half_life: float = 7 * 86400.0, half_life_positions: float = 3.0):
        self.half_life = half_life
        self.half_life_positions = half_life_positions

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        has_time = data.timestamps is not None
        half = self.half_life if has_time else self.half_life_positions
        self.trend_ = decayed_counts(
            data.sequences, data.n_items, half, data.timestamps if has_time else None
        ).astype(np.float32)
        cats = data.categories or [None] * data.n_items
        self.categories_ = ["" if c is None else str(c) for c in cats]

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

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"trend": self.trend_, "categories": np.array(self.categories_, dtype=str)}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.trend_ = arrays["trend"]
        self.categories_ = [str(c) for c in arrays["categories"]]
