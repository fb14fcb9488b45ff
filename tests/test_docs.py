"""Docs that cannot drift: every HTTP route, setting and CLI command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from shelf.cli import app as cli_app
from shelf.config import Settings
from shelf.serve import create_app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_http_route_is_in_the_readme(tmp_path: Path) -> None:
    from shelf.engine import Engine

    engine = Engine(Settings(data_dir=tmp_path))
    try:
        paths = create_app(engine).openapi()["paths"]
    finally:
        engine.close()
    missing = [p for p in paths if f"`{p}" not in README]
    assert not missing, f"routes missing from README.md: {missing}"


def test_every_setting_is_in_the_readme() -> None:
    missing = [
        f"SHELF_{name.upper()}"
        for name in Settings.model_fields
        if f"SHELF_{name.upper()}" not in README
    ]
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_cli_command_is_in_the_readme() -> None:
    group = typer.main.get_command(cli_app)
    names: list[str] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            names.extend(f"{name} {sub}" for sub in subcommands)
        else:
            names.append(name)
    cli_section = README.split("## CLI", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in names if not re.search(rf"^\s+{re.escape(n)}\b", cli_section, re.M)]
    assert not missing, f"CLI commands missing from the README's CLI section: {missing}"
