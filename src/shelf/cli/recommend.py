"""The recommendation commands: ``shelf eval recs``, ``shelf train`` and ``shelf recommend
USER``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shelf.cli.app import app, console, eval_app, say
from shelf.config import Settings, load_settings
from shelf.recommend.data import SequenceData
from shelf.train.engines import ENGINES, Engine
from shelf.train.progress import TrainingStatus


def _settings(ctx: typer.Context, data_dir: Path | None) -> Settings:
    """The settings of this invocation: shelf's global flags, then this command's --data-dir."""
    root = ctx.find_root().obj or {}
    return load_settings(**{**root, "data_dir": data_dir or root.get("data_dir")})


@eval_app.command("recs")
def eval_recs(
    sequences: Path = typer.Option(..., help="sequences.txt: 'user item item ...' per line."),
    items: Path | None = typer.Option(None, help="items.jsonl with item_id and text."),
    model: str = typer.Option("sasrec+cooc", help="Model or preset to evaluate."),
    baselines: str = typer.Option("pop,sasrec", help="Comma-separated baselines ('' = none)."),
    cold_items: float = typer.Option(0.0, help="Share of items removed from training."),
    seed: int = typer.Option(42, help="Random seed (split of cold items, models)."),
    max_epochs: int | None = typer.Option(None, help="Cap SASRec epochs (quick runs only)."),
    threads: int | None = typer.Option(None, help="Torch threads (default 1: shared CPUs)."),
    out: Path = typer.Option(Path("metrics.json"), help="Where to write the JSON report."),
    engine: str = typer.Option(
        "local", help="Where to fit: 'local' (this process) or 'ray' (a Ray cluster)."
    ),
    address: str | None = typer.Option(
        None, help="Ray cluster address (--engine ray); default: a local Ray on 127.0.0.1."
    ),
) -> None:
    """Evaluate a recommender under the leave-one-out full-ranking protocol (PROTOCOL.md)."""
    from shelf.evaluate.recs_run import run_recs_eval

    mode = _engine(engine, address)

    overrides: dict[str, Any] = {}
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    if threads is not None:
        overrides["threads"] = threads
    names = [b.strip() for b in baselines.split(",") if b.strip()]
    with engine_session(mode, address):
        report = run_recs_eval(
            sequences,
            items=items,
            model=model,
            baselines=names,
            cold_items=cold_items,
            seed=seed,
            overrides=overrides,
            log=say,
            engine=mode,
        )
    out.write_text(json.dumps(report, indent=2, default=str))
    say(
        f"{model}: NDCG@10 {report['ndcg@10']:.4f} HR@10 {report['hr@10']:.4f} "
        f"({report['train_seconds']:.0f} s) -> {out}"
    )


@app.command("train")
def train(
    ctx: typer.Context,
    sequences: Path | None = typer.Option(None, help="Train from a sequences.txt file."),
    items: Path | None = typer.Option(None, help="items.jsonl with item text (text models)."),
    model: str = typer.Option("sasrec+cooc", help="Personal model or preset."),
    max_epochs: int | None = typer.Option(None, help="Cap SASRec epochs."),
    force: bool = typer.Option(False, help="Promote even if worse than the current version."),
    data_dir: Path | None = typer.Option(None, help="Data directory (settings.data_dir)."),
    events: str | None = typer.Option(
        None, help="Train from a Parquet event log: a directory or a glob of partitions."
    ),
    engine: str = typer.Option(
        "local", help="Where to run: 'local' (this process) or 'ray' (a Ray cluster)."
    ),
    address: str | None = typer.Option(
        None, help="Ray cluster address (--engine ray); default: a local Ray on 127.0.0.1."
    ),
) -> None:
    """Train the recommendation bundle on the store's events (or a file) and promote it."""
    from shelf.train.recs import train_bundle

    settings = _settings(ctx, data_dir)
    mode = _engine(engine, address)
    overrides: dict[str, Any] = {} if max_epochs is None else {"max_epochs": max_epochs}
    with engine_session(mode, address):
        data, texts, fingerprint = _training_data(settings, sequences, items, events, mode)
        with training_progress(settings, model, overrides) as on_epoch:
            version, promoted, metrics = train_bundle(
                data,
                settings.artifacts_dir,
                model=model,
                texts=texts,
                overrides=overrides,
                data_fingerprint=fingerprint,
                force=force,
                log=say,
                on_epoch=on_epoch,
                engine=mode,
            )
            on_epoch.finished(version.name, promoted, metrics)
    state = "promoted" if promoted else "kept (not better than the promoted version)"
    say(f"wrote {version} — {state}; metrics: {json.dumps(metrics)}")


def _engine(engine: str, address: str | None) -> Engine:
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if address is not None and engine != "ray":
        raise typer.BadParameter("--address needs --engine ray")
    return "ray" if engine == "ray" else "local"


