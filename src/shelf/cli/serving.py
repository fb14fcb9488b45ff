"""``shelf serve`` and ``shelf demo``: the HTTP API and the web page over the store."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer

from shelf.cli.app import app, console, open_engine, settings_from
from shelf.config import Settings
from shelf.engine import Engine

HostOpt = Annotated[str | None, typer.Option("--host", help="Bind address (SHELF_HOST).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (SHELF_PORT).")]


def check_access(engine: Engine, settings: Settings) -> None:
    """Refuse to serve a network without API keys; say loudly when serving open."""
    from shelf.serve.auth import is_loopback

    if engine.store.access.api_keys():
        return
    if not is_loopback(settings.host):
        console.print(
            f"[red]refusing to serve {settings.host} without API keys:[/] anyone who can reach "
            "it could write and delete data. Create keys first "
            "(`shelf keys create --scope admin`), or serve 127.0.0.1."
        )
        raise typer.Exit(2)
    console.print(
        "[bold yellow]WARNING: no API keys exist, so shelf serves OPEN to loopback clients "
        "only.[/] Create one with `shelf keys create --scope admin` before exposing it."
    )


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
        probe = open_engine(settings)
        try:
            check_access(probe, settings)
            tails = probe.store.tails_by_id
        finally:
            probe.close()
        if not tails:
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
        check_access(engine, settings)
        console.print("building the search index and loading the recommenders…")
        engine.start_services(show_progress=True)
        serve_engine(engine, settings)
    finally:
        engine.close()


def demo_keys(engine: Engine) -> tuple[str, str]:
    """The demo's search key (embedded in its pages) and admin key, made on the first start
    and kept in ``<data dir>/demo-keys.json`` (mode 0600) so later starts print the same."""
    from shelf.serve.keys import Scope, mint

    path = engine.settings.data_dir / "demo-keys.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return str(saved["search"]), str(saved["admin"])
    now_ms = int(time.time() * 1000)
    made = {}
    for scope in (Scope.SEARCH, Scope.ADMIN):
        key, record = mint(f"demo-{scope.label}-{now_ms}", scope, now_ms=now_ms)
        engine.store.access.add_key(record)
        made[scope.label] = key
    path.touch(mode=0o600)
    path.write_text(json.dumps(made))
    return made["search"], made["admin"]


def train_from_store(
    engine: Engine,
    *,
    model: str = "sasrec+cooc",
    max_epochs: int | None = None,
    force: bool = False,
) -> None:  # used by the demo and the tests: one call, no progress bar
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
