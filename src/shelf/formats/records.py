"""Streaming readers for CSV, JSONL and Parquet: records one at a time with their row number;
the shops' catalog feeds (Google Merchant Center, Shopify) are read by :mod:`shelf.formats.feeds`
through the same :func:`read_records`.

Row numbers are 1-based and count records (for CSV, data rows after the header; for JSONL,
lines; for a Merchant Center feed, items), except for a Shopify export, where a product spans
several rows and its row is the CSV line of its first. Memory stays bounded whatever the file
size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from shelf.errors import ValidationError

FileFormat = Literal["csv", "jsonl", "parquet", "google-merchant", "shopify"]
FORMATS: tuple[FileFormat, ...] = get_args(FileFormat)
_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xml": "google-merchant",
}


def detect_format(path: Path, override: str | None = None) -> FileFormat:
    """The format named by ``override``, else by the file's extension (a Shopify export is a
    ``.csv`` too, so it is read as one only when named)."""
    if override:
        name = override.lower()
        if name not in FORMATS:
            raise ValidationError(
                f"unknown format {override!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
            )
        return name
    try:
        return _EXTENSIONS[path.suffix.lower()]
    except KeyError:
        # A .tsv is not assumed to be a Merchant Center feed: plain TSV has other columns.
        hint = ""
        if path.suffix.lower() == ".tsv":
            hint = " (--format google-merchant for a Merchant Center TSV feed)"
        raise ValidationError(
            f"cannot tell the format from extension {path.suffix!r}: pass --format{hint}",
            source=str(path),
        ) from None


Record = dict[str, Any] | ValidationError


def count_records(path: Path, fmt: FileFormat) -> int:
    """How many records the file holds (for progress bars), cheaply."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "google-merchant":
        from shelf.formats.feeds import count_google_merchant

        return count_google_merchant(path)
    if fmt == "shopify":
        from shelf.formats.feeds import count_shopify

        return count_shopify(path)
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    return max(0, lines - 1) if fmt == "csv" else lines


def read_records(path: Path, fmt: FileFormat) -> Iterator[tuple[int, Record]]:
    """``(row, record)`` pairs; a row that cannot be read comes as a ValidationError instead."""
    if fmt == "csv":
        yield from _read_csv(path)
    elif fmt == "jsonl":
        yield from _read_jsonl(path)
    elif fmt == "parquet":
        yield from _read_parquet(path)
    else:
        # Imported here, not at the top: feeds imports this module (for Record).
        from shelf.formats import feeds

        if fmt == "google-merchant":
            yield from feeds.read_google_merchant(path)
        else:
            yield from feeds.read_shopify(path)


def _read_csv(path: Path) -> Iterator[tuple[int, Record]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return
        for row, record in enumerate(reader, start=1):
            if None in record:
                extra = len(record[None])
                yield (
                    row,
                    ValidationError(
                        f"has {len(reader.fieldnames) + extra} columns, "
                        f"the header has {len(reader.fieldnames)}",
                        row=row,
                        source=str(path),
                    ),
                )
                continue
            yield row, {k: v for k, v in record.items() if v is not None and v != ""}


def _read_jsonl(path: Path) -> Iterator[tuple[int, Record]]:
    with path.open(encoding="utf-8") as handle:
        for row, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                # Without the newline, or an error at the end of the line is put at "column 1"
                # (of the next line).
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                yield (
                    row,
                    ValidationError(
                        f"is not valid JSON ({exc.msg} at column {exc.colno})",
                        row=row,
                        source=str(path),
                    ),
                )
                continue
            if not isinstance(record, dict):
                yield row, ValidationError("is not a JSON object", row=row, source=str(path))
                continue
            yield row, record


def _read_parquet(path: Path) -> Iterator[tuple[int, Record]]:
    import pyarrow.parquet as pq

    row = 0
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            row += 1
            yield row, {k: v for k, v in record.items() if v is not None}