@contextmanager
def engine_session(engine: Engine, address: str | None) -> Iterator[None]:
    """A Ray session for the command when ``engine`` is 'ray' (local on loopback by default)."""
    if engine != "ray":
        yield
        return
    from shelf.scale.cluster import connect

    with connect(address):
        yield


def _training_data(
    settings: Settings,
    sequences: Path | None,
    items: Path | None,
    events: str | None,
    engine: Engine,
) -> tuple[SequenceData, dict[str, str], str]:
    """What ``shelf train`` fits on: a sequences file, a Parquet log or the store."""
    from shelf.formats.benchmarks import file_fingerprint, read_item_texts, read_sequences
    from shelf.ingest.pseudonym import Pseudonymizer
    from shelf.train.recs import training_data_from_events, training_data_from_store

    if sequences is not None and events is not None:
        raise typer.BadParameter("give --sequences or --events, not both")
    texts = read_item_texts(items) if items is not None else {}
    # the artifact knows users by pseudonym, as the store does: no raw id on disk
    pseudonym = Pseudonymizer.from_key_file(settings.key_path).pseudonym
    if sequences is not None:
        from shelf.recommend.data import encode_sequences

        users, seqs = read_sequences(sequences)
        data = encode_sequences([pseudonym(u) for u in users], seqs, list(texts))
        return data, texts, file_fingerprint(sequences)
    if events is not None:
        data, fingerprint = training_data_from_events(
            events, extra_items=list(texts), engine=engine
        )
        named = dataclasses.replace(data, users=[pseudonym(u) for u in data.users], user_index={})
        return named, texts, fingerprint
    data, store_texts, fingerprint = training_data_from_store(settings.store_url, engine)
    return data, {**store_texts, **texts}, fingerprint


class EpochProgress:
    """A rich progress bar over a training's epochs (validation NDCG and an ETA beside it)
    that also keeps ``<data dir>/training.json`` current for servers and pages."""

    def __init__(self, status: TrainingStatus, bar: Progress, max_epochs: int | None) -> None:
        self.status = status
        self.bar = bar
        self.max_epochs = max_epochs
        self.task = bar.add_task("training", total=max_epochs, val="")

    def __call__(self, record: dict[str, float]) -> None:
        val = record.get("val_ndcg@10")
        shown = f"val NDCG@10 {val:.4f}" if val is not None else ""
        self.bar.update(self.task, completed=int(record.get("epoch", 0)), val=shown)
        self.status.epoch(record, self.max_epochs)

    def finished(self, version: str, promoted: bool, metrics: dict[str, Any]) -> None:
        self.status.finished(version, promoted, metrics)


@contextmanager
def training_progress(
    settings: Settings, model: str, overrides: dict[str, Any]
) -> Iterator[EpochProgress]:
    """Progress of ``model``'s training on the console and in the status file."""
    from shelf.train.recs import max_epochs_of

    status = TrainingStatus(settings.data_dir, model)
    max_epochs = max_epochs_of(model, overrides)
    status.started(max_epochs)
    columns = (
        TextColumn("epoch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[val]}"),
    )
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            yield EpochProgress(status, bar, max_epochs)
    except BaseException as exc:
        status.failed(f"{type(exc).__name__}: {exc}")
        raise


@app.command("recommend")
def recommend(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The shopper's raw user id (pseudonymised here)."),
    n: int = typer.Option(10, help="How many items."),
    exclude: str = typer.Option("", help="Comma-separated item ids to leave out."),
    category: str | None = typer.Option(None, help="Only items of this category."),
    data_dir: Path | None = typer.Option(None, help="Data directory (settings.data_dir)."),
) -> None:
    """Print recommendations for USER from the promoted artifact, with source and reasons."""
    from shelf import artifacts
    from shelf.errors import ArtifactError
    from shelf.ingest.pseudonym import Pseudonymizer
    from shelf.recommend.service import RecommendService
    from shelf.train.recs import ARTIFACT_NAME

    settings = _settings(ctx, data_dir)
    version = artifacts.promoted(settings.artifacts_dir, ARTIFACT_NAME)
    if version is None:
        raise ArtifactError(f"no promoted {ARTIFACT_NAME!r} artifact: run `shelf train` first")
    service = RecommendService.from_artifact(version)
    user_key = Pseudonymizer.from_key_file(settings.key_path).pseudonym(user)
    answer = service.for_you(
        user_key, n, exclude=[e for e in exclude.split(",") if e], category=category
    )
    typer.echo(f"source: {answer.source}")
    for rank, rec in enumerate(answer.items, start=1):
        typer.echo(f"{rank:>3}. {rec.item_id}  {rec.score:.4f}  {rec.reason}")
