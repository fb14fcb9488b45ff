"""The SQL store: one implementation for SQLite and PostgreSQL through SQLAlchemy 2 Core.

Durability: SQLite runs in WAL mode with ``synchronous=FULL``, so a transaction that returned
from commit survives a process crash and a power loss. PostgreSQL keeps its own guarantees
(``fsync`` and ``synchronous_commit`` on, as by default). The tables are in
:mod:`shelf.store.schema`, what only SQLite needs in :mod:`shelf.store.sqlite`, PostgreSQL's
bulk path in :mod:`shelf.store.postgres`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from shelf.catalog import Item, split_category_path
from shelf.errors import StoreError
from shelf.store.access import AccessTables
from shelf.store.base import EventColumns, ItemPage, StoredEvent
from shelf.store.postgres import copy_events
from shelf.store.schema import (
    EVENT_FIELDS,
    check_schema,
    events_table,
    item_deletions_table,
    item_row,
    items_table,
    items_updated_index,
    metadata,
    now_ms,
    row_event,
    row_item,
    users_table,
)
from shelf.store.sqlite import (
    DataVersionProbe,
    WriterLock,
    configure_connection,
    migrate_events_autoincrement,
)
from shelf.store.tailing import TailReads


class SQLStore(TailReads):
    """The store on any SQLAlchemy URL of a supported backend (sqlite, postgresql)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = create_engine(url)
            metadata.create_all(self.engine)
            # added after the first release (create_all skips existing tables)
            items_updated_index.create(self.engine, checkfirst=True)
            if self.engine.dialect.name == "sqlite":
                with self.engine.begin() as conn:
                    migrate_events_autoincrement(conn)
            with self.engine.begin() as conn:
                check_schema(conn)
        except SQLAlchemyError as exc:
            safe = sa.make_url(url).render_as_string(hide_password=True)
            raise store_failure(f"cannot open the store at {safe}", exc) from exc
        self.dialect = self.engine.dialect.name
        # what the driver raises itself (PostgreSQL's COPY path calls it directly)
        self._driver_errors: tuple[type[BaseException], ...] = (SQLAlchemyError,)
        dbapi = getattr(self.engine.dialect, "dbapi", None)
        if isinstance(getattr(dbapi, "Error", None), type):
            self._driver_errors += (dbapi.Error,)  # type: ignore[union-attr]
        self._probe: DataVersionProbe | None = None
        self._writer: WriterLock | None = None
        parsed = sa.make_url(url)
        database = parsed.database or ""
        uri = str(parsed.query.get("uri", "")).lower() in {"true", "1"}
        in_memory = database in {"", ":memory:"} or "mode=memory" in database
        if self.dialect == "sqlite" and not in_memory:
            self._probe = DataVersionProbe(database, uri=uri)
            if not uri:
                self._writer = WriterLock(Path(f"{database}-writer.lock"))
        self._insert_users_sql, self._insert_events_sql = insert_sql(self.dialect)
        self.access = AccessTables(self.engine, self.transaction)

    @property
    def tails_by_id(self) -> bool:
        """Whether event ids follow commit order, so that a reader that remembers the last id
        it saw misses nothing (SQLite: one writer at a time). PostgreSQL can commit a lower
        id after a higher one."""
        return self.dialect == "sqlite"

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (on SQLite files, writers take
        turns through :class:`WriterLock`). A database error becomes a StoreError whose
        message leaves out the statement and its parameters (they stay in its cause)."""
        writer = self._writer
        try:
            if writer is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with writer.held(), self.engine.begin() as conn:
                    yield conn
        except self._driver_errors as exc:
            raise store_failure("store transaction failed", exc) from exc

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads; a database error becomes a StoreError as in
        :meth:`transaction`."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except self._driver_errors as exc:
            raise store_failure("store read failed", exc) from exc

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # -- items ----------------------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item], conn: Connection | None = None) -> int:
        if not items:
            return 0
        now = now_ms()
        rows = [item_row(item, now) for item in items]
        stmt = self._insert(items_table)
        updates = {c.name: stmt.excluded[c.name] for c in items_table.c if c.name != "item_id"}
        stmt = stmt.on_conflict_do_update(index_elements=["item_id"], set_=updates)
        with self._conn(conn) as c:
            c.execute(stmt, rows)
        return len(rows)

    def delete_items(self, item_ids: Sequence[str], conn: Connection | None = None) -> int:
        """Delete the items that exist (their events stay) and log each deletion, for the
        other serving processes; returns how many there were."""
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return 0
        now = now_ms()
        with self._conn(conn) as c:
            found = sorted(self.existing_item_ids(ids, c))
            for start in range(0, len(found), 900):
                chunk = found[start : start + 900]
                c.execute(items_table.delete().where(items_table.c.item_id.in_(chunk)))
            if found:
                c.execute(
                    item_deletions_table.insert(),
                    [{"item_id": i, "deleted_at_ms": now} for i in found],
                )
        return len(found)

    def get_item(self, item_id: str) -> Item | None:
        return self.get_items([item_id]).get(item_id)

    def get_items(self, item_ids: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        ids = list(dict.fromkeys(item_ids))
        with self._reading() as conn:
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                rows = conn.execute(items_table.select().where(items_table.c.item_id.in_(chunk)))
                for row in rows:
                    out[row.item_id] = row_item(row)
        return out

    def list_items(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        category: str | None = None,
        brand: str | None = None,
    ) -> ItemPage:
        where = item_filters(category, brand)
        with self._reading() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(items_table).where(*where)
            ).scalar_one()
            rows = conn.execute(
                items_table.select()
                .where(*where)
                .order_by(items_table.c.item_id)
                .offset(offset)
                .limit(limit)
            )
            return ItemPage(items=[row_item(r) for r in rows], total=int(total))

    def iter_items(self, batch_size: int = 1000) -> Iterator[Item]:
        last: str | None = None
        while True:
            query = items_table.select().order_by(items_table.c.item_id).limit(batch_size)
            if last is not None:
                query = query.where(items_table.c.item_id > last)
            with self._reading() as conn:
                batch = [row_item(r) for r in conn.execute(query)]
            if not batch:
                return
            yield from batch
            last = batch[-1].item_id

    def existing_item_ids(
        self, item_ids: Iterable[str], conn: Connection | None = None
    ) -> set[str]:
        ids = list(set(item_ids))
        found: set[str] = set()
        with self._conn(conn) as c:
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                rows = c.execute(
                    sa.select(items_table.c.item_id).where(items_table.c.item_id.in_(chunk))
                )
                found.update(r[0] for r in rows)
        return found

    # -- events ---------------------------------------------------------------------------
    def add_events(self, events: Sequence[StoredEvent], conn: Connection | None = None) -> int:
        if not events:
            return 0
        rows = [
            (
                e.dedup_key,
                e.event_id,
                e.user_key,
                e.item_id,
                e.type,
                e.value,
                e.timestamp_ms,
                e.session_id,
                e.query,
            )
            for e in events
        ]
        first_seen: dict[str, int] = {}
        for e in events:
            seen = first_seen.get(e.user_key)
            if seen is None or e.timestamp_ms < seen:
                first_seen[e.user_key] = e.timestamp_ms
        users = list(first_seen.items())
        with self._conn(conn) as c:
            if self.dialect == "postgresql":
                return copy_events(c, users, rows)
            # Bulk path straight to the driver: SQLAlchemy's per-row parameter processing
            # costs more than the insert itself at ingest rates.
            c.exec_driver_sql(self._insert_users_sql, users)
            result = c.exec_driver_sql(self._insert_events_sql, rows)
            return int(result.rowcount)

    def event_columns(self) -> EventColumns:
        cols = events_table.c
        query = sa.select(
            cols.user_key, cols.item_id, cols.type, cols.timestamp_ms, cols.value, cols.session_id
        ).order_by(cols.timestamp_ms, cols.id)
        user, item, kind, ts, value, session = [], [], [], [], [], []
        with self._reading() as conn:
            for row in conn.execution_options(yield_per=10_000).execute(query):
                user.append(row[0])
                item.append(row[1])
                kind.append(row[2])
                ts.append(row[3])
                value.append(np.nan if row[4] is None else row[4])
                session.append(row[5])
        return EventColumns(
            user_key=np.array(user, dtype=object),
            item_id=np.array(item, dtype=object),
            type=np.array(kind, dtype=object),
            timestamp_ms=np.array(ts, dtype=np.int64),
            value=np.array(value, dtype=np.float64),
            session_id=np.array(session, dtype=object),
        )

    def item_event_counts(self) -> dict[str, int]:
        """Events per item (all types): the popularity signal of search."""
        query = (
            sa.select(events_table.c.item_id, sa.func.count())
            .where(events_table.c.item_id.is_not(None))
            .group_by(events_table.c.item_id)
        )
        with self._reading() as conn:
            return {str(item): int(n) for item, n in conn.execute(query)}

    def user_events(self, user_key: str, limit: int = 200) -> list[StoredEvent]:
        query = (
            events_table.select()
            .where(events_table.c.user_key == user_key)
            .order_by(events_table.c.timestamp_ms.desc(), events_table.c.id.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            rows = [row_event(r) for r in conn.execute(query)]
        rows.reverse()
        return rows

    def delete_user(self, user_key: str) -> int:
        with self.transaction() as conn:
            deleted = conn.execute(
                events_table.delete().where(events_table.c.user_key == user_key)
            ).rowcount
            conn.execute(users_table.delete().where(users_table.c.user_key == user_key))
        return int(deleted)

    def checkpoint(self) -> None:
        """SQLite: fold the WAL into the database file and truncate it (after an erasure)."""
        if self._probe is not None:
            self._probe.checkpoint()

    def counts(self) -> dict[str, int]:
        """Rows of each table, and events by type."""
        with self._reading() as conn:
            return count_rows(conn)

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()


def store_failure(what: str, exc: BaseException) -> StoreError:
    """A StoreError saying ``what`` failed and the driver's first line of why, without the
    statement and parameters SQLAlchemy appends (a client must not see them; a server logs
    them from the cause, which the caller chains)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines and not lines[0].startswith("[SQL") else ""
    reason = reason.split(" [SQL:")[0]
    return StoreError(f"{what}: {type(cause).__name__}" + (f": {reason}" if reason else ""))


