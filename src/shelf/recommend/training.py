"""``shelf train``: fit the serving bundle (personal model, co-occurrence, trending) on
interactions, evaluate it under the leave-one-out protocol, and write a versioned artifact.

The personal model is fitted on every user's sequence minus its last two items (validation
target for early stopping, test target for the recorded metrics); the stored histories are the
full sequences, so the served model reads each user's latest items. Co-occurrence and trending
are fitted on everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shelf import artifacts
from shelf.evaluate.recs_protocol import evaluate
from shelf.evaluate.recs_run import item_embeddings, needs_text, prepare
from shelf.recommend.base import Validation
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.data import SequenceData
from shelf.recommend.popularity import Trending
from shelf.recommend.registry import build

ARTIFACT_NAME = "recs"


def holdout(data: SequenceData) -> tuple[SequenceData, Validation, Validation]:
    """Training sequences (all but the last two), validation and test targets."""
    train: list[np.ndarray] = []
    val: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    test: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    for u, seq in enumerate(data.sequences):
        train.append(seq[:-2] if len(seq) >= 3 else seq[:0])
        if len(seq) >= 3:
            for store, hist, target in ((val, seq[:-2], seq[-2]), (test, seq[:-1], seq[-1])):
                store[0].append(u)
                store[1].append(hist)
                store[2].append(target)

    def pack(t: tuple[list[Any], list[Any], list[Any]]) -> Validation:
        return Validation(np.array(t[0], np.int64), t[1], np.array(t[2], np.int64))

    return data.replace_sequences(train), pack(val), pack(test)


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
) -> tuple[Path, bool, dict[str, Any]]:
    """Fit, evaluate and save the bundle; returns (version dir, promoted?, metrics)."""
    say = log or (lambda _m: None)
    start = time.perf_counter()
    train, val, test = holdout(data)
    personal = build(model)
    text = None
    if needs_text(personal):
        text = item_embeddings(data.items, dict(texts or {}))
    prepare(personal, dict(overrides or {}), text)
    say(f"fitting {model} on {data.n_users} users, {data.n_items} items")
    personal.fit(train, val if len(val.targets) else None)
    metrics: dict[str, Any] = {}
    if len(test.targets):
        result = evaluate(personal, test)
        metrics = {k: v for k, v in result.items() if isinstance(v, float)}
        say(f"test NDCG@10 {metrics['ndcg@10']:.4f}, HR@10 {metrics['hr@10']:.4f}")
    # Serve with the full histories (the model reads them at request time).
    personal.histories_ = [np.asarray(s, np.int64) for s in data.sequences]
    personal.item_counts_ = data.item_counts()
    cooc = ItemCooccurrence().fit(data)
    trending = Trending().fit(data)
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
            "params": personal.params,
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
    import hashlib

    digest = hashlib.sha256()
    for user, seq in zip(users, sequences, strict=True):
        digest.update(f"{user}\t{' '.join(seq)}\n".encode())
    return digest.hexdigest()
