"""``shelf train``: fit the serving bundle (personal model, co-occurrence, trending) on
interactions from the store or a file, score it on the leave-one-out holdout, and write a
versioned artifact.

The personal model is fitted on every user's sequence minus its last two items (validation
target for early stopping, test target for the recorded metrics); the stored histories are the
full sequences, so the served model reads each user's latest items. Co-occurrence and trending
are fitted on everything.

``engine="ray"`` runs the same stages on a Ray cluster (:mod:`shelf.scale`, opened by the
caller): sequences built from the events block by block and the counts models tallied per
shard of users, with results identical to the local fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shelf import artifacts
from shelf.catalog import recommender_text
from shelf.recommend.base import Recommender
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.counts import CountsRecommender
from shelf.recommend.data import Interactions, SequenceData, sequences_from_interactions
from shelf.recommend.holdout import holdout_metrics, split_holdout
from shelf.recommend.popularity import Trending
from shelf.recommend.registry import build
from shelf.recommend.text import item_embeddings
from shelf.store import open_store
from shelf.train.engines import Engine, fit_counts

if TYPE_CHECKING:
    from shelf.recommend.sasrec import SASRec

ARTIFACT_NAME = "recs"


def training_data_from_events(
    source: str | Path, *, extra_items: Sequence[str] = (), engine: Engine = "local"
) -> tuple[SequenceData, str]:
    """Sequences from a Parquet event log (a directory or a glob of partitions), and the
    log's fingerprint; with ``engine="ray"`` read and built across the cluster."""
    from shelf.formats.eventlog import (
        event_files,
        interactions_from_tables,
        log_fingerprint,
        read_event_file,
    )

    files = event_files(source)
    if engine == "ray":
        from shelf.scale.events import parquet_dataset, sequences_from_dataset

        data = sequences_from_dataset(parquet_dataset(source), extra_items=extra_items)
    else:
        tables = [read_event_file(f) for f in files]
        data = sequences_from_interactions(
            interactions_from_tables(tables), extra_items=extra_items
        )
    return data, log_fingerprint(files)


def training_data_from_store(
    url: str, engine: Engine = "local"
) -> tuple[SequenceData, dict[str, str], str]:
    """Events and item texts from the store (interactions -> sequences), and a fingerprint
    of the events."""
    if engine == "ray":
        return _store_data_on_ray(url)
    store = open_store(url)
    try:
        cols = store.event_columns()
        keep = [k for k in range(len(cols)) if cols.item_id[k] is not None]
        interactions = Interactions(
            user=[str(cols.user_key[k]) for k in keep],
            item=[str(cols.item_id[k]) for k in keep],
            timestamp=[float(cols.timestamp_ms[k]) / 1000.0 for k in keep],
            type=[str(cols.type[k]) for k in keep],
            session=[cols.session_id[k] for k in keep],
        )
        texts = {item.item_id: recommender_text(item.model_dump()) for item in store.iter_items()}
    finally:
        store.close()
    data = sequences_from_interactions(interactions, extra_items=list(texts))
    digest = hashlib.sha256(np.asarray(cols.timestamp_ms).tobytes()).hexdigest()
    return data, texts, digest


