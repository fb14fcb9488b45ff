"""The store's records of access and erasure: API keys (hashed) and erased users (the
tombstones that keep a pseudonym from coming back, with each erasure's progress)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shelf.errors import ValidationError
from shelf.store.schema import api_keys_table, erasures_table


@dataclass(frozen=True)
class StoredKey:
    """An API key as the store keeps it: never the key itself, only its SHA-256."""

    name: str
    scope: str
    prefix: str
    digest: str
    created_ms: int
    expires_ms: int | None = None
    revoked_ms: int | None = None


@dataclass(frozen=True)
class Erasure:
    """One erased user: when it was asked, by when trained models must be rebuilt without
    them, when it was complete, and what was erased where."""

    user_key: str
    requested_ms: int
    retrain_by_ms: int
    completed_ms: int | None
    detail: dict[str, Any]


class AccessTables:
    """Reads and writes of the api_keys and erasures tables (``transaction`` is the store's
    write transaction, so writers take turns as everywhere else)."""

    def __init__(self, engine: Engine, transaction: Any) -> None:
        self._engine = engine
        self._transaction = transaction

    # -- API keys ---------------------------------------------------------------------------
    def add_key(self, key: StoredKey) -> None:
        with self._transaction() as conn:
            taken = sa.select(api_keys_table.c.name).where(api_keys_table.c.name == key.name)
            if conn.execute(taken).first() is not None:
                raise ValidationError(f"a key named {key.name!r} exists", field="name")
            conn.execute(api_keys_table.insert().values(**key.__dict__))

    def api_keys(self) -> list[StoredKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(api_keys_table.select().order_by(api_keys_table.c.created_ms))
            return [StoredKey(**row._mapping) for row in rows]

    def revoke_key(self, name: str, at_ms: int) -> bool:
        """Revoke the key named ``name``; False when there is no such live key."""
        c = api_keys_table.c
        with self._transaction() as conn:
            done = conn.execute(
                api_keys_table.update()
                .where(c.name == name, c.revoked_ms.is_(None))
                .values(revoked_ms=at_ms)
            )
        return bool(done.rowcount)

    # -- erasures ---------------------------------------------------------------------------
    def add_erasure(self, user_key: str, requested_ms: int, retrain_by_ms: int) -> bool:
        """Record an erasure (and the tombstone); False if the user was erased before."""
        with self._transaction() as conn:
            known = sa.select(erasures_table.c.user_key).where(
                erasures_table.c.user_key == user_key
            )
            if conn.execute(known).first() is not None:
                return False
            conn.execute(
                erasures_table.insert().values(
                    user_key=user_key,
                    requested_ms=requested_ms,
                    retrain_by_ms=retrain_by_ms,
                    detail="{}",
                )
            )
        return True

    def erasures(self, *, pending_only: bool = False) -> list[Erasure]:
        query = erasures_table.select().order_by(erasures_table.c.requested_ms)
        if pending_only:
            query = query.where(erasures_table.c.completed_ms.is_(None))
        with self._engine.connect() as conn:
            return [
                Erasure(
                    user_key=r.user_key,
                    requested_ms=r.requested_ms,
                    retrain_by_ms=r.retrain_by_ms,
                    completed_ms=r.completed_ms,
                    detail=json.loads(r.detail),
                )
                for r in conn.execute(query)
            ]

    def update_erasure(
        self, user_key: str, detail: dict[str, Any], completed_ms: int | None = None
    ) -> None:
        values: dict[str, Any] = {"detail": json.dumps(detail, sort_keys=True)}
        if completed_ms is not None:
            values["completed_ms"] = completed_ms
        with self._transaction() as conn:
            conn.execute(
                erasures_table.update()
                .where(erasures_table.c.user_key == user_key)
                .values(**values)
            )

    def erased_since(self, since_ms: int) -> list[tuple[int, str]]:
        """(requested ms, pseudonym) of the erasures asked at or after ``since_ms``, oldest
        first (other serving processes tail these; erasing twice is harmless)."""
        c = erasures_table.c
        query = (
            sa.select(c.requested_ms, c.user_key)
            .where(c.requested_ms >= since_ms)
            .order_by(c.requested_ms, c.user_key)
        )
        with self._engine.connect() as conn:
            return [(int(ms), str(key)) for ms, key in conn.execute(query)]

    def erased(self, user_keys: list[str]) -> set[str]:
        """Which of ``user_keys`` are tombstoned."""
        found: set[str] = set()
        ids = list(set(user_keys))
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 900):
                query = sa.select(erasures_table.c.user_key).where(
                    erasures_table.c.user_key.in_(ids[start : start + 900])
                )
                found.update(r[0] for r in conn.execute(query))
        return found
