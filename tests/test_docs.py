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


def test_the_readme_search_row_is_the_recorded_run() -> None:
    """The README's headline search figures are those of benchmarks/search_homedepot.json."""
    import json

    root = Path(__file__).resolve().parents[1]
    recorded = json.loads((root / "benchmarks" / "search_homedepot.json").read_text())
    row = next(line for line in README.splitlines() if line.startswith("| **shelf: hybrid"))
    cells = [c.strip().strip("*") for c in row.strip("|").split("|")]
    assert float(cells[1]) == round(recorded["ndcg@10"], 4)
    assert float(cells[2]) == round(recorded["recall@100"], 3)
    assert float(cells[3]) == round(recorded["mrr@10"], 3)
    assert float(cells[4]) == round(recorded["p50_ms"], 1)
    assert float(cells[5]) == round(recorded["p99_ms"], 1)


def test_reference_pages_are_what_the_code_says() -> None:
    """docs/reference/ is generated (``python -m shelf.cli.reference docs/reference``)."""
    from shelf.cli.reference import cli_reference, settings_reference

    folder = Path(__file__).resolve().parents[1] / "docs" / "reference"
    assert (folder / "cli.md").read_text(encoding="utf-8") == cli_reference()
    assert (folder / "settings.md").read_text(encoding="utf-8") == settings_reference()
