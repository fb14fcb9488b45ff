"""Interaction data for the recommenders, in the encoded form every model fits on.

:class:`Interactions` is the columnar form the store hands to training, and
:func:`sequences_from_interactions` turns it into time-ordered per-user sequences;
:func:`encode_sequences` indexes string sequences (``sequences.txt``, read by
:mod:`shelf.formats`). :class:`SequenceData` holds users, an item vocabulary and index
sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shelf.errors import ValidationError

# Event types that count as a positive interaction for the models, and those that count as a
# purchase (for "already bought" exclusion and frequently-bought-together).
POSITIVE_TYPES = frozenset({"view", "click", "add_to_cart", "purchase", "rating"})
PURCHASE_TYPES = frozenset({"purchase"})


@dataclass(frozen=True)
class Interactions:
    """Events as columns, as the store hands them to training (one row per event)."""

    user: Sequence[str]
    item: Sequence[str]
    timestamp: Sequence[float]
    type: Sequence[str] | None = None
    session: Sequence[str | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("item", "timestamp", "type", "session"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValidationError(f"has {len(column)} rows, expected {n}", field=name)


@dataclass
class SequenceData:
    """What the models fit on: user ids, the item vocabulary and per-user index sequences.

    ``sequences[u]`` holds indices into ``items`` in time order. ``baskets[u]``, when given,
    holds a basket/session key per position (same length), used for frequently-bought-together;
    ``purchased[u]`` marks purchase positions. ``categories`` maps item index to a category.
    ``item_text``, when given, holds one L2-normalised text embedding per item (the input of
    the text-aware models).
    """

    users: list[str]
    items: list[str]
    sequences: list[np.ndarray]
    baskets: list[np.ndarray] | None = None
    purchased: list[np.ndarray] | None = None
    timestamps: list[np.ndarray] | None = None
    categories: list[str | None] | None = None
    item_text: np.ndarray | None = field(default=None, repr=False)
    item_index: dict[str, int] = field(default_factory=dict, repr=False)
    user_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.item_index:
            self.item_index = {item: i for i, item in enumerate(self.items)}
        if not self.user_index:
            self.user_index = {user: u for u, user in enumerate(self.users)}

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item index."""
        counts = np.zeros(self.n_items, dtype=np.int64)
        for seq in self.sequences:
            np.add.at(counts, seq, 1)
        return counts

    def replace_sequences(self, sequences: list[np.ndarray]) -> SequenceData:
        """The same users and vocabulary with other sequences (e.g. truncated for a split)."""
        return SequenceData(
            users=self.users,
            items=self.items,
            sequences=sequences,
            categories=self.categories,
            item_text=self.item_text,
            item_index=self.item_index,
            user_index=self.user_index,
        )


def encode_sequences(
    users: Sequence[str],
    sequences: Sequence[Sequence[str]],
    extra_items: Sequence[str] = (),
) -> SequenceData:
    """Index string sequences; items are numbered in order of first appearance, then extras."""
    index: dict[str, int] = {}
    encoded: list[np.ndarray] = []
    for seq in sequences:
        encoded.append(np.fromiter((index.setdefault(i, len(index)) for i in seq), dtype=np.int64))
    for item in extra_items:
        index.setdefault(item, len(index))
    return SequenceData(users=list(users), items=list(index), sequences=encoded, item_index=index)


def sequences_from_interactions(
    interactions: Interactions,
    *,
    positive_types: frozenset[str] = POSITIVE_TYPES,
    extra_items: Sequence[str] = (),
) -> SequenceData:
    """Time-ordered per-user sequences from event columns (only positive event types).

    Baskets are the session ids where given (else one basket per user and day); purchase
    positions are flagged so the service can exclude bought items and mine co-purchases.
    """
    n = len(interactions.user)
    types = interactions.type if interactions.type is not None else ["view"] * n
    sessions = interactions.session
    keep = [k for k in range(n) if types[k] in positive_types]
    by_user: dict[str, list[int]] = {}
    for k in keep:
        by_user.setdefault(interactions.user[k], []).append(k)
    users = list(by_user)
    index: dict[str, int] = {}
    sequences: list[np.ndarray] = []
    baskets: list[np.ndarray] = []
    purchased: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    basket_ids: dict[str, int] = {}
    for user in users:
        rows = sorted(by_user[user], key=lambda k: float(interactions.timestamp[k]))
        sequences.append(
            np.array([index.setdefault(interactions.item[k], len(index)) for k in rows], np.int64)
        )
        keys = []
        for k in rows:
            session = sessions[k] if sessions is not None else None
            if session is None:
                session = f"{user}@{int(float(interactions.timestamp[k]) // 86400)}"
            keys.append(basket_ids.setdefault(str(session), len(basket_ids)))
        baskets.append(np.array(keys, dtype=np.int64))
        purchased.append(np.array([types[k] in PURCHASE_TYPES for k in rows], dtype=bool))
        stamps.append(np.array([float(interactions.timestamp[k]) for k in rows], np.float64))
    for item in extra_items:
        index.setdefault(item, len(index))
    return SequenceData(
        users=users,
        items=list(index),
        sequences=sequences,
        baskets=baskets,
        purchased=purchased,
        timestamps=stamps,
        item_index=index,
    )
