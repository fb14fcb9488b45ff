"""PostgreSQL's bulk path for events: COPY into session-local staging tables, then one
INSERT ... SELECT that skips what is already stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from shelf.store.schema import EVENT_FIELDS


def copy_events(conn: Connection, users: list[tuple[str, int]], rows: list[tuple[Any, ...]]) -> int:
    """Store the batch's new users and events; returns how many events were new.

    COPY streams the rows, and the insert runs as one statement (row-by-row INSERT ... ON
    CONFLICT costs a statement execution per row)."""
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS shelf_events_in (dedup_key text, event_id text, "
            "user_key text, item_id text, type text, value double precision, "
            "timestamp_ms bigint, session_id text, query text) ON COMMIT DELETE ROWS"
        )
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS shelf_users_in "
            "(user_key text, first_seen_ms bigint) ON COMMIT DELETE ROWS"
        )
        cur.execute("TRUNCATE shelf_events_in, shelf_users_in")
        with cur.copy("COPY shelf_users_in (user_key, first_seen_ms) FROM STDIN") as copy:
            for user in users:
                copy.write_row(user)
        columns = ", ".join(EVENT_FIELDS)
        with cur.copy(f"COPY shelf_events_in ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        erased = "NOT EXISTS (SELECT 1 FROM erasures e WHERE e.user_key = s.user_key)"
        cur.execute(
            f"INSERT INTO users SELECT * FROM shelf_users_in s WHERE {erased} "
            "ON CONFLICT DO NOTHING"
        )
        cur.execute(
            f"INSERT INTO events ({columns}) SELECT {columns} FROM shelf_events_in s "
            f"WHERE {erased} ON CONFLICT DO NOTHING"
        )
        return int(cur.rowcount)
