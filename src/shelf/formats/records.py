"""Streaming readers for CSV, JSONL and Parquet: records one at a time with their row number.

Row numbers are 1-based and count records (for CSV, data rows after the header; for JSONL,
lines). Memory stays bounded whatever the file size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from shelf.errors import ValidationError

FileFormat = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def detect_format(path: Path, override: str | None = None) -> FileFormat:
    """The format named by ``override``, else by the file's extension."""
    if override:
        name = override.lower()
        if name not in ("csv", "jsonl", "parquet"):
            raise ValidationError(f"unknown format {override!r}: use csv, jsonl or parquet")
        return name  # type: ignore[return-value]
    try:
        return _EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise ValidationError(
            f"cannot tell the format from extension {path.suffix!r}: pass --format",
            source=str(path),
        ) from None


Record = dict[str, Any] | ValidationError


def count_records(path: Path, fmt: FileFormat) -> int:
    """How many records the file holds (for progress bars), cheaply."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
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
    else:
        yield from _read_parquet(path)


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
