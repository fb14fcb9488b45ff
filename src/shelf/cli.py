"""The ``shelf`` command line: import, serve, demo, users, stats, and the stages' commands."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shelf.config import Settings, load_settings
from shelf.errors import ShelfError
from shelf.recommend.commands import register as register_recommend
from shelf.search.commands import register as register_search

if TYPE_CHECKING:
    from shelf.engine import Engine

app = typer.Typer(
    name="shelf",
    help="shelf: product search and recommendations for an online store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
eval_app = typer.Typer(help="Offline evaluation under the frozen protocols.", no_args_is_help=True)
import_app = typer.Typer(help="Import catalog and behaviour from files.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their data (privacy).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(import_app, name="import")
app.add_typer(users_app, name="users")
console = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default ./shelf-data).")
]
DbUrl = Annotated[str | None, typer.Option("--db-url", help="Store URL (default SQLite).")]
Format = Annotated[
    str | None, typer.Option("--format", help="csv, jsonl or parquet (default: by extension).")
]
SkipInvalid = Annotated[
    bool,
    typer.Option("--skip-invalid", help="Import the valid rows; write rejects with their reasons."),
]
Rejects = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where --skip-invalid writes rejected rows (JSON Lines)."),
]
DEMO_DATA = Path("../shared/data/amazon-scientific")
DEMO_MAX_EPOCHS = 30
DEMO_MODEL = "sasrec-text+cooc+textknn"


@app.callback()
def _root(ctx: typer.Context, data_dir: DataDir = None, db_url: DbUrl = None) -> None:
    """shelf: product search and recommendations for an online store."""
    ctx.obj = {"data_dir": data_dir, "db_url": db_url}


def settings_from(ctx: typer.Context, **overrides: object) -> Settings:
    """The settings for this invocation: the global flags and ``overrides`` over SHELF_*."""
    root = ctx.find_root().obj or {}
    return load_settings(**root, **overrides)


def open_engine(settings: Settings) -> Engine:
    from shelf.engine import Engine

    return Engine(settings)


def progress_bar(description: str) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        console=console,
        transient=False,
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


@users_app.command("delete")
def users_delete(ctx: typer.Context, user_id: str) -> None:
    """Delete a user's data everywhere (by their raw id; it is pseudonymised first)."""
    engine = open_engine(settings_from(ctx))
    deleted = engine.delete_user(user_id)
    engine.close()
    console.print(f"deleted {deleted:,} events of the user")


@app.command()
def stats(ctx: typer.Context) -> None:
    """Counts of items, users and events."""
    engine = open_engine(settings_from(ctx))
    print(json.dumps(engine.stats(), indent=2))
    engine.close()


HostOpt = Annotated[str | None, typer.Option("--host", help="Bind address (SHELF_HOST).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (SHELF_PORT).")]


def serve_engine(engine: Engine, settings: Settings) -> None:
    import uvicorn

    from shelf.serve import create_app
    from shelf.serve.worker import ready_to_serve

    ready_to_serve(engine)
    console.print(f"serving on http://{settings.host}:{settings.port}")
    # access_log off: every request is already logged as one JSON line (shelf.access)
    uvicorn.run(
        create_app(engine),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
    )


def serve_workers(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes, each building its own engine and listening
    on the address with a socket of its own (:mod:`shelf.serve.supervisor`)."""
    from shelf.serve.supervisor import supervise

    os.environ.update(settings.as_environment())
    console.print(
        f"serving on http://{settings.host}:{settings.port} with {settings.workers} workers "
        "(each builds its search index and loads the recommenders)"
    )
    status = supervise(settings.workers, settings.host, settings.port)
    if status:
        raise typer.Exit(status)


WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, max=64, help="Serving processes (SHELF_WORKERS).")
]


@app.command()
def serve(
    ctx: typer.Context, host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = None
) -> None:
    """Serve the HTTP API (and the web page) over the store."""
    from shelf.serve.worker import serving_threads

    settings = settings_from(ctx, host=host, port=port, workers=workers)
    serving_threads()  # set before the workers start, so they inherit it
    if settings.workers > 1:
        if not settings.store_url.startswith("sqlite"):
            console.print(
                "[red]--workers > 1 needs the SQLite store:[/] workers share events by tailing "
                "the store in id order, and PostgreSQL may commit ids out of order. "
                "Serve PostgreSQL with one worker."
            )
            raise typer.Exit(2)
        serve_workers(settings)
        return
    engine = open_engine(settings)
    try:
        console.print("building the search index and loading the recommenders…")
        engine.start_services(show_progress=True)
        serve_engine(engine, settings)
    finally:
        engine.close()


@app.command()
def demo(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Option(help="Folder with sequences.txt and items.jsonl.")
    ] = DEMO_DATA,
    host: HostOpt = None,
    port: PortOpt = None,
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after loading.")
    ] = True,
) -> None:
    """Load the Amazon Scientific data set and serve it."""
    from shelf.ingest.benchmarks import load_sequences_dataset

    sequences, items = data / "sequences.txt", data / "items.jsonl"
    if not sequences.is_file() or not items.is_file():
        console.print(
            f"[red]demo data not found:[/] expected {sequences} and {items}. "
            "Pass --data PATH to a folder holding both (the Amazon Scientific set)."
        )
        raise typer.Exit(2)
    settings = settings_from(ctx, host=host, port=port)
    engine = open_engine(settings)
    with progress_bar("load demo data") as bar:
        task = bar.add_task("events", total=None, rate="")
        n_items, n_events = load_sequences_dataset(
            engine.store,
            engine.pseudonymizer,
            sequences,
            items,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"[green]demo catalog: {n_items:,} items, {n_events:,} events[/]")
    try:
        from shelf import artifacts
        from shelf.engine import RECS_ARTIFACT

        if artifacts.promoted(settings.artifacts_dir, RECS_ARTIFACT) is None:
            console.print("training the recommenders on the demo events (once)…")
            # The text-aware blend: best on Scientific, and it recommends new items at once.
            train_from_store(engine, model=DEMO_MODEL, max_epochs=DEMO_MAX_EPOCHS)
        console.print("building the search index (embeddings are cached after the first run)…")
        engine.start_services(show_progress=True)
        if serve_it:
            serve_engine(engine, settings)
    finally:
        engine.close()


def train_from_store(
    engine: Engine,
    *,
    model: str = "sasrec+cooc",
    max_epochs: int | None = None,
    force: bool = False,
) -> None:
    """Train and promote the recommendation bundle on the engine's stored events."""
    from shelf.train.recs import train_bundle, training_data_from_store

    data, texts, fingerprint = training_data_from_store(engine.settings.store_url)
    overrides = {} if max_epochs is None else {"max_epochs": max_epochs}
    version, promoted, metrics = train_bundle(
        data,
        engine.settings.artifacts_dir,
        model=model,
        texts=texts,
        overrides=overrides,
        data_fingerprint=fingerprint,
        force=force,
        log=lambda message: console.print(message),
    )
    console.print(
        f"[green]trained {version.name}[/]: test NDCG@10 {metrics.get('ndcg@10', 0):.4f}, "
        f"{'promoted' if promoted else 'not promoted'}"
    )


register_search(app, eval_app)
register_recommend(app, eval_app)


def main() -> None:
    try:
        app()
    except ShelfError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
