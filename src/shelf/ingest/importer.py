"""Importing files of items and events into the store, and storing events from HTTP (one
batch here; batches posted at the same time share a commit in
:mod:`shelf.ingest.group_commit`).

A file is imported in one transaction, streamed in batches (memory stays bounded). By default a
file with any invalid row imports nothing: the transaction rolls back and the error names each
bad row, field and reason. With ``skip_invalid`` the valid rows are stored and the rejects are
written, with their reasons, to a JSON Lines file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shelf.catalog import MAX_ID_LENGTH, Event, Item, parse_event, parse_item
from shelf.catalog.limits import MAX_EVENT_ID_LENGTH, MAX_SESSION_ID_LENGTH
from shelf.errors import ImportRejected, Rejection, ValidationError
from shelf.formats.records import FileFormat, detect_format, read_records
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.ingest.rejects import Rejects, pseudonymised
from shelf.store.base import Store, StoredEvent

ProgressCallback = Callable[[int], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass
class ImportReport:
    """What an import did."""

    source: str
    kind: str
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def dedup_key(
    event_id: str | None, user_key: str, item_id: str | None, kind: str, timestamp_ms: int
) -> str:
    """The idempotency key: the event id if given, else user, item, type and time."""
    if event_id is not None:
        material = "id\x00" + event_id
    else:
        material = f"ev\x00{user_key}\x00{item_id}\x00{kind}\x00{timestamp_ms}"
    return hashlib.blake2b(material.encode("utf-8"), digest_size=16).hexdigest()


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (integer arithmetic, no float rounding)."""
    return (moment - _EPOCH) // _MILLISECOND


def to_stored(event: Event, pseudonymizer: Pseudonymizer) -> StoredEvent:
    """The event as the store keeps it: pseudonymous user, epoch-millisecond time."""
    user_key = pseudonymizer.pseudonym(event.user_id)
    timestamp_ms = epoch_ms(event.timestamp)
    kind = event.type.value
    return StoredEvent(
        dedup_key(event.event_id, user_key, event.item_id, kind, timestamp_ms),
        user_key,
        event.item_id,
        kind,
        timestamp_ms,
        event.value,
        event.session_id,
        event.query,
        event.event_id,
    )


# -- the fast path for plain event rows ------------------------------------------------------
# Most event files are plain rows: ASCII ids, a common type, an epoch time, nothing else. Such a
# row is checked here field by field and stored without building a pydantic model (several
# times faster); anything else, and every row that would be rejected, takes the exact path
# through :func:`shelf.catalog.parse_event`. The fast path accepts a strict subset of what the
# exact path accepts and produces the same stored event (tested against it).
_FAST_FIELDS = frozenset({"user_id", "item_id", "type", "timestamp", "session_id", "event_id"})
_FAST_TYPES = frozenset({"view", "click", "add_to_cart", "remove_from_cart", "purchase"})
_MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _plain_id(value: object) -> str | None:
    if type(value) is not str:
        return None
    text = value.strip()
    if not text or len(text) > MAX_ID_LENGTH or not text.isascii() or "\x00" in text:
        return None
    return text


def _plain_text(value: object, max_length: int) -> str | None:
    if type(value) is not str or not value.strip() or not value.isascii() or "\x00" in value:
        return None
    return value if len(value) <= max_length else None


def _plain_epoch_ms(value: object) -> int | None:
    if type(value) is str:
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            return None
        number = int(text)
    elif type(value) is int:
        number = value
    else:
        return None
    # The exact path's rule: above 1e11 the number is milliseconds, else seconds.
    ms = number if number > 1e11 else number * 1000
    return ms if 0 <= ms <= _MAX_EPOCH_MS else None


def fast_stored_event(record: dict[str, Any], pseudonymizer: Pseudonymizer) -> StoredEvent | None:
    """The stored event for a plain row, or None when the row needs the exact path."""
    if not record.keys() <= _FAST_FIELDS:
        return None
    kind = record.get("type")
    if type(kind) is not str or kind not in _FAST_TYPES:
        return None
    user = _plain_id(record.get("user_id"))
    item = _plain_id(record.get("item_id"))
    timestamp_ms = _plain_epoch_ms(record.get("timestamp"))
    if user is None or item is None or timestamp_ms is None:
        return None
    session = _plain_text(record.get("session_id"), MAX_SESSION_ID_LENGTH)
    if session is None and record.get("session_id") is not None:
        return None
    event_id = _plain_text(record.get("event_id"), MAX_EVENT_ID_LENGTH)
    if event_id is None and record.get("event_id") is not None:
        return None
    user_key = pseudonymizer.pseudonym(user)
    return StoredEvent(
        dedup_key(event_id, user_key, item, kind, timestamp_ms),
        user_key,
        item,
        kind,
        timestamp_ms,
        None,
        session,
        None,
        event_id,
    )


def store_events(
    store: Store,
    pseudonymizer: Pseudonymizer,
    events: Sequence[Event],
    *,
    source: str = "request",
) -> tuple[int, int]:
    """Store a batch of events atomically; return ``(stored, duplicates)``.

    Raises a ValidationError naming the first row (1-based) whose item is not in the catalog;
    then nothing is stored.
    """
    stored_events = [to_stored(e, pseudonymizer) for e in events]
    with store.transaction() as conn:
        known = store.existing_item_ids({e.item_id for e in events if e.item_id}, conn)
        check_items(events, known, source)
        stored = store.add_events(unique_events(stored_events), conn)
    return stored, len(events) - stored


