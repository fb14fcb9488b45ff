"""A weighted blend of recommenders, its weights picked on the validation targets.

Each part's scores are standardised per row (zero mean, unit variance over the catalog) so the
weights compare like with like; the final score is ``sum_k w_k * z_k``. The first part has
weight 1; the others' weights are chosen from a grid by validation NDCG@10 (greedy, one part at
a time). Parts are saved as sub-artifacts under ``parts/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shelf.evaluate.recs_metrics import ndcg, target_ranks
from shelf.recommend.base import Recommender, Validation, mask_rows
from shelf.recommend.data import SequenceData

GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Row-wise z-scores (a new array). Four passes over the scores, where ``mean`` and ``std``
    take seven: every for-you request standardises each part over the whole catalog."""
    centred = scores - scores.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", centred, centred) / max(scores.shape[1], 1)
    centred /= np.maximum(np.sqrt(variance), 1e-9)[:, None]
    return centred


class Blend(Recommender):
    """Blend of fitted or unfitted parts (``parts``: list of (name, params) pairs)."""

    name = "blend"

    def __init__(
        self,
        *,
        parts: Sequence[tuple[str, dict[str, Any]]] = (("sasrec", {}), ("cooc", {})),
        weights: Sequence[float] | None = None,
        max_validation: int = 8000,
    ) -> None:
        super().__init__(
            parts=[[n, dict(p)] for n, p in parts],
            weights=None if weights is None else list(weights),
            max_validation=max_validation,
        )
        self.models: list[Recommender] = []

    def with_models(self, models: Sequence[Recommender]) -> Blend:
        """Use these (possibly already fitted) part models instead of building new ones."""
        self.models = list(models)
        return self

    def build_parts(self) -> list[Recommender]:
        """The part models, built (unfitted) from ``parts`` on first use."""
        from shelf.recommend.registry import build

        if not self.models:
            self.models = [build(n, **p) for n, p in self.params["parts"]]
        return self.models

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        for model in self.build_parts():
            if not hasattr(model, "items_"):
                model.fit(data, validation)
        weights = [1.0] + [0.0] * (len(self.models) - 1)
        if self.params["weights"] is not None:
            weights = list(self.params["weights"])
        elif validation is not None and len(validation.targets):
            weights = self._tune(validation)
        self.weights_ = np.array(weights, dtype=np.float32)
        self.params["weights"] = [float(w) for w in self.weights_]

    def _tune(self, validation: Validation) -> list[float]:
        limit = self.params["max_validation"]
        users = validation.users[:limit]
        hist = validation.histories[:limit]
        targets = validation.targets[:limit]
        parts = [standardise(np.asarray(m.score(users, hist), np.float32)) for m in self.models]
        weights = [1.0] + [0.0] * (len(parts) - 1)
        for k in range(1, len(parts)):
            best_w, best = 0.0, -1.0
            for w in GRID:
                total = sum(wj * pj for wj, pj in zip(weights, parts, strict=True)) + w * parts[k]
                mask_rows(total, hist)
                value = ndcg(target_ranks(total, targets), 10)
                if value > best:
                    best_w, best = w, value
            weights[k] = best_w
        self.validation_ndcg10_ = best if len(parts) > 1 else None
        return weights

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        total = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for w, model in zip(self.weights_, self.models, strict=True):
            if w != 0:
                part = standardise(np.asarray(model.score(users, histories), np.float32))
                part *= w
                total += part
        return total

    @property
    def can_add_items(self) -> bool:
        """Whether every part can register new items without retraining."""
        return all(getattr(m, "can_add_items", False) for m in self.models)

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items in every part (each part must support it)."""
        self._check_fitted()
        for model in self.models:
            adder = getattr(model, "add_items", None)
            if adder is None:
                raise ValueError(f"blend part {model.name!r} cannot add items without retraining")
            adder(item_ids, text)
        first = self.models[0]
        self.items_ = list(first.items_)
        self.item_index_ = dict(first.item_index_)
        self.item_counts_ = first.item_counts_.copy()

    def item_vectors(self) -> np.ndarray | None:
        return self.models[0].item_vectors()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]

    def save(self, path: str | Path) -> Path:
        root = super().save(path)
        for k, model in enumerate(self.models):
            model.save(root / "parts" / f"{k}-{model.name}")
        return root

    def _load_parts(self, root: Path) -> None:
        parts = sorted((root / "parts").iterdir(), key=lambda p: int(p.name.split("-")[0]))
        self.models = [Recommender.load(p) for p in parts]
