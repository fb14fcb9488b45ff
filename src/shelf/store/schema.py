"""The store's tables (SQLAlchemy Core, one schema for SQLite and PostgreSQL) and the
conversions between rows and the domain types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shelf.catalog import Item
from shelf.catalog.limits import MAX_EVENT_ID_LENGTH, MAX_ID_LENGTH, MAX_SESSION_ID_LENGTH
from shelf.errors import StoreError
from shelf.store.base import StoredEvent

SCHEMA_VERSION = 1

metadata = sa.MetaData()
_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is the rowid
# Item ids sort by code point on every backend, as SQLite's BINARY does; a PostgreSQL database
# with a linguistic collation (en_US) would otherwise page through items in another order.
_ITEM_ID = sa.String(MAX_ID_LENGTH).with_variant(
    sa.String(MAX_ID_LENGTH, collation="C"), "postgresql"
)

items_table = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", _ITEM_ID, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("category", sa.Text, nullable=False, default="[]"),  # JSON list
    sa.Column("category_path", sa.Text, nullable=False, default=""),  # "A > B", for prefix filters
    sa.Column("brand", sa.Text),
    sa.Column("price", sa.Float),
    sa.Column("currency", sa.String(3), nullable=False, default="USD"),
    sa.Column("attributes", sa.Text, nullable=False, default="{}"),  # JSON object
    sa.Column("image_url", sa.Text),
    sa.Column("available", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at_ms", sa.BigInteger),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)
sa.Index("ix_items_brand", items_table.c.brand)
sa.Index("ix_items_category_path", items_table.c.category_path)
items_updated_index = sa.Index("ix_items_updated_at", items_table.c.updated_at_ms)

# Every deletion of an item, in commit order (ids never reused): serving processes tail it by
# id (shelf.engine.tail) and stop finding the item; upserting the id again brings it back.
item_deletions_table = sa.Table(
    "item_deletions",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("item_id", _ITEM_ID, nullable=False),
    sa.Column("deleted_at_ms", sa.BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

users_table = sa.Table(
    "users",
    metadata,
    sa.Column("user_key", sa.String(64), primary_key=True),
    sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    # as wide as validation allows (shelf.catalog.limits): a longer value is refused at the
    # door, not by PostgreSQL for the whole batch
    sa.Column("event_id", sa.String(MAX_EVENT_ID_LENGTH)),
    sa.Column("user_key", sa.String(64), nullable=False, index=True),
    sa.Column("item_id", sa.String(MAX_ID_LENGTH)),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("session_id", sa.String(MAX_SESSION_ID_LENGTH)),
    sa.Column("query", sa.Text),
    # Ids are never reused, even after the newest events are deleted: serving workers tail
    # the table by id (Engine.sync_live), so a reused id would be an event nobody sees.
    sqlite_autoincrement=True,
)

meta_table = sa.Table(
    "shelf_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

api_keys_table = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("prefix", sa.String(64), nullable=False, unique=True),  # shown; not secret
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of the whole key, hex
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger),
    sa.Column("revoked_ms", sa.BigInteger),
)

# One row per erased user, kept for good: the tombstone that keeps the pseudonym from coming
# back, and the erasure's progress through the models.
erasures_table = sa.Table(
    "erasures",
    metadata,
    sa.Column("user_key", sa.String(64), primary_key=True),
    sa.Column("requested_ms", sa.BigInteger, nullable=False),
    sa.Column("retrain_by_ms", sa.BigInteger, nullable=False),
    sa.Column("completed_ms", sa.BigInteger),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),  # JSON: what was erased where
)

EVENT_FIELDS = (
    "dedup_key",
    "event_id",
    "user_key",
    "item_id",
    "type",
    "value",
    "timestamp_ms",
    "session_id",
    "query",
)


def now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def item_row(item: Item, now_ms: int) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "title": item.title,
        "description": item.description,
        "category": json.dumps(item.category, ensure_ascii=False),
        "category_path": item.category_path,
        "brand": item.brand,
        "price": item.price,
        "currency": item.currency,
        "attributes": json.dumps(item.attributes, ensure_ascii=False, sort_keys=True),
        "image_url": item.image_url,
        "available": item.available,
        "created_at_ms": to_ms(item.created_at),
        "updated_at_ms": now_ms,
    }


def row_item(row: Any) -> Item:
    created = row.created_at_ms
    return Item.model_construct(
        item_id=row.item_id,
        title=row.title,
        description=row.description,
        category=json.loads(row.category),
        brand=row.brand,
        price=row.price,
        currency=row.currency,
        attributes=json.loads(row.attributes),
        image_url=row.image_url,
        available=bool(row.available),
        created_at=None if created is None else datetime.fromtimestamp(created / 1000, tz=UTC),
    )


def row_event(row: Any) -> StoredEvent:
    return StoredEvent(
        dedup_key=row.dedup_key,
        event_id=row.event_id,
        user_key=row.user_key,
        item_id=row.item_id,
        type=row.type,
        value=row.value,
        timestamp_ms=row.timestamp_ms,
        session_id=row.session_id,
        query=row.query,
    )


def check_schema(conn: Connection) -> None:
    """Record the schema version in a new store; refuse a store of another version."""
    found = conn.execute(
        sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
    ).scalar_one_or_none()
    if found is None:
        conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif int(found) != SCHEMA_VERSION:
        raise StoreError(f"store schema version {found} is not {SCHEMA_VERSION}")
