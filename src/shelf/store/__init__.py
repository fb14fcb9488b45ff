"""The durable store, chosen by URL: SQLite (embedded default) or PostgreSQL."""

from shelf.store.base import EventColumns, Store, StoredEvent
from shelf.store.sql import SQLStore, open_store

__all__ = ["EventColumns", "SQLStore", "Store", "StoredEvent", "open_store"]
