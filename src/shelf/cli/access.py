"""``shelf keys create|list|revoke``: the API keys every serving process checks."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from shelf.cli.app import app, console, open_engine, settings_from

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option(help="search (pages), ingest (writes) or admin.")],
    name: Annotated[str | None, typer.Option(help="A name to list and revoke it by.")] = None,
    expires_days: Annotated[
        float | None, typer.Option(help="Days until it stops working (default: never).")
    ] = None,
) -> None:
    """Create a key and print it once (the store keeps only its hash)."""
    from shelf.serve.keys import Scope, mint

    engine = open_engine(settings_from(ctx))
    try:
        now_ms = int(time.time() * 1000)
        label = name or f"{scope}-{now_ms}"
        key, record = mint(label, Scope.named(scope), now_ms=now_ms, expires_days=expires_days)
        engine.store.access.add_key(record)
    finally:
        engine.close()
    console.print(f"[green]created {record.scope} key {label!r}[/] (shown once; keep it):")
    typer.echo(key)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Names, scopes, prefixes, expiry and revocation of every key (never the key)."""
    engine = open_engine(settings_from(ctx))
    try:
        rows = [
            {k: v for k, v in key.__dict__.items() if k != "digest"}
            for key in engine.store.access.api_keys()
        ]
    finally:
        engine.close()
    typer.echo(json.dumps(rows, indent=2))


@keys_app.command("revoke")
def revoke_key(ctx: typer.Context, name: str) -> None:
    """Revoke the key named NAME (every server refuses it within a second)."""
    engine = open_engine(settings_from(ctx))
    try:
        done = engine.store.access.revoke_key(name, int(time.time() * 1000))
    finally:
        engine.close()
    if not done:
        console.print(f"[red]no live key named {name!r}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {name!r}")
