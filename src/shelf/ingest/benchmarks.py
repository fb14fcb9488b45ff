"""Loading a benchmark ``sequences.txt`` (+ ``items.jsonl``) into the store.

Each line's items (``user item item ...``) become purchase events with synthetic, strictly
increasing timestamps in file order, so the store's time order equals the file's. The files
are read by :mod:`shelf.formats`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shelf.catalog import Event, EventType, Item
from shelf.formats import read_sequences, read_text_items
from shelf.ingest.importer import store_events
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store.base import Store

SYNTHETIC_START = datetime(2020, 1, 1, tzinfo=UTC)
BATCH = 5000


def load_sequences_dataset(
    store: Store,
    pseudonymizer: Pseudonymizer,
    sequences: Path,
    items: Path | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Load a sequences file (and its item texts) into the store; return ``(items, events)``.

    Items without text get the title ``"Item <id>"``. Each line's items become purchase events of
    that user, one synthetic second apart, in file order.
    """
    users, seqs = read_sequences(sequences)
    catalog = {item.item_id: item for item in read_text_items(items)} if items else {}
    for seq in seqs:
        for item_id in seq:
            if item_id not in catalog:
                catalog[item_id] = Item(item_id=item_id, title=f"Item {item_id}")
    item_list = list(catalog.values())
    for start in range(0, len(item_list), BATCH):
        store.upsert_items(item_list[start : start + BATCH])
    total = sum(len(s) for s in seqs)
    start_s = SYNTHETIC_START.timestamp()
    batch: list[Event] = []
    done = 0
    clock = 0
    for user, seq in zip(users, seqs, strict=True):
        for item_id in seq:
            batch.append(
                Event.model_construct(
                    event_id=None,
                    user_id=user,
                    item_id=item_id,
                    type=EventType.PURCHASE,
                    value=None,
                    timestamp=datetime.fromtimestamp(start_s + clock, tz=UTC),
                    session_id=None,
                    query=None,
                )
            )
            clock += 1
            if len(batch) >= BATCH:
                store_events(store, pseudonymizer, batch, source=str(sequences))
                done += len(batch)
                batch = []
                if progress:
                    progress(done, total)
    if batch:
        store_events(store, pseudonymizer, batch, source=str(sequences))
        done += len(batch)
    if progress:
        progress(done, total)
    return len(item_list), done
