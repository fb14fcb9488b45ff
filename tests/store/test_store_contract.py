"""The store contract: the same tests on every backend (SQLite and PostgreSQL).

Every test here takes the parametrised ``store`` fixture of ``tests/conftest.py``, which gives an
empty store on each backend.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from shelf.catalog import Item
from shelf.errors import StoreError
from shelf.store import SQLStore, StoredEvent, open_store

T0 = 1_700_000_000_000  # epoch ms


def item(item_id: str, **fields: object) -> Item:
    return Item.model_validate({"item_id": item_id, "title": f"Title {item_id}", **fields})


def event(key: str, user: str = "u1", item_id: str | None = "a", **fields: object) -> StoredEvent:
    values: dict[str, object] = {"type": "view", "timestamp_ms": T0, **fields}
    return StoredEvent(dedup_key=key, user_key=user, item_id=item_id, **values)  # type: ignore[arg-type]


CATALOG = [
    item("t1", category="Tools", brand="eSUN"),
    item("t2", category="Tools > Drills", brand="ESUN"),
    item("t3", category="Tools > Drills > Cordless", brand="Bosch"),
    item("t4", category="Tools > Saws", brand="bosch"),
    item("x1", category="Tools2 > Drills", brand="Bosch"),  # "Tools" must not match "Tools2"
    item("x2", category="Toys", brand="Émile"),
    item("x3", category="A_B > C"),  # LIKE wildcards in a name are literal
    item("x4", category="AxB > C"),
    item("x5", category="100% > Cotton"),
    item("x6", category="100 > Cotton"),
    item("x7"),  # no category, no brand
]


class TestStoreContract:
    # -- items ------------------------------------------------------------------------------
    def test_item_round_trips_every_field(self, store: SQLStore) -> None:
        full = item(
            "sku/1 é",
            title="Drill “Pro”",
            description="18 V, two batteries",
            category=["Tools", "Power Tools", "Drills"],
            brand="Bosch",
            price=129.99,
            currency="EUR",
            attributes={"color": "green", "watts": 18, "cordless": True, "tags": ["a", "b"]},
            image_url="https://example.com/d.jpg",
            available=False,
            created_at=datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
        )
        assert store.upsert_items([full]) == 1
        assert store.get_item("sku/1 é") == full
        assert store.get_item("sku/1") is None

    def test_upsert_replaces_by_id(self, store: SQLStore) -> None:
        store.upsert_items([item("a", price=5, brand="Old", category="X > Y"), item("b")])
        store.upsert_items([item("a", title="New title")])
        got = store.get_item("a")
        # The whole record is replaced: fields absent from the new one are back to defaults.
        assert got == item("a", title="New title")
        assert got is not None and (got.price, got.brand, got.category) == (None, None, [])
        assert store.get_item("b") == item("b")
        assert store.counts()["items"] == 2

    def test_duplicate_ids_in_one_batch_last_wins(self, store: SQLStore) -> None:
        store.upsert_items([item("a", title="first"), item("b"), item("a", title="last")])
        assert store.get_item("a") == item("a", title="last")
        assert store.counts()["items"] == 2

    def test_delete_items_removes_them_keeps_their_events_and_logs_each(
        self, store: SQLStore
    ) -> None:
        store.upsert_items([item("a"), item("b"), item("c")])
        store.add_events([event("k1", item_id="a")])
        assert store.last_item_deletion_id() == 0 and store.item_deletions_after(0) == []
        assert store.delete_items(["a", "ghost", "a", "b"]) == 2  # those that existed
        assert store.get_item("a") is None and list(store.get_items(["a", "b", "c"])) == ["c"]
        assert store.existing_item_ids(["a", "b", "c"]) == {"c"}
        assert [i.item_id for i in store.list_items().items] == ["c"]
        assert [i.item_id for i in store.iter_items()] == ["c"]
        assert (store.counts()["items"], store.counts()["events"]) == (1, 1)  # history stays
        log = store.item_deletions_after(0)
        assert [i for _id, i in log] == ["a", "b"]
        assert store.last_item_deletion_id() == log[-1][0]
        assert store.delete_items(["a"]) == 0 and store.delete_items([]) == 0
        assert store.item_deletions_after(log[-1][0]) == []
        # an id upserted again is a new item; a second deletion is logged after the first
        store.upsert_items([item("a", title="again")])
        assert store.get_item("a") == item("a", title="again")
        assert store.delete_items(["a"]) == 1
        assert [i for _id, i in store.item_deletions_after(log[-1][0])] == ["a"]

    def test_a_deletion_in_a_failed_transaction_is_not_made(self, store: SQLStore) -> None:
        store.upsert_items([item("a")])
        with pytest.raises(RuntimeError), store.transaction() as conn:
            assert store.delete_items(["a"], conn) == 1
            raise RuntimeError("boom")
        assert store.get_item("a") == item("a") and store.item_deletions_after(0) == []

    def test_get_items_returns_only_known_ids(self, store: SQLStore) -> None:
        store.upsert_items([item("a"), item("b"), item("c")])
        got = store.get_items(["c", "missing", "a", "a"])
        assert got == {"a": item("a"), "c": item("c")}
        assert store.get_items([]) == {}

    def test_existing_item_ids(self, store: SQLStore) -> None:
        store.upsert_items([item(str(i)) for i in range(1000)])
        # More ids than one IN chunk (900), known and unknown mixed.
        asked = [str(i) for i in range(0, 2000, 2)]
        assert store.existing_item_ids(asked) == {str(i) for i in range(0, 1000, 2)}
        assert store.existing_item_ids([]) == set()

    def test_iter_items_in_batches_yields_all_in_id_order(self, store: SQLStore) -> None:
        ids = ["e", "a", "d", "b", "c"]
        store.upsert_items([item(i) for i in ids])
        assert [i.item_id for i in store.iter_items(batch_size=2)] == sorted(ids)

    def test_items_are_in_code_point_order_on_every_backend(self, store: SQLStore) -> None:
        # A PostgreSQL database with a linguistic collation (en_US) would sort these otherwise.
        ids = ["b", "B", "_x", "a", "A1", "é", "10", "9", "a b", "a-b"]
        store.upsert_items([item(i) for i in ids])
        assert [i.item_id for i in store.list_items(limit=50).items] == sorted(ids)
        assert [i.item_id for i in store.iter_items(batch_size=3)] == sorted(ids)

    @pytest.mark.parametrize(
        ("category", "expected"),
        [
            ("Tools", ["t1", "t2", "t3", "t4"]),
            ("Tools > Drills", ["t2", "t3"]),
            ("Tools>Drills", ["t2", "t3"]),
            ("  Tools  >  Drills > Cordless ", ["t3"]),
            ("tools > drills", ["t2", "t3"]),  # case-insensitive, on every backend
            ("TOOLS", ["t1", "t2", "t3", "t4"]),
            ("Tool", []),  # a prefix of names, not of characters
            ("Tools2", ["x1"]),
            ("Drills", []),  # the path starts at the root
            ("A_B", ["x3"]),
            ("100%", ["x5"]),
            ("Nowhere", []),
        ],
    )
    def test_list_items_by_category_prefix(
        self, store: SQLStore, category: str, expected: list[str]
    ) -> None:
        store.upsert_items(CATALOG)
        page = store.list_items(category=category)
        assert [i.item_id for i in page.items] == expected
        assert page.total == len(expected)

    @pytest.mark.parametrize(
        ("brand", "expected"),
        [
            ("esun", ["t1", "t2"]),
            ("ESUN", ["t1", "t2"]),
            ("Bosch", ["t3", "t4", "x1"]),
            ("Émile", ["x2"]),  # typed as stored always matches, whatever the letters
            ("Bosc", []),
        ],
    )
    def test_list_items_by_brand(self, store: SQLStore, brand: str, expected: list[str]) -> None:
        store.upsert_items(CATALOG)
        page = store.list_items(brand=brand)
        assert [i.item_id for i in page.items] == expected
        assert page.total == len(expected)

    def test_list_items_category_and_brand_together(self, store: SQLStore) -> None:
        store.upsert_items(CATALOG)
        page = store.list_items(category="Tools", brand="bosch")
        assert ([i.item_id for i in page.items], page.total) == (["t3", "t4"], 2)

    def test_pagination_totals(self, store: SQLStore) -> None:
        store.upsert_items([item(f"i{n:02d}") for n in range(7)])
        pages = [store.list_items(offset=o, limit=3) for o in (0, 3, 6, 9)]
        assert [[i.item_id for i in p.items] for p in pages] == [
            ["i00", "i01", "i02"],
            ["i03", "i04", "i05"],
            ["i06"],
            [],
        ]
        assert [p.total for p in pages] == [7, 7, 7, 7]

    def test_filtered_pagination_totals(self, store: SQLStore) -> None:
        store.upsert_items(CATALOG)
        page = store.list_items(category="Tools", offset=1, limit=2)
        assert ([i.item_id for i in page.items], page.total) == (["t2", "t3"], 4)

    # -- events -----------------------------------------------------------------------------
    def test_add_events_is_idempotent_by_dedup_key(self, store: SQLStore) -> None:
        first = [event("k1"), event("k2", timestamp_ms=T0 + 1), event("k3", timestamp_ms=T0 + 2)]
        assert store.add_events(first) == 3
        assert store.add_events(first) == 0
        again = [event("k2"), event("k4"), event("k5"), event("k1")]
        assert store.add_events(again) == 2
        assert store.counts()["events"] == 5

    def test_same_dedup_key_twice_in_one_call_is_stored_once(self, store: SQLStore) -> None:
        assert store.add_events([event("k1"), event("k1", timestamp_ms=T0 + 5), event("k2")]) == 2
        assert store.counts()["events"] == 2
        assert [e.timestamp_ms for e in store.user_events("u1")] == [T0, T0]

    def test_add_no_events(self, store: SQLStore) -> None:
        assert store.add_events([]) == 0
        assert store.counts() == {"items": 0, "users": 0, "events": 0}

    def test_users_are_recorded_once(self, store: SQLStore) -> None:
        store.add_events([event("k1", user="u1"), event("k2", user="u2"), event("k3", user="u1")])
        store.add_events([event("k4", user="u2"), event("k5", user="u3")])
        assert store.counts()["users"] == 3

    def test_event_fields_round_trip(self, store: SQLStore) -> None:
        stored = [
            event("k1", type="rating", value=4.5, session_id="s1", event_id="e-1"),
            event("k2", item_id=None, type="search", query="cordless drill", timestamp_ms=T0 + 1),
        ]
        store.add_events(stored)
        assert store.user_events("u1") == stored

    def test_user_events_latest_in_time_order(self, store: SQLStore) -> None:
        store.add_events([event(f"k{t}", timestamp_ms=T0 + t) for t in (5, 1, 4, 2, 3)])
        store.add_events([event("other", user="u2", timestamp_ms=T0)])
        assert [e.timestamp_ms - T0 for e in store.user_events("u1")] == [1, 2, 3, 4, 5]
        assert [e.timestamp_ms - T0 for e in store.user_events("u1", limit=2)] == [4, 5]
        assert store.user_events("nobody") == []

    def test_event_columns_are_time_ordered(self, store: SQLStore) -> None:
        store.add_events(
            [
                event("k1", user="u2", item_id="c", timestamp_ms=T0 + 30, type="purchase"),
                event("k2", user="u1", item_id="a", timestamp_ms=T0 + 10, value=2.0),
                event(
                    "k3", "u1", None, timestamp_ms=T0 + 20, type="search", query="q", session_id="s"
                ),
                event("k4", user="u3", item_id="b", timestamp_ms=T0 + 10),  # tie: insertion order
            ]
        )
        cols = store.event_columns()
        assert len(cols) == 4
        assert cols.timestamp_ms.dtype == np.int64
        assert cols.timestamp_ms.tolist() == [T0 + 10, T0 + 10, T0 + 20, T0 + 30]
        assert cols.user_key.tolist() == ["u1", "u3", "u1", "u2"]
        assert cols.item_id.tolist() == ["a", "b", None, "c"]
        assert cols.type.tolist() == ["view", "view", "search", "purchase"]
        assert cols.session_id.tolist() == [None, None, "s", None]
        assert cols.value[0] == 2.0 and all(math.isnan(v) for v in cols.value[1:])

    def test_event_columns_of_an_empty_store(self, store: SQLStore) -> None:
        cols = store.event_columns()
        assert len(cols) == 0
        assert cols.timestamp_ms.dtype == np.int64

    def test_delete_user_removes_their_events_and_nothing_else(self, store: SQLStore) -> None:
        store.upsert_items([item("a"), item("b")])
        store.add_events(
            [event("k1", user="u1"), event("k2", user="u1", item_id="b"), event("k3", user="u2")]
        )
        assert store.delete_user("u1") == 2
        assert store.counts() == {"items": 2, "users": 1, "events": 1, "events_view": 1}
        assert store.user_events("u1") == []
        assert [e.dedup_key for e in store.user_events("u2")] == ["k3"]
        assert store.event_columns().user_key.tolist() == ["u2"]
        assert store.delete_user("u1") == 0
        assert store.delete_user("never-seen") == 0

    def test_counts_by_type(self, store: SQLStore) -> None:
        store.upsert_items([item("a"), item("b"), item("c")])
        store.add_events(
            [
                event("k1", type="view"),
                event("k2", type="view", user="u2"),
                event("k3", type="purchase"),
                event("k4", type="search", item_id=None, query="q"),
                event("k5", type="view", user="u3"),
            ]
        )
        assert store.counts() == {
            "items": 3,
            "users": 3,
            "events": 5,
            "events_view": 3,
            "events_purchase": 1,
            "events_search": 1,
        }

    # -- transactions -----------------------------------------------------------------------
    def test_calls_in_one_transaction_commit_together(self, store: SQLStore) -> None:
        with store.transaction() as conn:
            store.upsert_items([item("a")], conn)
            assert store.existing_item_ids(["a"], conn) == {"a"}
            store.add_events([event("k1")], conn)
        assert store.counts() == {"items": 1, "users": 1, "events": 1, "events_view": 1}

    def test_failed_transaction_leaves_the_store_unchanged(self, store: SQLStore) -> None:
        store.upsert_items([item("a", title="before")])
        store.add_events([event("k0")])
        before = store.counts()
        with pytest.raises(RuntimeError, match="boom"), store.transaction() as conn:
            store.upsert_items([item("a", title="after"), item("b")], conn)
            assert store.add_events([event("k1"), event("k2", user="u9")], conn) == 2
            raise RuntimeError("boom")
        assert store.counts() == before
        assert store.get_item("a") == item("a", title="before")
        assert store.get_item("b") is None
        assert store.user_events("u9") == []

    def test_database_error_in_a_transaction_is_a_store_error_and_rolls_back(
        self, store: SQLStore
    ) -> None:
        with pytest.raises(StoreError, match="store transaction failed"):  # noqa: SIM117
            with store.transaction() as conn:
                store.upsert_items([item("a")], conn)
                conn.exec_driver_sql("SELECT * FROM no_such_table")
        assert store.counts()["items"] == 0

    # -- opening ----------------------------------------------------------------------------
    def test_reopening_keeps_the_data(self, store: SQLStore) -> None:
        store.upsert_items([item("a")])
        store.add_events([event("k1")])
        store.close()
        reopened = open_store(store.url)
        try:
            assert reopened.get_item("a") == item("a")
            assert reopened.add_events([event("k1")]) == 0
            assert reopened.counts()["events"] == 1
        finally:
            reopened.close()

    def test_unknown_schema_version_is_refused(self, store: SQLStore) -> None:
        with store.transaction() as conn:
            conn.execute(sa.text("UPDATE shelf_meta SET value = '99' WHERE key = 'schema_version'"))
        store.close()
        with pytest.raises(StoreError, match="schema version 99 is not 1"):
            open_store(store.url)


# -- backend-specific ---------------------------------------------------------------------------
def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(StoreError, match="unsupported store backend 'mysql'"):
        open_store("mysql://user@localhost/shop")


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as caught:
        open_store("postgresql+psycopg://shelf:s3cret@127.0.0.1:1/none?connect_timeout=2")
    message = str(caught.value)
    assert message.startswith("cannot open the store at postgresql+psycopg://shelf:***@127.0.0.1:1")
    assert "s3cret" not in message


def test_sqlite_is_durable_wal(sqlite_store: SQLStore) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_tailing_events_and_items_for_other_workers(store: SQLStore) -> None:
    store.upsert_items([item("a"), item("b")])
    assert store.last_event_id() == 0 and store.events_after(0) == []
    store.add_events([event("k1", user="u1"), event("k2", user="u2", item_id="b")])
    rows = store.events_after(0)
    assert [(u, i, t) for _id, u, i, t in rows] == [("u1", "a", "view"), ("u2", "b", "view")]
    last = store.last_event_id()
    assert last == rows[-1][0] and store.events_after(last) == []
    # deleting the newest events must not let a later event reuse their id (it would be missed)
    store.delete_user("u2")
    assert not store.has_user("u2") and store.has_user("u1")
    store.add_events([event("k3", user="u3")])
    assert [u for _id, u, _i, _t in store.events_after(last)] == ["u3"]
    since = max(ms for ms, _ in store.items_changed_since(0))
    store.upsert_items([item("c")])
    assert "c" in {i.item_id for _ms, i in store.items_changed_since(since)}


def test_an_events_table_without_autoincrement_is_migrated(tmp_path: object) -> None:
    import sqlite3
    from pathlib import Path

    path = Path(str(tmp_path)) / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE events (id INTEGER NOT NULL, dedup_key VARCHAR(64) NOT NULL, "
            "event_id VARCHAR(256), user_key VARCHAR(64) NOT NULL, item_id VARCHAR(256), "
            "type VARCHAR(20) NOT NULL, value FLOAT, timestamp_ms BIGINT NOT NULL, "
            "session_id VARCHAR(256), query TEXT, PRIMARY KEY (id), UNIQUE (dedup_key));"
            "CREATE INDEX ix_events_user_key ON events (user_key);"
            "INSERT INTO events VALUES (1,'a',NULL,'u1','i1','view',NULL,5,NULL,NULL),"
            "(2,'b',NULL,'u2','i1','view',NULL,6,NULL,NULL);"
        )
    store = open_store(f"sqlite:///{path}")
    try:
        assert [r[0] for r in store.events_after(0)] == [1, 2]
        store.delete_user("u2")
        store.add_events([event("c", user="u3", item_id=None)])
        assert [r[0] for r in store.events_after(1)] == [3]  # id 2 is not reused
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        assert "AUTOINCREMENT" in sql


def test_the_change_token_moves_with_every_commit(store: SQLStore) -> None:
    token = store.change_token()
    if store.dialect != "sqlite":
        assert token is None  # the engine then looks at the store every time
        return
    assert token is not None and store.change_token() == token  # reads change nothing
    store.upsert_items([item("a")])
    after_items = store.change_token()
    assert after_items != token
    store.add_events([event("k1", user="u1")])
    after_events = store.change_token()
    assert after_events != after_items
    store.delete_user("u1")
    assert store.change_token() != after_events
