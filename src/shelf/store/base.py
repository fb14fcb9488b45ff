"""The store interface every backend implements, and the records it keeps.

Items are upserted by id. Events are append-only and idempotent: each carries a dedup key
(its ``event_id`` if it has one, otherwise a hash of user, item, type and time), and an event
whose key is already stored is ignored. Users are known only by their pseudonymous key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from shelf.catalog import Item

if TYPE_CHECKING:
    from shelf.store.access import AccessTables


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the store keeps it: pseudonymous user, times in epoch milliseconds."""

    dedup_key: str
    user_key: str
    item_id: str | None
    type: str
    timestamp_ms: int
    value: float | None = None
    session_id: str | None = None
    query: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class EventColumns:
    """All events as columns, in time order: what training reads."""

    user_key: np.ndarray  # object (str)
    item_id: np.ndarray  # object (str or None)
    type: np.ndarray  # object (str)
    timestamp_ms: np.ndarray  # int64
    value: np.ndarray  # float64, NaN where absent
    session_id: np.ndarray  # object (str or None)

    def __len__(self) -> int:
        return int(self.timestamp_ms.shape[0])


@dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    total: int


class Store(Protocol):
    """What every backend provides. ``conn`` lets a caller group calls in one transaction."""

    url: str
    access: AccessTables  # API keys and erasures

    @property
    def tails_by_id(self) -> bool:
        """Whether event ids follow commit order, so readers may tail the events by id."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """A transaction: everything done with its connection commits together or not at all."""
        ...

    def upsert_items(self, items: Sequence[Item], conn: Any = None) -> int: ...

    def delete_items(self, item_ids: Sequence[str], conn: Any = None) -> int:
        """Delete the items (their events stay: they are the shoppers' history) and log each
        deletion for :meth:`item_deletions_after`; return how many existed."""
        ...

    def get_item(self, item_id: str) -> Item | None: ...

    def get_items(self, item_ids: Sequence[str]) -> dict[str, Item]: ...

    def list_items(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        category: str | None = None,
        brand: str | None = None,
    ) -> ItemPage: ...

    def iter_items(self, batch_size: int = 1000) -> Iterator[Item]: ...

    def existing_item_ids(self, item_ids: Iterable[str], conn: Any = None) -> set[str]: ...

    def add_events(self, events: Sequence[StoredEvent], conn: Any = None) -> int:
        """Store the events whose dedup key is new; return how many were new."""
        ...

    def event_columns(self) -> EventColumns: ...

    def item_event_counts(self) -> dict[str, int]: ...

    def user_events(self, user_key: str, limit: int = 200) -> list[StoredEvent]: ...

    def last_event_id(self) -> int: ...

    def events_after(
        self, after_id: int, limit: int = 10_000
    ) -> list[tuple[int, str, str | None, str]]:
        """(id, user_key, item_id, type) of events stored after ``after_id``, in id order."""
        ...

    def items_changed_since(self, since_ms: int, limit: int = 10_000) -> list[tuple[int, Item]]: ...

    def last_item_deletion_id(self) -> int: ...

    def item_deletions_after(self, after_id: int, limit: int = 10_000) -> list[tuple[int, str]]:
        """(id, item_id) of the item deletions logged after ``after_id``, in id order."""
        ...

    def has_user(self, user_key: str) -> bool: ...

    def change_token(self) -> int | None:
        """A value that changes whenever anything is committed to the store (by any process
        or connection), or None when the backend cannot tell cheaply (then look every time)."""
        ...

    def delete_user(self, user_key: str) -> int:
        """Delete the user and every event of theirs; return the number of events deleted."""
        ...

    def checkpoint(self) -> None:
        """Make deletions final on disk (SQLite: fold the WAL into the file and truncate it)."""
        ...

    def counts(self) -> dict[str, int]: ...

    def close(self) -> None: ...
