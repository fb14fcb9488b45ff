"""Why an item is recommended to a shopper, in words they can read: the history item most
linked to it (co-occurrence, else the model's item embeddings), or, for a new item, its
text-nearest history item."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shelf.recommend.base import Recommender
from shelf.recommend.cooccur import ItemCooccurrence


def personal_reasons(
    personal: Recommender,
    cooc: ItemCooccurrence,
    items: list[str],
    history: list[str],
    title: Callable[[str], str],
) -> list[str]:
    """For each item, the history item most linked to it: co-occurrence, else embedding.

    An item without training interactions (new) is explained by the text/embedding
    neighbour in the history: "new, similar to X".
    """
    recent = [h for h in history[-20:] if h in personal.item_index_]
    if not items or not recent:
        return ["recommended for you"] * len(items)
    rows = personal.encode_items(recent)
    cols = personal.encode_items(items)
    n_cooc = cooc.similar_.shape[0]
    links = np.zeros((len(rows), len(cols)), dtype=np.float64)
    matrix = cooc.similar_
    position = {int(c): k for k, c in enumerate(cols)}
    for a, r in enumerate(rows):
        if r >= n_cooc:
            continue
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        # A dict probe per stored neighbour: cheaper than np.isin on these short rows.
        weights = matrix.data[lo:hi].tolist()
        for h, neighbour in enumerate(matrix.indices[lo:hi].tolist()):
            k = position.get(neighbour)
            if k is not None:
                links[a, k] = weights[h]
    vectors = personal.item_vectors()
    reasons = []
    for k, index in enumerate(cols):
        fresh = int(personal.item_counts_[index]) == 0
        if links[:, k].max() > 0 and not fresh:
            source = recent[int(np.argmax(links[:, k]))]
            reasons.append(f"because you viewed {title(source)}")
        elif vectors is not None:
            source = recent[int(np.argmax(vectors[rows] @ vectors[index]))]
            prefix = "new, similar to" if fresh else "because you viewed"
            reasons.append(f"{prefix} {title(source)}")
        else:
            reasons.append(f"because you viewed {title(recent[-1])}")
    return reasons
