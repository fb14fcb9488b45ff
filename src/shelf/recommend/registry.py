"""Model names -> classes (what ``--model`` and saved artifacts refer to), building and loading.

Classes are imported when first named, so importing the registry costs nothing (torch comes in
with the first deep model). A blend's parts are built and loaded here, so no model module
imports the registry back.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shelf.errors import ArtifactError
from shelf.recommend.base import FORMAT_VERSION, Recommender

MODELS: dict[str, str] = {
    "pop": "shelf.recommend.popularity:Popularity",
    "trending": "shelf.recommend.popularity:Trending",
    "cooc": "shelf.recommend.cooccur:ItemCooccurrence",
    "als": "shelf.recommend.mf:ALS",
    "bpr": "shelf.recommend.mf:BPR",
    "ncf": "shelf.recommend.ncf:NCF",
    "sasrec": "shelf.recommend.sasrec:SASRec",
    "sasrec-text": "shelf.recommend.sasrec:TextSASRec",
    "blend": "shelf.recommend.blend:Blend",
    "textknn": "shelf.recommend.textknn:TextKNN",
}

# Named blends: name -> the parts, each (model name, params).
PRESETS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "sasrec+cooc": [("sasrec", {}), ("cooc", {})],
    "cooc+textknn": [("cooc", {}), ("textknn", {})],
    "sasrec-text+textknn": [("sasrec-text", {}), ("textknn", {})],
    "sasrec-text+cooc+textknn": [("sasrec-text", {}), ("cooc", {}), ("textknn", {})],
    "sasrec-text+cooc": [("sasrec-text", {}), ("cooc", {})],
}
DEEP_MODELS = ("sasrec", "sasrec-text")  # the models ``deep_params`` reach


def known_models() -> list[str]:
    return sorted([*MODELS, *PRESETS])


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(known_models())}")
    module, _, attribute = MODELS[name].partition(":")
    klass: type[Recommender] = getattr(importlib.import_module(module), attribute)
    return klass


def build(name: str, *, deep_params: Mapping[str, Any] | None = None, **params: Any) -> Recommender:
    """A new, unfitted model by name or preset. ``params`` are its hyperparameters;
    ``deep_params`` are given to every SASRec model inside it (seeds, epoch caps, threads)."""
    deep = dict(deep_params or {})
    if name in PRESETS:
        return build("blend", deep_params=deep, parts=PRESETS[name], **params)
    if name == "blend":
        from shelf.recommend.blend import Blend

        blend = Blend(**params)
        return blend.with_models([build(n, deep_params=deep, **p) for n, p in blend.parts])
    merged = {**params, **deep} if name in DEEP_MODELS else params
    return model_class(name)(**merged)


def load(path: str | Path) -> Recommender:
    """A fitted model saved by :meth:`Recommender.save` (the class is read from the artifact)."""
    root = Path(path)
    try:
        meta = json.loads((root / "model.json").read_text())
        vocab = json.loads((root / "vocab.json").read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{root}: unreadable model artifact ({exc})") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{root}: format {meta.get('format_version')} not supported")
    name, params = str(meta["model"]), dict(meta["params"])
    if name == "sasrec" and params.pop("use_text", False):
        name = "sasrec-text"  # artifacts written before the text-aware variant had its class
    if name not in MODELS:
        raise ArtifactError(f"{root}: unknown model {name!r}")
    arrays = {k: np.load(root / f"{k}.npy", allow_pickle=False) for k in meta["arrays"]}
    model = model_class(name)(**params)
    if name == "blend":
        from shelf.recommend.blend import Blend

        assert isinstance(model, Blend)
        parts = sorted((root / "parts").iterdir(), key=lambda p: int(p.name.split("-")[0]))
        model.with_models([load(p) for p in parts])
    try:
        return model.restore(vocab, arrays, meta.get("train_seconds"))
    except ArtifactError as exc:
        raise ArtifactError(f"{root}: {exc}") from exc