def _store_data_on_ray(url: str) -> tuple[SequenceData, dict[str, str], str]:
    """The store's events (one reader: the driver) built into sequences on the cluster."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from shelf.scale.events import default_blocks, sequences_from_dataset, table_dataset

    store = open_store(url)
    try:
        cols = store.event_columns()
        texts = {item.item_id: recommender_text(item.model_dump()) for item in store.iter_items()}
    finally:
        store.close()
    items = pa.array(cols.item_id.tolist(), pa.string())
    table = pa.table(
        {  # the store hands events in (timestamp, id) order: their rank is their event id
            "event_id": np.arange(len(cols), dtype=np.int64),
            "user_id": pa.array(cols.user_key.tolist(), pa.string()),
            "item_id": items,
            "type": pa.array(cols.type.tolist(), pa.string()),
            "timestamp": cols.timestamp_ms,
            "session_id": pa.array(cols.session_id.tolist(), pa.string()),
        }
    ).filter(pc.is_valid(items))
    dataset = table_dataset(table, default_blocks())
    data = sequences_from_dataset(dataset, extra_items=list(texts))
    digest = hashlib.sha256(np.asarray(cols.timestamp_ms).tobytes()).hexdigest()
    return data, texts, digest


def train_bundle(
    data: SequenceData,
    root: str | Path,
    *,
    model: str = "sasrec+cooc",
    texts: Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    data_fingerprint: str | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    engine: Engine = "local",
) -> tuple[Path, bool, dict[str, Any]]:
    """Fit, evaluate and save the bundle; returns (version dir, promoted?, metrics).
    ``on_epoch`` hears every epoch of the deep models (epoch, loss, validation NDCG);
    ``engine="ray"`` fits the counts models on the open Ray session."""
    say = log or (lambda _m: None)
    start = time.perf_counter()
    personal = build(model, deep_params=overrides)
    if on_epoch is not None:
        for part in deep_parts(personal):
            part.progress = on_epoch
    if personal.needs_item_text:
        text = item_embeddings(data.items, dict(texts or {}))
        data = dataclasses.replace(data, item_text=text)
    split = split_holdout(data)
    val, test = split.validation, split.test
    say(f"fitting {model} on {data.n_users} users, {data.n_items} items")
    if isinstance(personal, CountsRecommender):
        fit_counts(personal, split.train, engine)
    else:
        personal.fit(split.train, val if len(val.targets) else None)
    metrics: dict[str, Any] = {}
    if len(test.targets):
        metrics = holdout_metrics(personal, test)
        say(f"test NDCG@10 {metrics['ndcg@10']:.4f}, HR@10 {metrics['hr@10']:.4f}")
    # Serve with the full histories (the model reads them at request time).
    personal.update_histories(data)
    cooc = fit_counts(ItemCooccurrence(), data, engine)
    trending = fit_counts(Trending(), data, engine)
    version = artifacts.new_version(root, ARTIFACT_NAME)
    personal.save(version / "personal")
    cooc.save(version / "cooc")
    trending.save(version / "trending")
    bought = bought_by_user(data)
    (version / "bought.json").write_text(json.dumps(bought))
    metrics["train_seconds"] = time.perf_counter() - start
    artifacts.write_meta(
        version,
        {
            "name": ARTIFACT_NAME,
            "model": model,
            "engine": engine,
            "params": personal.get_params(),
            "metrics": metrics,
            "data": {
                "fingerprint": data_fingerprint,
                "n_users": data.n_users,
                "n_items": data.n_items,
                "n_interactions": int(sum(len(s) for s in data.sequences)),
            },
            "protocol": "leave-one-out, full ranking, history excluded (test = last item)",
        },
    )
    promoted = artifacts.promote(root, ARTIFACT_NAME, version, force=force)
    return version, promoted, metrics


def deep_parts(model: Recommender) -> list[SASRec]:
    """The SASRec models in ``model`` (itself, or a blend's parts)."""
    from shelf.recommend.blend import Blend
    from shelf.recommend.sasrec import SASRec

    parts = model.models if isinstance(model, Blend) else [model]
    return [p for p in parts if isinstance(p, SASRec)]


def max_epochs_of(model: str, overrides: Mapping[str, Any] | None = None) -> int | None:
    """The epoch cap of the deep models a model name builds (None when it has none)."""
    parts = deep_parts(build(model, deep_params=overrides))
    return max((p.max_epochs for p in parts), default=None)


def bought_by_user(data: SequenceData) -> dict[str, list[str]]:
    """Each user's purchased items (empty without purchase flags)."""
    if data.purchased is None:
        return {}
    out: dict[str, list[str]] = {}
    for user, seq, flags in zip(data.users, data.sequences, data.purchased, strict=True):
        if flags.any():
            out[user] = sorted({data.items[i] for i in seq[flags]})
    return out


def sequences_fingerprint(users: Sequence[str], sequences: Sequence[Sequence[str]]) -> str:
    """SHA-256 over the interaction sequences (a data fingerprint for artifacts)."""
    digest = hashlib.sha256()
    for user, seq in zip(users, sequences, strict=True):
        digest.update(f"{user}\t{' '.join(seq)}\n".encode())
    return digest.hexdigest()
