"""A weighted blend of recommenders, its weights picked on the validation targets.

Each part's scores are standardised per row (zero mean, unit variance over the catalog) so the
weights compare like with like; the final score is ``sum_k w_k * z_k``. The first part has
weight 1; the others' weights are chosen from a grid by validation NDCG@10 (greedy, one part at
a time). Parts are saved as sub-artifacts under ``parts/``.

Erasure reaches every part. The blend forgets exactly when every part does and its weights
were not tuned on the users' validation targets (tuned weights are learned from users too: a
fit without a user could pick others).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shelf.recommend.base import Recommender, Validation, mask_rows
from shelf.recommend.data import SequenceData
from shelf.recommend.metrics import ndcg, target_ranks

GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Row-wise z-scores (a new array). Four passes over the scores, where ``mean`` and ``std``
    take seven: every for-you request standardises each part over the whole catalog."""
    centred = scores - scores.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", centred, centred) / max(scores.shape[1], 1)
    centred /= np.maximum(np.sqrt(variance), 1e-9)[:, None]
    return centred


class Blend(Recommender):
    """Blend of part models (``parts``: list of (name, params) pairs, built into models by
    :func:`shelf.recommend.registry.build`; parts already fitted are kept as they are)."""

    name = "blend"

    def __init__(
        self,
        *,
        parts: Sequence[tuple[str, dict[str, Any]] | list[Any]] = (("sasrec", {}), ("cooc", {})),
        weights: Sequence[float] | None = None,
        max_validation: int = 8000,
    ) -> None:
        self.parts: list[tuple[str, dict[str, Any]]] = [(str(n), dict(p)) for n, p in parts]
        self.weights = None if weights is None else [float(w) for w in weights]
        self.max_validation = max_validation
        self.models: list[Recommender] = []

    def with_models(self, models: Sequence[Recommender]) -> Blend:
        """Use these (possibly already fitted) part models, one per entry of ``parts``."""
        if len(models) != len(self.parts):
            raise ValueError(f"a blend of {len(self.parts)} parts got {len(models)} models")
        self.models = list(models)
        return self

    @property
    def needs_item_text(self) -> bool:  # type: ignore[override]
        return any(m.needs_item_text for m in self.models)

    @property
    def can_add_items(self) -> bool:  # type: ignore[override]
        """Whether every part can register new items without retraining."""
        return bool(self.models) and all(m.can_add_items for m in self.models)

    @property
    def forgets_exactly(self) -> bool:  # type: ignore[override]
        """Whether every part forgets exactly and the weights were given, not tuned."""
        tuned = getattr(self, "tuned_", self.weights is None)
        return bool(self.models) and all(m.forgets_exactly for m in self.models) and not tuned

    def forget_users(self, user_ids: Sequence[str]) -> list[str]:
        """Erase the users from every part and from the blend's own histories; returns the
        ids known to the blend or to any part."""
        known = set()
        for model in self.models:
            known.update(model.forget_users(user_ids))
        known.update(super().forget_users(user_ids))
        return [u for u in dict.fromkeys(user_ids) if u in known]

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        if not self.models:
            raise ValueError("a blend needs its part models: build it with registry.build")
        for model in self.models:
            if not model.is_fitted:
                model.fit(data, validation)
        weights = [1.0] + [0.0] * (len(self.models) - 1)
        self.tuned_ = False
        if self.weights is not None:
            weights = list(self.weights)
        elif validation is not None and len(validation.targets):
            weights = self._tune(validation)
            self.tuned_ = True
        self.weights_ = np.array(weights, dtype=np.float32)

    def _tune(self, validation: Validation) -> list[float]:
        limit = self.max_validation
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

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items in every part (each part must support it)."""
        self._check_fitted()
        for model in self.models:
            if not model.can_add_items:
                raise ValueError(f"blend part {model.name!r} cannot add items without retraining")
            model.add_items(item_ids, text)
        first = self.models[0]
        self.items_ = list(first.items_)
        self.item_index_ = dict(first.item_index_)
        self.item_counts_ = first.item_counts_.copy()

    def item_vectors(self) -> np.ndarray | None:
        return self.models[0].item_vectors()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "tuned": np.array([self.tuned_])}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]
        # artifacts from before erasure did not say: tuned unless weights were given
        self.tuned_ = bool(arrays["tuned"][0]) if "tuned" in arrays else self.weights is None

    def save(self, path: str | Path) -> Path:
        root = super().save(path)
        for k, model in enumerate(self.models):
            model.save(root / "parts" / f"{k}-{model.name}")
        return root
