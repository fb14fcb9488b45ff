"""Matrix factorisation with ``implicit``: ALS (Hu, Koren & Volinsky, ICDM 2008) and BPR
(Rendle et al., UAI 2009) on the binary user-item matrix.

A known user is scored with its learned factors; a user unknown at training time (or scored
from a request-time history) gets the mean factor of its history items (a cheap fold-in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from shelf.recommend.base import Recommender, Validation
from shelf.recommend.data import SequenceData


def user_item_matrix(data: SequenceData) -> sp.csr_matrix:
    """Binary CSR matrix ``(n_users, n_items)`` of training interactions."""
    rows = np.repeat(np.arange(data.n_users), [len(s) for s in data.sequences])
    cols = np.concatenate(data.sequences) if data.sequences else np.zeros(0, np.int64)
    matrix = sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(data.n_users, data.n_items)
    )
    matrix.data[:] = 1.0
    return matrix


class _ImplicitMF(Recommender):
    """Shared scoring and persistence of the implicit factor models."""

    def _model(self) -> Any:
        raise NotImplementedError

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        with threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(user_item_matrix(data), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _forget(self, users: np.ndarray) -> None:
        """Zero the users' factors; the item factors keep what they learned from them until
        a retrain (``forgets_exactly`` is False)."""
        factors = self.user_factors_.copy()
        factors[users] = 0.0
        self.user_factors_ = factors

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        vectors = np.zeros((len(histories), self.item_factors_.shape[1]), dtype=np.float32)
        for b, (u, hist) in enumerate(zip(users, histories, strict=True)):
            if u >= 0:
                vectors[b] = self.user_factors_[u]
            elif len(hist):
                vectors[b] = self.item_factors_[hist].mean(axis=0)
        return vectors @ self.item_factors_.T

    def item_vectors(self) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
        return self.item_factors_ / np.maximum(norms, 1e-9)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]


class ALS(_ImplicitMF):
    """Implicit-feedback ALS (confidence ``1 + alpha``)."""

    name = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int = 42,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _model(self) -> Any:
        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=1,
        )


class BPR(_ImplicitMF):
    """Bayesian personalised ranking with SGD."""

    name = "bpr"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 42,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    def _model(self) -> Any:
        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=1,
        )
