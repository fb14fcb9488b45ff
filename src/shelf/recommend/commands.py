"""CLI commands of the recommend stage, registered on the main app by :mod:`shelf.cli`."""

from __future__ import annotations

import typer


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add this stage's commands to the main app and its `eval` group."""
