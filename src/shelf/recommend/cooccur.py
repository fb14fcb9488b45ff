"""Item-to-item models: co-occurrence ("similar items") and frequently-bought-together (lift).

*Similar items*: ``D_d[i, j]`` counts how often item ``i`` comes ``d`` positions before item
``j`` in one user's sequence (``d = 1..window``); the weighted matrix is
``W = Σ_d (forward · D_d + D_dᵀ) / d`` (the later item of a pair gets ``forward`` times the
weight of the earlier one, so "what comes next" ranks first), normalised as
``W_ij / (sqrt(n_i n_j) + shrink)`` (item-based CF, Sarwar et al., WWW 2001; Linden et al.,
IEEE Internet Computing 2003).
A history is scored as the recency-weighted sum of its items' rows (``decay`` per step back).

*Frequently bought together*: within baskets (sessions) of purchases, lift
``P(i, j) / (P(i) P(j)) = N_ij * N / (N_i * N_j)`` (Agrawal et al., SIGMOD 1993) with a minimum
support ``min_support``; when no purchase basket holds two different items (or there is no
purchase data), adjacent items of a sequence form the baskets.
Only the ``top`` strongest neighbours per item are kept, as CSR arrays.

The model keeps the integer counts (``D_d``, ``n``, ``N_ij``, ``N_i``, ``N``) and each user's
training records, and derives both matrices from the counts
(:mod:`shelf.recommend.counts`), so :meth:`forget_users` is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from shelf.recommend.base import Results
from shelf.recommend.counts import (
    BasketCounts,
    CountsRecommender,
    UserRecords,
    adjacent_baskets,
    csr_arrays,
    csr_from,
    distance_pairs,
    distance_weighted,
    item_counts,
    lift,
    prune_rows,
    purchase_baskets,
    shrunk_cosine,
    subtract,
    subtract_vector,
)
from shelf.recommend.data import SequenceData

BASKET_SOURCES = ("purchases", "adjacent")


class CoocCounts(NamedTuple):
    """What co-occurrence counts: the distance pairs ``D_d``, the occurrences ``n``, the
    purchase baskets (None without purchase data) and the adjacent-pair baskets (both, so
    shards that are summed can still choose the way a fit on all of them would)."""

    pairs: list[sp.csr_matrix]
    occurrences: np.ndarray
    purchases: BasketCounts | None
    adjacent: BasketCounts


class ItemCooccurrence(CountsRecommender):
    """Item-item co-occurrence recommender, with :meth:`bought_together` (lift)."""

    name = "cooc"
    can_add_items = True

    def __init__(
        self,
        *,
        window: int = 5,
        forward: float = 2.0,
        decay: float = 0.7,
        top: int = 100,
        min_support: int = 2,
        shrink: float = 100.0,
    ) -> None:
        self.window = window
        self.forward = forward
        self.decay = decay
        self.top = top
        self.min_support = min_support
        self.shrink = shrink

    # ---- counts -------------------------------------------------------------------------
    def _records(self, data: SequenceData) -> UserRecords:
        records = super()._records(data)
        if data.baskets is not None and data.purchased is not None:
            records.baskets = [np.asarray(b, np.int64) for b in data.baskets]
            records.purchased = [np.asarray(p, bool) for p in data.purchased]
        return records

    def tally(self, records: UserRecords, n_items: int) -> CoocCounts:
        if self.window < 1:
            raise ValueError(f"cooc needs window >= 1, got {self.window}")
        purchases = None if records.baskets is None else purchase_baskets(records, n_items)
        return CoocCounts(
            distance_pairs(records.sequences, n_items, self.window),
            item_counts(records.sequences, n_items),
            purchases,
            adjacent_baskets(records.sequences, n_items),
        )

    def _set_counts(self, counts: CoocCounts) -> None:
        self.pair_counts_ = counts.pairs
        self.occurrences_ = counts.occurrences
        if counts.purchases is not None and counts.purchases.pairs.nnz:
            self.basket_source_, self.baskets_ = "purchases", counts.purchases
        else:
            self.basket_source_, self.baskets_ = "adjacent", counts.adjacent

    def _uncount(self, records: UserRecords) -> None:
        gone = distance_pairs(records.sequences, self.n_items, self.window)
        self.pair_counts_ = [subtract(c, g) for c, g in zip(self.pair_counts_, gone, strict=True)]
        self.occurrences_ = subtract_vector(
            self.occurrences_, item_counts(records.sequences, self.n_items)
        )
        if self.basket_source_ == "adjacent":
            self.baskets_ = self.baskets_ - adjacent_baskets(records.sequences, self.n_items)
            return
        self.baskets_ = self.baskets_ - purchase_baskets(records, self.n_items)
        if not self.baskets_.pairs.nnz:
            # No co-purchase left: fall back as a fit would, counting the adjacent pairs of
            # the records left (those of the forgotten users are already dropped).
            self.basket_source_ = "adjacent"
            self.baskets_ = adjacent_baskets(self.records_.sequences, self.n_items)

    def _derive(self) -> None:
        weighted = distance_weighted(self.pair_counts_, self.forward)
        self.similar_ = prune_rows(
            shrunk_cosine(weighted, self.occurrences_, self.shrink), self.top
        )
        self.together_ = prune_rows(lift(self.baskets_, self.min_support), self.top)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        rows, cols, vals = [], [], []
        for b, hist in enumerate(histories):
            weights = self.decay ** np.arange(len(hist) - 1, -1, -1, dtype=np.float64)
            rows.append(np.full(len(hist), b))
            cols.append(hist)
            vals.append(weights)
        shape = (len(histories), self.n_items)
        if len(histories) <= 4:  # request path: add the few rows directly (no sparse product)
            out = np.zeros(shape, dtype=np.float32)
            matrix = self.similar_
            for b, hist in enumerate(histories):
                for h, w in zip(hist, vals[b], strict=True):
                    lo, hi = matrix.indptr[h], matrix.indptr[h + 1]
                    out[b, matrix.indices[lo:hi]] += w * matrix.data[lo:hi]
            return out
        if not rows or sum(len(r) for r in rows) == 0:
            return np.zeros(shape, dtype=np.float32)
        weights = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )
        return np.asarray((weights @ self.similar_).toarray(), dtype=np.float32)

    def neighbours(
        self, item_ids: Sequence[str], n: int, kind: str = "similar"
    ) -> list[list[tuple[str, float]]]:
        """Top-``n`` stored neighbours (``kind`` 'similar' or 'together') with their weights."""
        self._check_fitted()
        matrix = self.similar_ if kind == "similar" else self.together_
        out = []
        for index in self.encode_items(item_ids, strict=True):
            lo, hi = matrix.indptr[index], matrix.indptr[index + 1]
            cols, vals = matrix.indices[lo:hi], matrix.data[lo:hi]
            order = np.argsort(-vals, kind="stable")[:n]
            out.append([(self.items_[cols[k]], float(vals[k])) for k in order])
        return out

    def bought_together(self, item_ids: Sequence[str], n: int) -> list[list[tuple[str, float]]]:
        """Items most often bought with each item, by lift."""
        return self.neighbours(item_ids, n, "together")

    def similar_items(self, item_ids: Sequence[str], n: int) -> Results:
        self._check_fitted()
        scores = np.asarray(self.similar_[self.encode_items(item_ids, strict=True)].toarray())
        scores = scores.astype(np.float32)
        scores[scores <= 0] = -np.inf
        return self._results(scores, n)

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items (no co-occurrence yet: they score 0 until retrained)."""
        del text
        self._check_fitted()
        new = [i for i in dict.fromkeys(item_ids) if i not in self.item_index_]
        for item in new:
            self.item_index_[item] = len(self.items_)
            self.items_.append(item)
        n, grow = len(self.items_), np.zeros(len(new), np.int64)
        self.item_counts_ = np.concatenate([self.item_counts_, grow])
        self.occurrences_ = np.concatenate([self.occurrences_, grow])
        self.baskets_ = BasketCounts(
            resized(self.baskets_.pairs, n),
            np.concatenate([self.baskets_.items, grow]),
            self.baskets_.n,
        )
        self.pair_counts_ = [resized(c, n) for c in self.pair_counts_]
        self.similar_ = resized(self.similar_, n)
        self.together_ = resized(self.together_, n)

    counts_key = "occurrences"

    def _count_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "occurrences": self.occurrences_,
            "basket_source": np.array([BASKET_SOURCES.index(self.basket_source_)], np.int64),
            "basket_items": self.baskets_.items,
            "basket_n": np.array([self.baskets_.n], np.int64),
            **csr_arrays("basket_pairs", self.baskets_.pairs),
        }
        for d, counts in enumerate(self.pair_counts_, start=1):
            out.update(csr_arrays(f"pairs_{d}", counts))
        return out

    def _restore_counts(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.items_)
        self.occurrences_ = arrays["occurrences"]
        self.basket_source_ = BASKET_SOURCES[int(arrays["basket_source"][0])]
        pairs = csr_from(arrays, "basket_pairs", n)
        self.baskets_ = BasketCounts(pairs, arrays["basket_items"], int(arrays["basket_n"][0]))
        self.pair_counts_ = [csr_from(arrays, f"pairs_{d}", n) for d in range(1, self.window + 1)]


def resized(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``matrix`` grown to ``n x n`` with empty rows and columns (same dtypes, same layout)."""
    indptr = np.concatenate(
        [matrix.indptr, np.full(n - matrix.shape[0], matrix.indptr[-1], matrix.indptr.dtype)]
    )
    return sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(n, n))
