"""The reads that let every serving process see what the others wrote: the events after an
id, the items written since a time, the item deletions after an id, the change token and the
user presence probe (:mod:`shelf.engine.tail` makes them). A part of :class:`SQLStore`."""

from __future__ import annotations

from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shelf.catalog import Item
from shelf.store.schema import (
    events_table,
    item_deletions_table,
    items_table,
    row_item,
    users_table,
)
from shelf.store.sqlite import DataVersionProbe


class TailReads:
    """The tailing reads of the SQL store, over its engine and SQLite probe."""

    engine: Engine
    _probe: DataVersionProbe | None

    def _reading(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def last_event_id(self) -> int:
        with self._reading() as conn:
            return int(conn.execute(sa.select(sa.func.max(events_table.c.id))).scalar() or 0)

    def events_after(
        self, after_id: int, limit: int = 10_000
    ) -> list[tuple[int, str, str | None, str]]:
        """(id, user_key, item_id, type) of the events stored after ``after_id``, in id order.

        On SQLite ids follow commit order (one writer at a time), so a reader that remembers
        the last id it saw misses nothing. On PostgreSQL a transaction holding lower ids can
        commit after a higher one, so tailing by id is not exact there (``Engine`` tails only
        SQLite).
        """
        c = events_table.c
        query = (
            sa.select(c.id, c.user_key, c.item_id, c.type)
            .where(c.id > after_id)
            .order_by(c.id)
            .limit(limit)
        )
        with self._reading() as conn:
            return [(int(i), str(u), it, str(t)) for i, u, it, t in conn.execute(query)]

    def items_changed_since(self, since_ms: int, limit: int = 10_000) -> list[tuple[int, Item]]:
        """(write time in ms, item) of the items written at or after ``since_ms``, oldest
        first."""
        query = (
            items_table.select()
            .where(items_table.c.updated_at_ms >= since_ms)
            .order_by(items_table.c.updated_at_ms, items_table.c.item_id)
            .limit(limit)
        )
        with self._reading() as conn:
            return [(int(r.updated_at_ms), row_item(r)) for r in conn.execute(query)]

    def last_item_deletion_id(self) -> int:
        with self._reading() as conn:
            found = conn.execute(sa.select(sa.func.max(item_deletions_table.c.id))).scalar()
            return int(found or 0)

    def item_deletions_after(self, after_id: int, limit: int = 10_000) -> list[tuple[int, str]]:
        """(id, item_id) of the item deletions logged after ``after_id``, in id order (exact
        on SQLite, as :meth:`events_after` is)."""
        c = item_deletions_table.c
        query = sa.select(c.id, c.item_id).where(c.id > after_id).order_by(c.id).limit(limit)
        with self._reading() as conn:
            return [(int(i), str(item)) for i, item in conn.execute(query)]

    def change_token(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on a read-only probe connection: a serving process
        that sees the same value as last time knows nothing was written in between and skips
        its tailing queries. None on PostgreSQL and in-memory SQLite."""
        return None if self._probe is None else self._probe.change_token()

    def has_user(self, user_key: str) -> bool:
        # Asked once per recommendation request for a user not seen since the last commit:
        # the SQLite probe answers without a pooled connection and a compiled select.
        if self._probe is not None:
            return self._probe.has_user(user_key)
        query = sa.select(users_table.c.user_key).where(users_table.c.user_key == user_key)
        with self._reading() as conn:
            return conn.execute(query).first() is not None
