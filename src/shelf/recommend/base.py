"""The Recommender contract shared by every model, and the ranking helpers behind it.

Batch-first (after implicit): ``fit(data, validation=None) -> self``,
``recommend(user_ids, n, *, exclude=None, candidates=None) -> Results``,
``similar_items(item_ids, n) -> Results``, ``save(path)``; loading is
:func:`shelf.recommend.registry.load`. Every model implements one primitive,
:meth:`Recommender.score`: scores over the whole item vocabulary for a batch of (user index,
history) pairs. Sequential models read the history, so a user's latest events change the next
answer without retraining.

Estimator rules (scikit-learn's): ``__init__`` stores its keyword hyperparameters as
attributes of the same names (:meth:`Recommender.get_params` reads them from the signature);
``fit`` changes none of them and sets learned state in attributes ending in ``_``; item text
comes in through ``fit``'s data (:attr:`SequenceData.item_text`); what a model can do is
declared on its class (``needs_item_text``, ``can_add_items``, ``forgets_exactly``).

Erasure (GDPR Art. 17): :meth:`Recommender.forget_users` drops the users' stored histories
(they are then served as unknown users) and lets the model subtract what it learned from them.
A model with ``forgets_exactly`` is then in the state a fit without those users reaches (the
counts models, :mod:`shelf.recommend.counts`); the others (trained weights) need a retrain.
An erased user's id is blanked (:data:`ERASED`) in ``users_``, so other users keep their index.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np

from shelf.errors import NotFittedError, NotFoundError
from shelf.recommend.data import SequenceData

FORMAT_VERSION = 1
ERASED = ""  # what an erased user's id becomes in ``users_`` (and in a saved vocabulary)


class Results(NamedTuple):
    """Ranked lists: ``ids`` (object array of item ids) and ``scores``, each ``(n_queries, k)``.

    Rows with fewer than ``k`` eligible items are padded with ``""`` and ``-inf``.
    """

    ids: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Validation:
    """Held-out targets for early stopping: user indices, input histories and target items."""

    users: np.ndarray
    histories: list[np.ndarray]
    targets: np.ndarray


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best columns per row, best first (``-inf`` = ineligible)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def mask_rows(scores: np.ndarray, rows: Sequence[np.ndarray]) -> None:
    """Set ``scores[b, rows[b]] = -inf`` in place (history or request-time exclusions)."""
    if not rows:
        return
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    if lengths.sum() == 0:
        return
    row_idx = np.repeat(np.arange(len(rows)), lengths)
    col_idx = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
    scores[row_idx, col_idx] = -np.inf


def pack(ragged: Sequence[np.ndarray], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays as (lengths, concatenation), for ``.npy`` files."""
    lengths = np.array([len(r) for r in ragged], dtype=np.int64)
    flat = np.concatenate(ragged).astype(dtype) if len(ragged) else np.zeros(0, dtype)
    return lengths, flat


def unpack(lengths: np.ndarray, flat: np.ndarray) -> list[np.ndarray]:
    """The ragged arrays :func:`pack` wrote."""
    if len(lengths) == 0:
        return []
    return list(np.split(flat, np.cumsum(lengths)[:-1]))


