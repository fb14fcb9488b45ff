"""The per-block steps of building training sequences from events, as plain functions of
Arrow tables (Ray runs them in tasks; tests run them directly).

A block holds every event of its users (the events are hash-partitioned by user). The single-
node builder (:func:`shelf.recommend.data.sequences_from_interactions`) numbers users, items
and baskets in order of first appearance while it walks users in the order of their first
event and each user's events in time order. That order is a sort key: an event's
``(user's first timestamp, user's first event id, timestamp, event id)``. So each block
reports the smallest key of each user, item and basket it holds (:func:`first_seen`); the
driver sorts those (:func:`order_first_seen`) into the numbering the single-node fit reaches,
and each block then encodes its users' sequences with it (:func:`encode_block`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shelf.recommend.data import POSITIVE_TYPES, PURCHASE_TYPES, SequenceData

DAY = 86400.0


class Keyed(NamedTuple):
    """Values and the sort key (``keys``: 4 int64 columns, or 2 for users) of each."""

    values: pa.Array
    keys: np.ndarray


class FirstSeen(NamedTuple):
    users: Keyed
    items: Keyed
    baskets: Keyed


class Ordered(NamedTuple):
    """Users, items and baskets in the order the single-node fit numbers them."""

    users: pa.Array
    items: pa.Array
    baskets: pa.Array


class BlockSequences(NamedTuple):
    """A block's users' sequences: each user's rank, their lengths and the flat columns."""

    ranks: np.ndarray
    lengths: np.ndarray
    items: np.ndarray
    baskets: np.ndarray
    purchased: np.ndarray
    timestamps: np.ndarray


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _ordered_block(table: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The block's positive events in the global order, each event's key (rows, 4 columns)
    and its user's code (first-appearance number within the block)."""
    kinds = pa.array(sorted(POSITIVE_TYPES))
    table = table.filter(pc.is_in(table.column("type"), value_set=kinds))
    table = table.sort_by([("timestamp", "ascending"), ("event_id", "ascending")])
    ts = table.column("timestamp").to_numpy().astype(np.int64)
    ids = table.column("event_id").to_numpy().astype(np.int64)
    user = _codes(table.column("user_id"))  # numbered by first event: codes follow the order
    first = np.unique(user, return_index=True)[1]
    order = np.lexsort((ids, ts, user))  # by user's rank in the block, then time, then id
    keys = np.stack([ts[first][user], ids[first][user], ts, ids], axis=1)[order]
    return table.take(pa.array(order)), keys, user[order]


def basket_keys(table: pa.Table) -> pa.Array:
    """Each event's basket: its session id, else ``user@day`` (as the single-node builder)."""
    seconds = table.column("timestamp").to_numpy() / 1000.0
    day = pa.array(np.floor(seconds / DAY).astype(np.int64)).cast(pa.string())
    fallback = pc.binary_join_element_wise(table.column("user_id"), day, "@")
    session = table.column("session_id")
    return pc.if_else(pc.is_valid(session), session, fallback).combine_chunks()


def _first_keys(values: pa.Array | pa.ChunkedArray, keys: np.ndarray) -> Keyed:
    """Each distinct value with the key of its first row (rows are in key order)."""
    codes = _codes(values)
    _, first = np.unique(codes, return_index=True)
    first.sort()
    chosen = pa.array(first)
    column = values.take(chosen)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return Keyed(column, keys[first])


def first_seen(table: pa.Table) -> FirstSeen:
    """The smallest key of each user, item and basket of a block (see the module doc)."""
    rows, keys, _ = _ordered_block(table)
    users = _first_keys(rows.column("user_id"), keys)
    return FirstSeen(
        Keyed(users.values, users.keys[:, :2]),
        _first_keys(rows.column("item_id"), keys),
        _first_keys(basket_keys(rows), keys),
    )


def _merge(parts: Sequence[Keyed], unique: str | None = None) -> pa.Array:
    values = pa.concat_arrays([p.values for p in parts]) if parts else pa.array([], pa.string())
    keys = np.concatenate([p.keys for p in parts]) if parts else np.zeros((0, 4), np.int64)
    order = np.lexsort(keys.T[::-1]) if len(keys) else np.zeros(0, np.int64)
    ordered = values.take(pa.array(order))
    codes = _codes(ordered)
    first = np.unique(codes, return_index=True)[1]
    if unique is not None and len(first) != len(ordered):
        raise RuntimeError(
            f"the events of some {unique} were split across blocks (the shuffle by user did "
            "not keep each user's events together); counts would be wrong"
        )
    first.sort()
    return ordered.take(pa.array(first))


def order_first_seen(parts: Sequence[FirstSeen]) -> Ordered:
    """Users, items and baskets numbered as the single-node fit numbers them."""
    return Ordered(
        _merge([p.users for p in parts], unique="users"),
        _merge([p.items for p in parts]),
        _merge([p.baskets for p in parts]),
    )


def encode_block(table: pa.Table, ordered: Ordered) -> BlockSequences:
    """A block's users' sequences in the global numbering."""
    rows, _, user = _ordered_block(table)
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if len(user) else user[:0]
    users = rows.column("user_id").take(pa.array(starts))

    def index(values: pa.Array | pa.ChunkedArray, space: pa.Array) -> np.ndarray:
        found = pc.index_in(values, value_set=space)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)

    purchases = pa.array(sorted(PURCHASE_TYPES))
    return BlockSequences(
        ranks=index(users, ordered.users),
        lengths=np.diff(np.r_[starts, len(user)]).astype(np.int64),
        items=index(rows.column("item_id"), ordered.items),
        baskets=index(basket_keys(rows), ordered.baskets),
        purchased=pc.is_in(rows.column("type"), value_set=purchases).to_numpy(zero_copy_only=False),
        timestamps=rows.column("timestamp").to_numpy() / 1000.0,
    )


def assemble(
    blocks: Sequence[BlockSequences], ordered: Ordered, extra_items: Sequence[str] = ()
) -> SequenceData:
    """The blocks' sequences as the :class:`SequenceData` the single-node builder makes."""
    n_users = len(ordered.users)
    columns: dict[str, list[np.ndarray]] = {}
    for name in ("items", "baskets", "purchased", "timestamps"):
        column: list[np.ndarray] = [np.zeros(0)] * n_users
        for block in blocks:
            if not len(block.ranks):
                continue
            pieces = np.split(getattr(block, name), np.cumsum(block.lengths)[:-1])
            for rank, piece in zip(block.ranks, pieces, strict=True):
                column[rank] = piece
        columns[name] = column
    items = ordered.items.to_pylist()
    index = {item: i for i, item in enumerate(items)}
    for item in extra_items:
        index.setdefault(item, len(index))
    return SequenceData(
        users=ordered.users.to_pylist(),
        items=list(index),
        sequences=columns["items"],
        baskets=columns["baskets"],
        purchased=[p.astype(bool) for p in columns["purchased"]],
        timestamps=columns["timestamps"],
        item_index=index,
    )
