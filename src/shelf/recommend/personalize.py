"""Search's personalisation: results nudged toward the shopper's recent history."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shelf.recommend.service import RecommendService

PERSONAL_WEIGHT = 0.5  # the largest bonus, in standard deviations of the query's scores
HISTORY = 5  # the user's latest items that count


def personalize(
    recs: RecommendService, user_key: str, item_ids: Sequence[str], scores: np.ndarray
) -> np.ndarray:
    """``scores`` of ``item_ids`` with a bonus for items that co-occur with the user's last
    few items: up to ``PERSONAL_WEIGHT`` standard deviations of the query's scores, enough to
    reorder near-ties, never enough to bury a clearly better lexical match."""
    cooc = recs.cooc
    history = [h for h in recs.history(user_key)[-HISTORY:] if h in cooc.item_index_]
    if not history:
        return scores
    link: dict[str, float] = {}
    for row in cooc.neighbours(history, 100):
        for item, weight in row:
            link[item] = max(link.get(item, 0.0), weight)
    if not link:
        return scores
    top = max(link.values())
    bonus = np.array([link.get(i, 0.0) / top for i in item_ids], dtype=np.float32)
    spread = float(np.std(scores)) or 1.0
    return np.asarray(scores, dtype=np.float32) + PERSONAL_WEIGHT * spread * bonus
