"""The running system in one object: settings, store, pseudonymiser and the live services.

The HTTP app, the web page and the CLI all go through an :class:`Engine`, so a write made over
HTTP and one made from a file take the same path (validate, pseudonymise, store, then tell the
live services).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shelf.catalog import Event, Item
from shelf.config import Settings
from shelf.errors import NotFoundError
from shelf.ingest.importer import store_events
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store import Store, open_store


class Engine:
    """Store + pseudonymiser + the search and recommendation services that serve requests."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store if store is not None else open_store(settings.store_url)
        self.pseudonymizer = Pseudonymizer.from_key_file(settings.key_path)
        # Filled in by the search and recommendation stages when they are built or loaded.
        self.search: Any = None
        self.recs: Any = None

    def user_key(self, user_id: str) -> str:
        return self.pseudonymizer.pseudonym(user_id)

    def get_item(self, item_id: str) -> Item:
        item = self.store.get_item(item_id)
        if item is None:
            raise NotFoundError("item", item_id)
        return item

    def add_items(self, items: Sequence[Item]) -> int:
        """Upsert items, then make them findable by the live services."""
        stored = self.store.upsert_items(items)
        if self.search is not None and hasattr(self.search, "add_items"):
            self.search.add_items(items)
        if self.recs is not None and hasattr(self.recs, "add_items"):
            self.recs.add_items(items)
        return stored

    def add_events(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store events durably (all or none); return ``(stored, duplicates)``."""
        stored, duplicates = store_events(self.store, self.pseudonymizer, events)
        if self.recs is not None and hasattr(self.recs, "observe"):
            self.recs.observe([(self.user_key(e.user_id), e) for e in events])
        return stored, duplicates

    def delete_user(self, user_id: str) -> int:
        """Forget a user everywhere: stored events and live state. Returns events deleted."""
        key = self.user_key(user_id)
        deleted = self.store.delete_user(key)
        if self.recs is not None and hasattr(self.recs, "forget_user"):
            self.recs.forget_user(key)
        return deleted

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "store": self.store.counts(),
            "backend": self.store.url.split(":")[0],
        }
        if self.search is not None and hasattr(self.search, "stats"):
            out["search"] = self.search.stats()
        if self.recs is not None and hasattr(self.recs, "stats"):
            out["recommendations"] = self.recs.stats()
        return out

    def close(self) -> None:
        self.store.close()