class Recommender:
    """Base class: vocabulary, stored histories, ranking, filters and persistence.

    Subclasses set ``name``, implement :meth:`_fit` and :meth:`score`, and list their learned
    arrays in :meth:`_arrays` / :meth:`_restore` (saved as ``.npy``, never pickled).
    """

    name: ClassVar[str] = "base"
    needs_item_text: ClassVar[bool] = False  # fit reads SequenceData.item_text
    can_add_items: ClassVar[bool] = False  # add_items registers new items without a refit
    # after forget_users, the learned state equals a fit without those users (no retrain)
    forgets_exactly: ClassVar[bool] = False

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters: every keyword argument of ``__init__`` (and of the parents'
        that a ``**params`` passes on to), read back."""
        names: list[str] = []
        for klass in type(self).__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            params = inspect.signature(init).parameters.values()
            names += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in names]
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return {name: getattr(self, name) for name in names}

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, data: SequenceData, validation: Validation | None = None) -> Self:
        """Learn from ``data``; ``validation`` (if given) drives early stopping only."""
        start = time.perf_counter()
        if self.needs_item_text and (data.item_text is None or len(data.item_text) != data.n_items):
            raise ValueError(f"{self.name} needs item text: one embedding row per item")
        self.items_: list[str] = list(data.items)
        self.item_index_: dict[str, int] = dict(data.item_index)
        self.users_: list[str] = list(data.users)
        self.user_index_: dict[str, int] = dict(data.user_index)
        self.update_histories(data)
        self._fit(data, validation)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def update_histories(self, data: SequenceData) -> None:
        """Serve from ``data``'s histories and item counts (same users and vocabulary as the
        fit, e.g. the full sequences after fitting on a holdout split); nothing is re-learned."""
        if data.users != self.users_ or data.items != self.items_:
            raise ValueError("update_histories needs the users and items the model was fitted on")
        self.histories_: list[np.ndarray] = [np.asarray(s, dtype=np.int64) for s in data.sequences]
        self.item_counts_ = data.item_counts()

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "items_")

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(self.name)

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return len(self.items_)

    # ---- erasure ------------------------------------------------------------------------
    def forget_users(self, user_ids: Sequence[str]) -> list[str]:
        """Erase users: their stored histories leave serving (``recommend`` then treats them
        as unknown users), their ids are blanked, the item counts lose their events, and the
        model subtracts what it learned from them (exactly where :attr:`forgets_exactly`;
        otherwise a retrain without them is still due). Returns the ids that were known."""
        self._check_fitted()
        known = [u for u in dict.fromkeys(user_ids) if u in self.user_index_]
        if not known:
            return []
        users = np.array([self.user_index_[u] for u in known], dtype=np.int64)
        self._forget(users)
        gone = [self.histories_[u] for u in users]
        flat = np.concatenate(gone) if gone else np.zeros(0, np.int64)
        counts = np.bincount(flat, minlength=len(self.item_counts_))
        self.item_counts_ = (self.item_counts_ - counts).astype(self.item_counts_.dtype)
        for user, u in zip(known, users, strict=True):
            self.histories_[u] = np.zeros(0, dtype=np.int64)
            self.users_[u] = ERASED
            del self.user_index_[user]
        return known

    def _forget(self, users: np.ndarray) -> None:
        """Subtract what was learned from these users (indices); by default nothing."""
        del users

    # ---- scoring -------------------------------------------------------------------------
    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores ``(batch, n_items)`` float32 for user indices (``-1`` = unknown) + histories."""
        raise NotImplementedError

    def item_vectors(self) -> np.ndarray | None:
        """L2-normalised item vectors for :meth:`similar_items`, if the model has them."""
        return None

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items (``text``: their embeddings) without retraining; only
        models with ``can_add_items`` do."""
        raise NotImplementedError(f"{self.name} cannot add items without retraining")

    # ---- the contract --------------------------------------------------------------------
    def recommend(
        self,
        user_ids: Sequence[str],
        n: int,
        *,
        exclude: Sequence[Sequence[str]] | None = None,
        candidates: Sequence[str] | None = None,
        exclude_history: bool = True,
    ) -> Results:
        """Top-``n`` items per user from their stored history (unknown users: empty history)."""
        self._check_fitted()
        users = np.array([self.user_index_.get(u, -1) for u in user_ids], dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        histories = [self.histories_[u] if u >= 0 else empty for u in users]
        return self._rank(users, histories, n, exclude, candidates, exclude_history)

    def recommend_histories(
        self,
        histories: Sequence[Sequence[str]],
        n: int,
        *,
        user_ids: Sequence[str | None] | None = None,
        exclude: Sequence[Sequence[str]] | None = None,
        candidates: Sequence[str] | None = None,
        exclude_history: bool = True,
    ) -> Results:
        """Top-``n`` items for histories given at request time (unknown item ids are skipped)."""
        self._check_fitted()
        encoded = [self.encode_items(h) for h in histories]
        ids = user_ids if user_ids is not None else [None] * len(encoded)
        users = np.array([self.user_index_.get(u, -1) if u else -1 for u in ids], np.int64)
        return self._rank(users, encoded, n, exclude, candidates, exclude_history)

    def similar_items(self, item_ids: Sequence[str], n: int) -> Results:
        """Top-``n`` items most similar to each item (the item itself excluded)."""
        self._check_fitted()
        query = self.encode_items(item_ids, strict=True)
        vectors = self.item_vectors()
        if vectors is None:
            scores = self.score(
                np.full(len(query), -1, np.int64), [np.array([i]) for i in query]
            ).astype(np.float32)
        else:
            scores = vectors[query] @ vectors.T
        mask_rows(scores, [np.array([i]) for i in query])
        return self._results(scores, n)

    def encode_items(self, item_ids: Sequence[str], *, strict: bool = False) -> np.ndarray:
        """Item indices of ``item_ids``; unknown ids are dropped (or raise when ``strict``)."""
        out = []
        for item in item_ids:
            index = self.item_index_.get(item)
            if index is None:
                if strict:
                    raise NotFoundError("item", item)
                continue
            out.append(index)
        return np.array(out, dtype=np.int64)

    def _rank(
        self,
        users: np.ndarray,
        histories: Sequence[np.ndarray],
        n: int,
        exclude: Sequence[Sequence[str]] | None,
        candidates: Sequence[str] | None,
        exclude_history: bool,
    ) -> Results:
        scores = np.array(self.score(users, histories), dtype=np.float32, copy=True)
        if exclude_history:
            mask_rows(scores, histories)
        if exclude is not None:
            mask_rows(scores, [self.encode_items(e) for e in exclude])
        if candidates is not None:
            allowed = np.zeros(scores.shape[1], dtype=bool)
            allowed[self.encode_items(candidates)] = True
            scores[:, ~allowed] = -np.inf
        return self._results(scores, n)

    def _results(self, scores: np.ndarray, n: int) -> Results:
        idx, top = top_k(scores, n)
        vocab = getattr(self, "_vocab_array", None)
        if vocab is None or len(vocab) != len(self.items_):
            vocab = np.array(self.items_, dtype=object)
            self._vocab_array = vocab
        ids = vocab[idx]
        ids[~np.isfinite(top)] = ""
        if idx.shape[1] < n:
            pad = n - idx.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values="")
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-np.inf)
        return Results(ids, top.astype(np.float32))

    # ---- persistence ---------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        del arrays

    def save(self, path: str | Path) -> Path:
        """Write params, vocabulary, histories and learned arrays (``.npy``) into ``path``."""
        self._check_fitted()
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        lengths, flat = pack(self.histories_, np.int64)
        arrays = {
            "history_lengths": lengths,
            "history_items": flat,
            "item_counts": self.item_counts_,
        }
        arrays.update({f"model_{k}": v for k, v in self._arrays().items()})
        for key, value in arrays.items():
            np.save(root / f"{key}.npy", np.ascontiguousarray(value), allow_pickle=False)
        model = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "train_seconds": getattr(self, "train_seconds_", None),
            "arrays": sorted(arrays),
        }
        (root / "model.json").write_text(json.dumps(model, indent=2))
        (root / "vocab.json").write_text(json.dumps({"items": self.items_, "users": self.users_}))
        return root

    def restore(
        self, vocab: dict[str, list[str]], arrays: dict[str, np.ndarray], train_seconds: Any
    ) -> Self:
        """The fitted state read back from a saved artifact (what
        :func:`shelf.recommend.registry.load` calls on a freshly built model)."""
        self.items_ = list(vocab["items"])
        self.users_ = list(vocab["users"])
        self.item_index_ = {item: i for i, item in enumerate(self.items_)}
        self.user_index_ = {user: u for u, user in enumerate(self.users_) if user != ERASED}
        self.histories_ = unpack(arrays["history_lengths"], arrays["history_items"])
        self.item_counts_ = arrays["item_counts"]
        self.train_seconds_ = train_seconds
        prefix = "model_"
        self._restore({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        return self