def create_engine(url: str) -> Engine:
    """The SQLAlchemy engine of a sqlite or postgresql URL (SQLite's folder made, its
    connections configured)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", configure_connection)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    raise StoreError(f"unsupported store backend {parsed.get_backend_name()!r}")


def insert_sql(dialect: str) -> tuple[str, str]:
    """The driver-level INSERTs of users and events that skip rows already stored and rows of
    erased users (the tombstones), for SQLite's numbered parameters (the bulk path:
    SQLAlchemy's per-row parameter processing costs more than the insert itself)."""
    if dialect != "sqlite":
        return "", ""  # PostgreSQL takes the COPY path (store/postgres.py)
    erased = "WHERE NOT EXISTS (SELECT 1 FROM erasures WHERE erasures.user_key = ?{})"
    users = (
        f"INSERT INTO users (user_key, first_seen_ms) SELECT ?1, ?2 {erased.format(1)} "
        "ON CONFLICT DO NOTHING"
    )
    marks = ", ".join(f"?{k + 1}" for k in range(len(EVENT_FIELDS)))
    at = EVENT_FIELDS.index("user_key") + 1
    events = (
        f"INSERT INTO events ({', '.join(EVENT_FIELDS)}) SELECT {marks} {erased.format(at)} "
        "ON CONFLICT DO NOTHING"
    )
    return users, events


