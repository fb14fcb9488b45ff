"""The ``shelf`` command line. Each module adds one group of commands to the app of
:mod:`shelf.cli.app`: data (import, users, stats), serving (serve, demo), search and
recommend (their indexes, training and evaluation)."""

from __future__ import annotations

import os
import sys

from shelf.cli import access, data, demo, privacy, recommend, search, serving  # noqa: F401
from shelf.cli.app import app, console
from shelf.cli.serving import train_from_store
from shelf.errors import ShelfError

__all__ = ["app", "main", "train_from_store"]


def main() -> None:
    os.umask(0o077)  # every file shelf writes (store, keys, artifacts, rejects) is private
    try:
        app()
    except ShelfError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