def check_items(events: Sequence[Event], known: set[str], source: str) -> None:
    for row, event in enumerate(events, start=1):
        if event.item_id is not None and event.item_id not in known:
            raise ValidationError(
                f"item {event.item_id!r} is not in the catalog",
                field="item_id",
                row=row,
                source=source,
            )


def unique_events(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    seen: set[str] = set()
    out = []
    for e in events:
        if e.dedup_key not in seen:
            seen.add(e.dedup_key)
            out.append(e)
    return out


Batch = list[tuple[int, Any, dict[str, Any]]]


def _parsed_batches(
    path: Path,
    fmt: FileFormat,
    parse: Callable[[dict[str, Any]], Any],
    rejects: Rejects,
    batch_size: int,
    progress: ProgressCallback | None,
) -> Iterator[Batch]:
    batch: Batch = []
    for row, record in read_records(path, fmt):
        rejects.report.read += 1
        if isinstance(record, ValidationError):
            rejects.add(row, record)
        else:
            try:
                batch.append((row, parse(record), record))
            except ValidationError as exc:
                rejects.add(row, exc, record)
        if len(batch) >= batch_size:
            yield batch
            if progress is not None:
                progress(rejects.report.read)
            batch = []
    if batch:
        yield batch
    if progress is not None:
        progress(rejects.report.read)


def _tally(report: ImportReport, counts: tuple[int, int]) -> None:
    report.stored += counts[0]
    report.duplicates += counts[1]


StoreBatch = Callable[[Any, Batch, Rejects], tuple[int, int]]


def _run_import(
    kind: str,
    store: Store,
    path: Path,
    fmt: str | None,
    skip_invalid: bool,
    rejects_path: Path | None,
    batch_size: int,
    progress: ProgressCallback | None,
    parse: Callable[[dict[str, Any]], Any],
    store_batch: StoreBatch,
    scrub: Callable[[Any], Any] = lambda record: record,
) -> ImportReport:
    file_format = detect_format(path, fmt)
    if not path.is_file():
        raise ValidationError("no such file", source=str(path))
    report = ImportReport(source=str(path), kind=kind)
    started = time.perf_counter()
    with ExitStack() as stack:
        handle = None
        if skip_invalid and rejects_path is not None:
            rejects_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(rejects_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)  # also when the file was there before
            handle = stack.enter_context(open(descriptor, "w", encoding="utf-8"))
            report.rejects_path = rejects_path
        rejects = Rejects(report, handle, scrub)
        writer = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        with store.transaction() as conn:
            # Parse batch k+1 while batch k is written: the database driver releases the GIL,
            # so parsing (Python) and writing (C) overlap on two cores.
            pending: Future[tuple[int, int]] | None = None
            for batch in _parsed_batches(path, file_format, parse, rejects, batch_size, progress):
                if pending is not None:
                    _tally(report, pending.result())
                pending = writer.submit(store_batch, conn, batch, rejects)
            if pending is not None:
                _tally(report, pending.result())
            if report.invalid and not skip_invalid:
                # Leaving the block with an exception rolls the whole file back.
                raise ImportRejected(str(path), report.rejections, report.invalid)
    report.seconds = time.perf_counter() - started
    return report


def import_items(
    store: Store,
    path: Path,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Upsert the items of a CSV, JSONL or Parquet file. Later rows win over earlier ones."""

    def store_batch(conn: Any, batch: Batch, rejects: Rejects) -> tuple[int, int]:
        if rejects.report.invalid and not skip_invalid:
            return 0, 0
        latest: dict[str, Item] = {}
        for _row, item, _record in batch:
            latest[item.item_id] = item
        store.upsert_items(list(latest.values()), conn)
        return len(latest), len(batch) - len(latest)

    return _run_import(
        "items",
        store,
        path,
        fmt,
        skip_invalid,
        rejects_path,
        batch_size,
        progress,
        parse_item,
        store_batch,
    )


def import_events(
    store: Store,
    pseudonymizer: Pseudonymizer,
    path: Path,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    batch_size: int = 5000,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Append the events of a file; events already stored (same dedup key) are skipped.

    Events naming an item that is not in the catalog are rejected.
    """

    def parse(record: dict[str, Any]) -> StoredEvent:
        fast = fast_stored_event(record, pseudonymizer)
        if fast is not None:
            return fast
        return to_stored(parse_event(record), pseudonymizer)

    def store_batch(conn: Any, batch: Batch, rejects: Rejects) -> tuple[int, int]:
        known = store.existing_item_ids({e.item_id for _, e, _ in batch if e.item_id}, conn)
        valid: list[StoredEvent] = []
        for row, event, record in batch:
            if event.item_id is not None and event.item_id not in known:
                error = ValidationError(
                    f"item {event.item_id!r} is not in the catalog", field="item_id"
                )
                rejects.add(row, error, record)
            else:
                valid.append(event)
        if rejects.report.invalid and not skip_invalid:
            return 0, 0  # the file will be rolled back: stop writing, keep validating
        unique = unique_events(valid)
        stored = store.add_events(unique, conn)
        return stored, len(valid) - stored

    return _run_import(
        "events",
        store,
        path,
        fmt,
        skip_invalid,
        rejects_path,
        batch_size,
        progress,
        parse,
        store_batch,
        scrub=lambda record: pseudonymised(record, pseudonymizer),
    )
