"""``shelf demo``: a shop that answers within a minute and gets smarter while you look.

The catalog and events are imported once (the Amazon Scientific set where ``../shared/data``
has it, else a synthetic shop), the fast models are fitted in seconds (popularity, trending,
co-occurrence, bought-together, text similarity; search needs no training), and the server
starts. The deep, text-aware model trains in a child process meanwhile; once it is promoted
the server swaps to it, and ``/health`` and the page show its progress.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from shelf.cli.app import app, console, open_engine, progress_bar, settings_from
from shelf.cli.serving import (
    HostOpt,
    PortOpt,
    demo_keys,
    serve_engine,
    train_from_store,
)
from shelf.engine import Engine
from shelf.train.progress import read_status

DEMO_DATA = Path("../shared/data/amazon-scientific")
FAST_MODEL = "cooc+textknn"  # seconds: counts and text similarity
DEEP_MODEL = "sasrec-text+cooc+textknn"  # minutes: trained in the background
DEEP_MAX_EPOCHS = 30
RELOAD_SECONDS = 5.0  # the demo swaps to the deep model soon after it is promoted
SYNTHETIC_USERS_PER_ITEM = 0.6


@app.command()
def demo(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder with sequences.txt and items.jsonl (default: Amazon "
            "Scientific if ../shared/data has it, else a synthetic shop)."
        ),
    ] = None,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="A generated shop (needs no outside data).")
    ] = False,
    lang: Annotated[str, typer.Option(help="The synthetic shop's language: en or zh.")] = "en",
    items: Annotated[int, typer.Option(min=20, help="The synthetic shop's items.")] = 2000,
    host: HostOpt = None,
    port: PortOpt = None,
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after loading.")
    ] = True,
    deep: Annotated[
        bool, typer.Option("--deep/--no-deep", help="Train the deep model in the background.")
    ] = True,
) -> None:
    """A demo shop: import, fast models, serve at once; the deep model trains meanwhile."""
    folder = data or DEMO_DATA
    use_synthetic = synthetic or (data is None and not (folder / "items.jsonl").is_file())
    needed = (folder / "sequences.txt", folder / "items.jsonl")
    if not use_synthetic and not all(path.is_file() for path in needed):
        console.print(
            f"[red]demo data not found:[/] expected {needed[0]} and {needed[1]}. Pass --data "
            "PATH to a folder holding both, or --synthetic for a generated shop."
        )
        raise typer.Exit(2)
    if lang not in ("en", "zh"):
        raise typer.BadParameter("en or zh", param_hint="--lang")
    notice = (
        f"This shop is synthetic: {items:,} items made up by shelf.synthetic ({lang}, seed 0)."
        if use_synthetic
        else None
    )
    settings = settings_from(
        ctx, host=host, port=port, reload_seconds=RELOAD_SECONDS, page_notice=notice
    )
    engine = open_engine(settings)
    child: subprocess.Popen[bytes] | None = None
    try:
        source = f"synthetic:{lang}:{items}" if use_synthetic else str(folder.resolve())
        load_once(engine, source, folder if not use_synthetic else None, items, lang)
        page_key, admin_key = demo_keys(engine)
        console.print(f"your admin key (for /admin and /docs): {admin_key}")
        engine.settings = settings = settings.model_copy(update={"page_key": page_key})
        from shelf import artifacts
        from shelf.engine import RECS_ARTIFACT

        if artifacts.promoted(settings.artifacts_dir, RECS_ARTIFACT) is None:
            console.print("fitting the fast models (seconds)…")
            train_from_store(engine, model=FAST_MODEL)
        if deep and needs_deep_training(engine):
            child = start_deep_training(engine)
            console.print(
                f"training {DEEP_MODEL} in the background (the page shows its progress; "
                f"log: {settings.data_dir / 'training.log'})"
            )
        console.print("building the search index (embeddings are cached after the first run)…")
        engine.start_services(show_progress=True)
        if serve_it:
            serve_engine(engine, settings)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()  # a stopped demo stops its training; the next start resumes it
        engine.close()


def load_once(engine: Engine, source: str, folder: Path | None, items: int, lang: str) -> None:
    """Import the demo data unless this data directory already holds it (a marker file names
    the source), so a second start skips straight to serving."""
    marker = engine.settings.data_dir / "demo.json"
    digest = hashlib.sha256(source.encode()).hexdigest()
    if marker.exists() and json.loads(marker.read_text()).get("source") == digest:
        console.print("demo data already imported")
        return
    with progress_bar("load demo data") as bar:
        task = bar.add_task("events", total=None, rate="")
        if folder is None:
            from shelf.ingest.synthetic import load_synthetic_shop

            n_items, n_events = load_synthetic_shop(
                engine.store,
                engine.pseudonymizer,
                n_items=items,
                n_users=max(50, int(items * SYNTHETIC_USERS_PER_ITEM)),
                lang=lang,
                progress=lambda done: bar.update(task, completed=done),
            )
        else:
            from shelf.ingest.benchmarks import load_sequences_dataset

            n_items, n_events = load_sequences_dataset(
                engine.store,
                engine.pseudonymizer,
                folder / "sequences.txt",
                folder / "items.jsonl",
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    marker.write_text(json.dumps({"source": digest}))
    console.print(f"[green]demo catalog: {n_items:,} items, {n_events:,} events[/]")


def needs_deep_training(engine: Engine) -> bool:
    """Whether the deep model is neither trained here nor training now."""
    status = read_status(engine.settings.data_dir)
    if status is None or status.get("model") != DEEP_MODEL:
        return True
    return status.get("state") not in ("done",)


def start_deep_training(engine: Engine) -> subprocess.Popen[bytes]:
    """``shelf train`` of the deep model in a child process (the server swaps to it once
    promoted); its output goes to ``<data dir>/training.log``."""
    settings = engine.settings
    command = [sys.executable, "-c", "from shelf.cli import main; main()",
               "train", "--model", DEEP_MODEL, "--max-epochs", str(DEEP_MAX_EPOCHS)]  # fmt: skip
    env = {**os.environ, **settings.as_environment()}
    with (settings.data_dir / "training.log").open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
