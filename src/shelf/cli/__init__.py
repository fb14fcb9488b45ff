"""The ``shelf`` command line. Each module adds one group of commands to the app of
:mod:`shelf.cli.app`: data (import, users, stats), serving (serve, demo), search and
recommend (their indexes, training and evaluation)."""

from __future__ import annotations

import sys

from shelf.cli import access, data, recommend, search, serving  # noqa: F401 (each adds commands)
from shelf.cli.app import app, console
from shelf.cli.serving import train_from_store
from shelf.errors import ShelfError

__all__ = ["app", "main", "train_from_store"]


def main() -> None:
    try:
        app()
    except ShelfError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
