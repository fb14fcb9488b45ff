"""Model names -> classes (what ``--model`` and saved artifacts refer to)."""

from __future__ import annotations

from typing import Any

from shelf.recommend.base import Recommender
from shelf.recommend.blend import Blend
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.mf import ALS, BPR
from shelf.recommend.ncf import NCF
from shelf.recommend.popularity import Popularity, Trending
from shelf.recommend.sasrec import SASRec
from shelf.recommend.textknn import TextKNN

MODELS: dict[str, type[Recommender]] = {
    "pop": Popularity,
    "trending": Trending,
    "cooc": ItemCooccurrence,
    "als": ALS,
    "bpr": BPR,
    "ncf": NCF,
    "sasrec": SASRec,
    "blend": Blend,
    "textknn": TextKNN,
}

# Named configurations: model name -> (class name, default params).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "sasrec-text": ("sasrec", {"use_text": True, "id_dropout": 0.3}),
    "sasrec+cooc": ("blend", {"parts": [["sasrec", {}], ["cooc", {}]]}),
    "sasrec-text+textknn": (
        "blend",
        {"parts": [["sasrec", {"use_text": True, "id_dropout": 0.3}], ["textknn", {}]]},
    ),
    "sasrec-text+cooc+textknn": (
        "blend",
        {
            "parts": [
                ["sasrec", {"use_text": True, "id_dropout": 0.3}],
                ["cooc", {}],
                ["textknn", {}],
            ]
        },
    ),
    "sasrec-text+cooc": (
        "blend",
        {"parts": [["sasrec", {"use_text": True, "id_dropout": 0.3}], ["cooc", {}]]},
    ),
}


def build(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by name or preset (``params`` override the preset's)."""
    if name in PRESETS:
        base, defaults = PRESETS[name]
        merged = {**defaults, **params}
        return MODELS[base](**merged)
    if name not in MODELS:
        known = sorted([*MODELS, *PRESETS])
        raise ValueError(f"unknown model {name!r}; known: {', '.join(known)}")
    return MODELS[name](**params)
