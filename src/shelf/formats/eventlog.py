"""Event logs as Parquet partitions (a directory or a glob), read one file at a time.

A partition holds ``event_id`` (integer, unique), ``user_id``, ``item_id``, ``timestamp``
(integer epoch milliseconds) and optionally ``type`` (default ``view``) and ``session_id``
(text or integer), the columns :mod:`shelf.synthetic.eventlog` writes. Events are ordered by
``(timestamp, event_id)``, as the store orders them, so a log trains the same whichever way
its rows were split into files. Rows without an item are dropped (as training from the store
does); any other problem names the file, the row (1-based, within the file) and the field.

:func:`read_event_file` is the one reader both engines use: the single-node path concatenates
its tables (:func:`interactions_from_tables`); the Ray path runs it in a task per file.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shelf.catalog import EventType
from shelf.errors import ValidationError
from shelf.recommend.data import Interactions

REQUIRED = ("event_id", "user_id", "item_id", "timestamp")
CATALOG_FILE = "items.parquet"  # the item table a synthetic log writes beside its events
SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("type", pa.string()),
        ("timestamp", pa.int64()),
        ("session_id", pa.string()),
    ]
)
TYPES = pa.array([t.value for t in EventType])


def event_files(source: str | Path) -> list[Path]:
    """The partitions of a log: a directory's ``*.parquet`` files (its ``items.parquet``
    catalog left out) or the files a glob matches, sorted by name."""
    path = Path(source)
    if path.is_dir():
        files = [p for p in path.glob("*.parquet") if p.name != CATALOG_FILE]
    else:
        files = [Path(p) for p in glob.glob(str(source))]
    if not files:
        raise ValidationError("no Parquet event files found", source=str(source))
    return sorted(files)


def _first(mask: pa.Array | pa.ChunkedArray) -> int:
    """The 1-based row of the first true value of ``mask``."""
    return int(np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False)))[0]) + 1


def read_event_file(path: str | Path) -> pa.Table:
    """One partition, validated, in :data:`SCHEMA` (rows without an item dropped)."""
    source = str(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValidationError(f"not a readable Parquet file ({exc})", source=source) from exc
    names = set(table.column_names)
    for name in REQUIRED:
        if name not in names:
            raise ValidationError("missing column", field=name, source=source)
    n = table.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in SCHEMA:
        if field.name in names:
            column = table.column(field.name)
        elif field.name == "type":
            column = pa.array(["view"] * n, pa.string())
        else:
            column = pa.nulls(n, pa.string())
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        integer = pa.types.is_integer(column.type)
        if field.type == pa.int64() and not integer:
            raise ValidationError(
                f"must be an integer column, not {column.type}", field=field.name, source=source
            )
        if field.type == pa.string() and not (integer or pa.types.is_string(column.type)):
            raise ValidationError(
                f"must be a text column, not {column.type}", field=field.name, source=source
            )
        columns[field.name] = column.cast(field.type)
    for name in ("event_id", "user_id", "timestamp", "type"):
        missing = pc.is_null(columns[name])
        if pc.any(missing).as_py():
            raise ValidationError("is empty", field=name, row=_first(missing), source=source)
    for name in ("user_id", "item_id"):
        blank = pc.equal(columns[name], "")
        if pc.any(blank).as_py():
            raise ValidationError("is blank", field=name, row=_first(blank), source=source)
    unknown = pc.invert(pc.is_in(columns["type"], value_set=TYPES))
    if pc.any(unknown).as_py():
        row = _first(unknown)
        value = columns["type"][row - 1].as_py()
        raise ValidationError(f"unknown event type {value!r}", field="type", row=row, source=source)
    out = pa.table(columns, schema=SCHEMA)
    return out.filter(pc.is_valid(out.column("item_id")))


def read_event_log(source: str | Path) -> pa.Table:
    """Every partition of a log in one table, ordered by ``(timestamp, event_id)``."""
    tables = [read_event_file(p) for p in event_files(source)]
    return sort_events(pa.concat_tables(tables))


def sort_events(table: pa.Table) -> pa.Table:
    return table.sort_by([("timestamp", "ascending"), ("event_id", "ascending")])


def interactions_from_tables(tables: Sequence[pa.Table]) -> Interactions:
    """Event tables (:data:`SCHEMA`) as the interaction columns training reads, in order."""
    table = sort_events(pa.concat_tables(tables))
    return Interactions(
        user=table.column("user_id").to_pylist(),
        item=table.column("item_id").to_pylist(),
        timestamp=(table.column("timestamp").to_numpy() / 1000.0).tolist(),
        type=table.column("type").to_pylist(),
        session=table.column("session_id").to_pylist(),
    )


def log_fingerprint(files: Sequence[Path]) -> str:
    """SHA-256 over the partitions' names and bytes (the artifact's data fingerprint)."""
    import hashlib

    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
