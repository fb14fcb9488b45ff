"""Loading a synthetic shop (:mod:`shelf.synthetic`) into the store: its catalog, and its
shoppers' events through the same validation and pseudonymisation as any import."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from shelf.catalog import parse_event, parse_item
from shelf.ingest.importer import store_events
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store.base import Store
from shelf.synthetic import generate_behaviour, generate_catalog

BATCH = 5000
START = datetime(2024, 1, 1, tzinfo=UTC)


def load_synthetic_shop(
    store: Store,
    pseudonymizer: Pseudonymizer,
    *,
    n_items: int,
    n_users: int,
    lang: str = "en",
    seed: int = 0,
    days: int = 60,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Generate and store a shop of ``n_items`` items and ``n_users`` shoppers' sessions over
    ``days`` days; returns (items, events stored)."""
    catalog = generate_catalog(n_items, lang=lang, seed=seed)  # type: ignore[arg-type]
    items = [parse_item(record) for record in catalog]
    for start in range(0, len(items), BATCH):
        store.upsert_items(items[start : start + BATCH])
    stored = 0
    batch = []
    for record in generate_behaviour(catalog, n_users, seed=seed, start=START, days=days):
        batch.append(parse_event(record))
        if len(batch) >= BATCH:
            stored += store_events(store, pseudonymizer, batch, source="synthetic")[0]
            batch = []
            if progress is not None:
                progress(stored)
    if batch:
        stored += store_events(store, pseudonymizer, batch, source="synthetic")[0]
    if progress is not None:
        progress(stored)
    return len(items), stored
