"""What only SQLite files need: connection pragmas, writers taking turns across processes
(:class:`WriterLock`), a read-only probe of the file's change counter, and an old schema's
migration."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from shelf.errors import StoreError
from shelf.store.schema import events_table

WRITER_WAIT_S = 10.0  # how long a writer waits for its turn (SQLite's busy_timeout, too)
WRITER_POLL_S = 0.0002  # between tries


def configure_connection(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    # 64 MiB of page cache, not 2: the random-keyed dedup and user indexes thrash a small one
    # once the table outgrows it (docs/design.md)
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute(f"PRAGMA busy_timeout={int(WRITER_WAIT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left behind
    cursor.close()


class WriterLock:
    """One writing transaction at a time on a SQLite file, across threads and processes.

    SQLite lets one writer in and makes the others poll: its busy handler sleeps 1, 2, 5, 10
    ... up to 100 ms between tries, so under concurrent writers (two serving workers taking
    events) a waiting request sleeps past the moment the lock frees, again and again. Writers
    queue here instead, on an advisory ``flock`` of a side file (``<db>-writer.lock``), tried
    every 0.2 ms (so taken within that of its release) and freed by the kernel if its holder
    dies. SQLite's own lock stays the authority; this only orders the writers that come
    through shelf. Not re-entrant: a transaction opened inside another would wait for SQLite's
    lock on the outer one anyway. The measurements are in docs/design.md.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._local = threading.Lock()  # flock is per open file: threads queue here first

    @contextmanager
    def held(self, wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
        """The lock; StoreError after ``wait_s`` of waiting for it."""
        deadline = time.monotonic() + wait_s
        if not self._local.acquire(timeout=wait_s):
            raise self._busy(wait_s)
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fd = self._fd
            self._take(fd, deadline, wait_s)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def _take(self, fd: int, deadline: float, wait_s: float) -> None:
        # Not a blocking flock: that would wait without limit behind a long import. Tries
        # every 0.2 ms hand over almost as fast, and give up as SQLite's busy timeout does.
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._busy(wait_s) from None
                time.sleep(WRITER_POLL_S)

    def _busy(self, wait_s: float) -> StoreError:
        return StoreError(f"the store is busy: another writer held it for {wait_s:g} s")

    def close(self) -> None:
        with self._local:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def migrate_events_autoincrement(conn: Connection) -> None:
    """Rebuild an events table made before ids were AUTOINCREMENT (one transaction)."""
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"
    ).scalar()
    if not sql or "AUTOINCREMENT" in str(sql).upper():
        return
    conn.exec_driver_sql("ALTER TABLE events RENAME TO events_before_autoincrement")
    for (name,) in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name = 'events_before_autoincrement'"
    ).all():
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    events_table.create(conn)
    columns = ", ".join(c.name for c in events_table.columns)
    conn.exec_driver_sql(
        f"INSERT INTO events ({columns}) SELECT {columns} FROM events_before_autoincrement"
    )
    conn.exec_driver_sql("DROP TABLE events_before_autoincrement")


class DataVersionProbe:
    """A connection that never writes: its ``PRAGMA data_version`` changes with every commit
    made through any other connection (this process's pool or another process), and it
    answers the one query a recommendation asks per new user in microseconds."""

    def __init__(self, database: str, *, uri: bool) -> None:
        self._conn = sqlite3.connect(
            database, check_same_thread=False, isolation_level=None, uri=uri
        )
        self._lock = threading.Lock()

    def change_token(self) -> int:
        with self._lock:
            try:
                return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store's data version: {exc}") from exc

    def has_user(self, user_key: str) -> bool:
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT 1 FROM users WHERE user_key = ?", (user_key,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store's users: {exc}") from exc
        return row is not None

    def checkpoint(self) -> None:
        """Fold the WAL into the database file and truncate it, so deleted rows linger in
        neither (with secure_delete, their pages are zeroed)."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot checkpoint the store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
