"""``shelf eval recs``: fit a model and the baselines on one split and report the protocol's
figures as one JSON-ready dict (see :mod:`shelf.evaluate.recs_protocol`)."""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shelf.evaluate.recs_protocol import evaluate, leave_one_out
from shelf.formats.benchmarks import file_fingerprint, read_item_texts, read_sequences
from shelf.recommend.base import Recommender
from shelf.recommend.blend import Blend
from shelf.recommend.counts import CountsRecommender
from shelf.recommend.holdout import Split
from shelf.recommend.registry import build
from shelf.recommend.sasrec import SASRec
from shelf.recommend.text import item_embeddings
from shelf.train.engines import Engine, fit_counts

PROTOCOL = (
    "leave-one-out (train: all but the last two items; validation: second-to-last; test: last, "
    "validation item joins the history), full ranking over all items, input history excluded, "
    "pessimistic ties; early stopping and blend weights on validation targets only"
)
TOP_KEYS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "coverage@10")


def parts_of(model: Recommender) -> list[Recommender]:
    """The model and, for a blend, its parts."""
    return [model, *(model.models if isinstance(model, Blend) else [])]


def run_recs_eval(
    sequences: str | Path,
    *,
    items: str | Path | None = None,
    model: str = "sasrec+cooc",
    baselines: Sequence[str] = ("pop", "sasrec"),
    cold_items: float = 0.0,
    seed: int = 42,
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    engine: Engine = "local",
) -> dict[str, Any]:
    """Fit ``model`` and each baseline on the protocol's split of ``sequences`` and report;
    with ``engine="ray"`` the counts models are counted on the open Ray session (the same
    fit, so the same report)."""
    say = log or (lambda _msg: None)
    deep = {"random_state": seed, **(overrides or {})}
    users, seqs = read_sequences(sequences)
    texts = read_item_texts(items) if items is not None else {}
    split = leave_one_out(users, seqs, extra_items=list(texts), cold_fraction=cold_items, seed=seed)
    say(
        f"{split.train.n_users} users, {split.train.n_items} items, "
        f"{len(split.test.targets)} test targets, {len(split.cold_items)} cold items"
    )
    main = build(model, deep_params=deep)
    others = {n: build(n, deep_params=deep) for n in baselines if n != model}
    if any(m.needs_item_text for m in (main, *others.values())):
        if not texts:
            raise ValueError("a text-aware model needs --items with item text")
        text = item_embeddings(split.train.items, texts)
        split = dataclasses.replace(split, train=dataclasses.replace(split.train, item_text=text))
    fitted: dict[str, Recommender] = {}
    report = _fit_and_score(main, split, seed, say, model, engine)
    if isinstance(main, Blend):
        report["blend_weights"] = [float(w) for w in main.weights_]
        for part in main.models:
            fitted[part.name] = part
    out: dict[str, Any] = {k: report[k] for k in TOP_KEYS}
    out["train_seconds"] = report["train_seconds"]
    out["model"] = model
    out["seed"] = seed
    out["validation"] = report["validation"]
    out["classification"] = report["classification"]
    if "cold" in report:
        out["cold"] = report["cold"]
    if "blend_weights" in report:
        out["blend_weights"] = report["blend_weights"]
    out["params"] = main.get_params()
    out["baselines"] = {}
    for name, base in others.items():
        reused = fitted.get(name)
        if reused is not None:
            say(f"baseline {name}: the blend's {name} part (same fit), scored alone")
            base_report = _score(reused, split, seed, reused.train_seconds_, name)
        else:
            base_report = _fit_and_score(base, split, seed, say, name, engine)
        out["baselines"][name] = base_report
    out["protocol"] = PROTOCOL
    out["data"] = {
        "sequences": str(sequences),
        "sha256": file_fingerprint(sequences),
        "items": str(items) if items is not None else None,
        "n_users": split.train.n_users,
        "n_items": split.train.n_items,
        "n_interactions": int(sum(len(s) for s in seqs)),
        "n_test_users": len(split.test.targets),
        "cold_fraction": cold_items,
    }
    out["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    return out


def _fit_and_score(
    model: Recommender,
    split: Split,
    seed: int,
    say: Callable[[str], None],
    name: str,
    engine: Engine = "local",
) -> dict[str, Any]:
    for part in parts_of(model):
        if isinstance(part, SASRec):
            part.progress = lambda r, n=name: say(f"{n}: {_fmt(r)}")
    say(f"fitting {name} ...")
    start = time.perf_counter()
    if isinstance(model, CountsRecommender):
        fit_counts(model, split.train, engine)  # counts ignore the validation targets
    else:
        model.fit(split.train, split.validation)
    seconds = time.perf_counter() - start
    return _score(model, split, seed, seconds, name, say)


def _score(
    model: Recommender,
    split: Split,
    seed: int,
    seconds: float | None,
    name: str,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    result = evaluate(model, split.test, cold_items=split.cold_items, seed=seed)
    val = evaluate(model, split.validation, seed=seed, negatives=1)
    result["validation"] = {k: val[k] for k in ("hr@10", "ndcg@10", "mrr")}
    result["train_seconds"] = seconds
    if isinstance(model, SASRec):
        result["best_epoch"] = getattr(model, "best_epoch_", None)
        result["epochs"] = len(getattr(model, "history_", []))
    if say is not None:
        say(f"{name}: test NDCG@10 {result['ndcg@10']:.4f} HR@10 {result['hr@10']:.4f}")
    return result


def _fmt(record: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
    )
