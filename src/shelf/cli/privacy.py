"""``shelf users delete`` and ``shelf erasures list|run``: erasure, and finishing it in the
trained models by its deadline."""

from __future__ import annotations

import fcntl
import json
import time
from typing import Annotated

import typer

from shelf.cli.app import app, console, open_engine, say, settings_from, users_app

erasures_app = typer.Typer(
    help="Erasures: what is pending, and finishing them.", no_args_is_help=True
)
app.add_typer(erasures_app, name="erasures")


@users_app.command("delete")
def users_delete(ctx: typer.Context, user_id: str) -> None:
    """Erase a user (by their raw id; it is pseudonymised first): store, models, artifacts."""
    engine = open_engine(settings_from(ctx))
    try:
        deleted = engine.delete_user(user_id)
    finally:
        engine.close()
    console.print(
        f"erased: {deleted:,} events deleted; trained models are rebuilt without the user by "
        f"the deadline ({engine.settings.erasure_retrain_hours:g} h, `shelf erasures run`)"
    )


@erasures_app.command("list")
def list_erasures(ctx: typer.Context) -> None:
    """Every erasure (pseudonyms only): when asked, the deadline, when completed, where."""
    engine = open_engine(settings_from(ctx))
    try:
        rows = [e.__dict__ for e in engine.store.access.erasures()]
    finally:
        engine.close()
    typer.echo(json.dumps(rows, indent=2))


@erasures_app.command("run")
def run_erasures(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option(help="Finish every pending erasure now, not only those due.")
    ] = False,
    margin_hours: Annotated[
        float, typer.Option(help="Also finish those due within this many hours.")
    ] = 0.0,
) -> None:
    """Retrain without the erased users when an erasure is due, promote that version whatever
    its metrics, delete the older versions holding them (one run at a time per data dir)."""
    from shelf.privacy.erasure import complete_due, retrain_from_store

    settings = settings_from(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / "erasures.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print("another `shelf erasures run` is running on this data directory")
            raise typer.Exit(0) from None
        engine = open_engine(settings)
        try:
            done = complete_due(
                settings,
                engine.store,
                now_ms=int(time.time() * 1000),
                retrain=lambda: retrain_from_store(settings, log=say),
                margin_ms=int(margin_hours * 3_600_000),
                force=force,
            )
        finally:
            engine.close()
    console.print(f"completed {len(done)} erasure(s)")
