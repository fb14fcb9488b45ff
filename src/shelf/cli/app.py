"""The ``shelf`` Typer app, its command groups, and what every command shares (the global
flags, settings, the console, progress bars). The commands live in the sibling modules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shelf.config import Settings, load_settings

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
    str | None,
    typer.Option(
        "--format",
        help="csv, jsonl, parquet, google-merchant (RSS/Atom XML or TSV) or shopify (product "
        "CSV export); default: by extension.",
    ),
]
SkipInvalid = Annotated[
    bool,
    typer.Option("--skip-invalid", help="Import the valid rows; write rejects with their reasons."),
]
Rejects = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where --skip-invalid writes rejected rows (JSON Lines)."),
]


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


def say(message: str) -> None:
    """A line of progress on stderr, printed as given (no markup)."""
    console.print(message, markup=False, highlight=False)
