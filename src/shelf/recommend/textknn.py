"""Content-based neighbours from item text: a history scores each item by the cosine of the
pretrained encoder's text embeddings, recency-weighted (``decay`` per step back).

It needs no interactions at all, so a new item is as recommendable as an old one from the
moment its text is known; in a blend it carries cold-start items ("new, similar to X").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shelf.recommend.base import Recommender, Validation
from shelf.recommend.data import SequenceData


class TextKNN(Recommender):
    """Recency-weighted text similarity to the user's last ``window`` items."""

    name = "textknn"
    needs_item_text = True
    can_add_items = True
    forgets_exactly = True  # learns from item text only, nothing from users

    def __init__(self, *, decay: float = 0.6, window: int = 10) -> None:
        self.decay = decay
        self.window = window

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        self.item_text_ = np.asarray(data.item_text, dtype=np.float32)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        dim = self.item_text_.shape[1]
        query = np.zeros((len(histories), dim), dtype=np.float32)
        for b, hist in enumerate(histories):
            tail = np.asarray(hist[-self.window :], dtype=np.int64)
            if len(tail):
                w = self.decay ** np.arange(len(tail) - 1, -1, -1, dtype=np.float32)
                query[b] = w @ self.item_text_[tail]
        return query @ self.item_text_.T

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items from their text embeddings (no retraining)."""
        self._check_fitted()
        if text is None:
            raise ValueError("TextKNN.add_items needs the new items' text embeddings")
        ids = list(item_ids)
        new = [i for i in dict.fromkeys(ids) if i not in self.item_index_]
        rows = np.asarray(text, dtype=np.float32)[[ids.index(i) for i in new]]
        for item in new:
            self.item_index_[item] = len(self.items_)
            self.items_.append(item)
        self.item_text_ = np.vstack([self.item_text_, rows])
        self.item_counts_ = np.concatenate([self.item_counts_, np.zeros(len(new), np.int64)])

    def item_vectors(self) -> np.ndarray | None:
        return self.item_text_

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_text": self.item_text_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_text_ = arrays["item_text"]
