"""Docs that cannot drift: every HTTP route, setting and CLI command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from shelf.cli import app as cli_app
from shelf.config import Settings
from shelf.serve import create_app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_links_every_reference_page() -> None:
    """The README is short; what it leaves out is in generated, tested reference pages."""
    for page in ("settings.md", "cli.md", "http.md", "api.md", "data.md"):
        assert f"docs/reference/{page}" in README, page
    assert len(README.splitlines()) <= 200


def test_every_http_route_is_in_the_api_reference(tmp_path: Path) -> None:
    from shelf.engine import Engine

    engine = Engine(Settings(data_dir=tmp_path))
    try:
        paths = create_app(engine).openapi()["paths"]
    finally:
        engine.close()
    page = (ROOT / "docs" / "reference" / "http.md").read_text()
    missing = [p for p in paths if f"`{p}`" not in page]
    assert not missing, f"routes missing from docs/reference/http.md: {missing}"


def test_every_setting_and_command_is_in_the_references() -> None:
    settings_page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    missing = [f"SHELF_{n.upper()}" for n in Settings.model_fields
               if f"SHELF_{n.upper()}" not in settings_page]  # fmt: skip
    assert not missing, missing
    cli_page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    group = typer.main.get_command(cli_app)
    names: list[str] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        names.extend(f"{name} {sub}" for sub in subcommands) if subcommands else names.append(name)
    missing = [n for n in names if f"`shelf {n}" not in cli_page]
    assert not missing, f"CLI commands missing from docs/reference/cli.md: {missing}"


def test_the_readme_search_row_is_the_recorded_run() -> None:
    """The README's headline search figures are those of benchmarks/search_homedepot.json."""
    import json

    root = Path(__file__).resolve().parents[1]
    recorded = json.loads((root / "benchmarks" / "search_homedepot.json").read_text())
    row = next(line for line in README.splitlines() if line.startswith("| Home Depot search"))
    cell = row.strip("|").split("|")[1]
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", cell)]
    assert numbers == [
        round(recorded["ndcg@10"], 4),
        round(recorded["recall@100"], 3),
        round(recorded["mrr@10"], 3),
        round(recorded["p50_ms"], 1),
        round(recorded["p99_ms"], 1),
    ]


def test_reference_pages_are_what_the_code_says() -> None:
    """docs/reference/ is generated (``python -m shelf.cli.reference docs/reference``)."""
    from shelf.cli.reference import cli_reference, settings_reference

    folder = Path(__file__).resolve().parents[1] / "docs" / "reference"
    assert (folder / "cli.md").read_text(encoding="utf-8") == cli_reference()
    assert (folder / "settings.md").read_text(encoding="utf-8") == settings_reference()
