"""``shelf import ...``, ``shelf users delete`` and ``shelf stats``: data in and out of the
store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shelf.cli.app import (
    Format,
    Rejects,
    SkipInvalid,
    app,
    console,
    import_app,
    open_engine,
    progress_bar,
    settings_from,
)


def _run_file_import(ctx: typer.Context, kind: str, file: Path, fmt: str | None,
                     skip_invalid: bool, rejects: Path | None) -> None:  # fmt: skip
    from shelf.formats import count_records, detect_format
    from shelf.ingest import import_events, import_items

    settings = settings_from(ctx)
    engine = open_engine(settings)
    if skip_invalid and rejects is None:
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S")
        rejects = settings.data_dir / "rejects" / f"{file.stem}-{stamp}.jsonl"
    total = count_records(file, detect_format(file, fmt)) if file.is_file() else None
    with progress_bar(f"import {kind}") as bar:
        task = bar.add_task(kind, total=total, rate="")

        def advance(done: int) -> None:
            elapsed = bar.tasks[task].elapsed or 1e-9
            bar.update(task, completed=done, rate=f"{done / elapsed:,.0f} rows/s")

        common = {"fmt": fmt, "skip_invalid": skip_invalid, "rejects_path": rejects,
                  "batch_size": settings.import_batch_size, "progress": advance}  # fmt: skip
        if kind == "items":
            report = import_items(engine.store, file, **common)  # type: ignore[arg-type]
        else:
            report = import_events(engine.store, engine.pseudonymizer, file, **common)  # type: ignore[arg-type]
    engine.close()
    console.print(
        f"[green]{kind}:[/] read {report.read:,}, stored {report.stored:,}, "
        f"duplicates {report.duplicates:,}, invalid {report.invalid:,} "
        f"in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s)"
    )
    if report.invalid:
        console.print(f"[yellow]rejected rows written to {report.rejects_path}[/]")


@import_app.command("items")
def import_items_cmd(
    ctx: typer.Context,
    file: Path,
    fmt: Format = None,
    skip_invalid: SkipInvalid = False,
    rejects: Rejects = None,
) -> None:
    """Upsert items from a CSV, JSONL or Parquet file (all rows or none, unless --skip-invalid)."""
    _run_file_import(ctx, "items", file, fmt, skip_invalid, rejects)


@import_app.command("events")
def import_events_cmd(
    ctx: typer.Context,
    file: Path,
    fmt: Format = None,
    skip_invalid: SkipInvalid = False,
    rejects: Rejects = None,
) -> None:
    """Append events from a CSV, JSONL or Parquet file; already-stored events are skipped."""
    _run_file_import(ctx, "events", file, fmt, skip_invalid, rejects)


@import_app.command("sequences")
def import_sequences_cmd(
    ctx: typer.Context,
    sequences: Path,
    items: Annotated[Path | None, typer.Option(help="items.jsonl with item texts.")] = None,
) -> None:
    """Load a benchmark sequences.txt (+ items.jsonl) as items and purchase events."""
    from shelf.ingest.benchmarks import load_sequences_dataset

    engine = open_engine(settings_from(ctx))
    with progress_bar("import sequences") as bar:
        task = bar.add_task("events", total=None, rate="")
        n_items, n_events = load_sequences_dataset(
            engine.store,
            engine.pseudonymizer,
            sequences,
            items,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    engine.close()
    console.print(f"[green]loaded {n_items:,} items and {n_events:,} events[/]")


@import_app.command("products")
def import_products_cmd(ctx: typer.Context, products: Path) -> None:
    """Load a benchmark products.jsonl (product_id, title) as items."""
    from shelf.formats import read_products

    engine = open_engine(settings_from(ctx))
    items = read_products(products)
    for start in range(0, len(items), 5000):
        engine.store.upsert_items(items[start : start + 5000])
    engine.close()
    console.print(f"[green]loaded {len(items):,} items[/]")


@app.command()
def stats(ctx: typer.Context) -> None:
    """Counts of items, users and events."""
    engine = open_engine(settings_from(ctx))
    print(json.dumps(engine.stats(), indent=2))
    engine.close()