def item_filters(category: str | None, brand: str | None) -> list[Any]:
    """WHERE clauses of a category path prefix and a brand. Both ignore case through the
    database's own lower(), so the backends agree (SQLite's LIKE ignores ASCII case,
    PostgreSQL's does not) and a value typed exactly as stored always matches."""
    where = []
    if category:
        prefix = " > ".join(split_category_path(category))
        path = sa.func.lower(items_table.c.category_path)
        escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
        where.append(
            sa.or_(
                path == sa.func.lower(sa.literal(prefix)),
                path.like(sa.func.lower(sa.literal(escaped + " > %")), escape="/"),
            )
        )
    if brand:
        where.append(sa.func.lower(items_table.c.brand) == sa.func.lower(sa.literal(brand)))
    return where


def count_rows(conn: Connection) -> dict[str, int]:
    """Items, users and events, and events by type (``events_view``, ...)."""

    def count(table: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    out = {"items": count(items_table), "users": count(users_table), "events": count(events_table)}
    by_type = conn.execute(
        sa.select(events_table.c.type, sa.func.count()).group_by(events_table.c.type)
    )
    for kind, n in by_type:
        out[f"events_{kind}"] = int(n)
    return out


def open_store(url: str) -> SQLStore:
    """The store at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    return SQLStore(url)
