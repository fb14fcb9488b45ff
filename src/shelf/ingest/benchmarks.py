"""Loaders for the benchmark formats: ``sequences.txt`` (+ ``items.jsonl``) and ``products.jsonl``.

``sequences.txt`` lines (``user item item ...``) become purchase events with synthetic,
strictly increasing timestamps in file order, so the store's time order equals the file's.
``items.jsonl`` in the UniSRec format holds one text per item, ``"title. category path. brand."``;
:func:`split_item_text` recovers the three parts, and :func:`segment_categories` splits the
category text, whose names are joined by spaces, at the points where the catalog's own category
tree branches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shelf.catalog import AttributeValue, Event, EventType, Item, parse_item
from shelf.errors import ValidationError
from shelf.ingest.importer import store_events
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.ingest.readers import read_records
from shelf.recommend.data import read_sequences
from shelf.store.base import Store

SYNTHETIC_START = datetime(2020, 1, 1, tzinfo=UTC)
BATCH = 5000


def split_item_text(text: str) -> tuple[str, str, str | None]:
    """``(title, category text, brand)`` from ``"title. category path. brand."``.

    The title may itself contain ". ", so the last two sentences are taken as category and brand.
    """
    parts = [p.strip() for p in text.strip().rstrip(".").split(". ")]
    if len(parts) >= 3:
        return ". ".join(parts[:-2]), parts[-2], parts[-1] or None
    if len(parts) == 2:
        return parts[0], parts[1], None
    return parts[0], "", None


def segment_categories(category_texts: Iterable[str]) -> dict[str, list[str]]:
    """Split space-joined category paths into names where the catalog's tree branches.

    Words are nodes of a trie over all paths; a name ends after a word whose node has more than
    one child, or where some path ends. Within a multi-word name every path continues the same
    way, so no boundary is placed there.
    """
    texts = sorted(set(category_texts))
    children: dict[tuple[str, ...], set[str]] = defaultdict(set)
    ends: set[tuple[str, ...]] = set()
    for text in texts:
        words = text.split()
        for i in range(len(words)):
            children[tuple(words[:i])].add(words[i])
        ends.add(tuple(words))
    out: dict[str, list[str]] = {}
    for text in texts:
        words = text.split()
        names: list[str] = []
        current: list[str] = []
        for i, word in enumerate(words):
            current.append(word)
            prefix = tuple(words[: i + 1])
            if i + 1 < len(words) and (len(children[prefix]) > 1 or prefix in ends):
                names.append(" ".join(current))
                current = []
        if current:
            names.append(" ".join(current))
        out[text] = names
    return out


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row, object)`` of a JSON Lines file; the first unreadable row raises, located."""
    for row, record in read_records(path, "jsonl"):
        if isinstance(record, ValidationError):
            raise record
        yield row, record


def read_text_items(path: Path) -> list[Item]:
    """Items from a UniSRec ``items.jsonl`` (``item_id``, ``text``, optional ``asin``)."""
    raw: list[tuple[int, dict[str, object]]] = []
    for row, record in _json_lines(path):
        if "item_id" not in record or "text" not in record:
            missing = "item_id" if "item_id" not in record else "text"
            raise ValidationError("is required", field=missing, row=row, source=str(path))
        raw.append((row, record))
    split = {str(r["item_id"]): split_item_text(str(r["text"])) for _, r in raw}
    categories = segment_categories(category for _, category, _ in split.values())
    items = []
    for row, record in raw:
        item_id = str(record["item_id"])
        title, category, brand = split[item_id]
        attributes: dict[str, AttributeValue] = (
            {"asin": str(record["asin"])} if record.get("asin") else {}
        )
        try:
            items.append(
                Item(
                    item_id=item_id,
                    title=title or item_id,
                    description=str(record["text"]),
                    category=categories.get(category, []),
                    brand=brand,
                    attributes=attributes,
                )
            )
        except Exception as exc:  # pydantic's error, located
            raise ValidationError(str(exc), row=row, source=str(path)) from exc
    return items


def read_products(path: Path) -> list[Item]:
    """Items from a ``products.jsonl`` of ``product_id`` and ``title`` (Home Depot format)."""
    items = []
    for row, record in _json_lines(path):
        for required in ("product_id", "title"):
            if required not in record:
                raise ValidationError("is required", field=required, row=row, source=str(path))
        try:
            item = parse_item({"item_id": record["product_id"], "title": record["title"]})
        except ValidationError as exc:
            raise exc.at(row=row, source=str(path)) from None
        items.append(item)
    return items


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
