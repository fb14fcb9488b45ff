"""Item-to-item models: co-occurrence ("similar items") and frequently-bought-together (lift).

*Similar items*: pairs of items in the same user's sequence within ``window`` positions count
``1 / distance`` each; the matrix is normalised as ``C_ij / (sqrt(n_i n_j) + shrink)``
(item-based CF, Sarwar et al., WWW 2001; Linden et al., IEEE Internet Computing 2003), and the
later item of a pair gets ``forward`` times the weight of the earlier one, so "what comes next"
ranks first.
A history is scored as the recency-weighted sum of its items' rows (``decay`` per step back).

*Frequently bought together*: within baskets (sessions) of purchases, lift
``P(i, j) / (P(i) P(j)) = N_ij * N / (N_i * N_j)`` (Agrawal et al., SIGMOD 1993) with a minimum
support ``min_support``; without purchase data, adjacent items of a sequence form the baskets.
Only the ``top`` strongest neighbours per item are kept, as CSR arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from shelf.recommend.base import Recommender, Results, Validation
from shelf.recommend.data import SequenceData


def prune_rows(matrix: sp.csr_matrix, top: int) -> sp.csr_matrix:
    """Keep the ``top`` largest entries of each row."""
    matrix = matrix.tocsr()
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        if hi == lo:
            continue
        data = matrix.data[lo:hi]
        keep = np.argsort(-data, kind="stable")[:top]
        rows.append(np.full(len(keep), r))
        cols.append(matrix.indices[lo:hi][keep])
        vals.append(data[keep])
    if not rows:
        return sp.csr_matrix(matrix.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )


def cooccurrence(
    sequences: Sequence[np.ndarray], n_items: int, window: int, forward: float
) -> sp.csr_matrix:
    """Directed co-occurrence counts weighted ``1/distance`` (row = earlier or later item)."""
    rows, cols, vals = [], [], []
    for seq in sequences:
        for d in range(1, min(window, len(seq) - 1) + 1):
            a, b = seq[:-d], seq[d:]
            rows += [a, b]
            cols += [b, a]
            w = np.full(len(a), 1.0 / d)
            vals += [w * forward, w]
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float64,
    )
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    return matrix


def basket_lift(baskets: Sequence[np.ndarray], n_items: int, min_support: int) -> sp.csr_matrix:
    """Lift of item pairs over baskets (each basket = a set of item indices)."""
    rows, cols = [], []
    item_counts = np.zeros(n_items, dtype=np.float64)
    n_baskets = 0
    for basket in baskets:
        items = np.unique(basket)
        if len(items) == 0:
            continue
        n_baskets += 1
        item_counts[items] += 1
        if len(items) < 2:
            continue
        a, b = np.meshgrid(items, items, indexing="ij")
        off = a != b
        rows.append(a[off])
        cols.append(b[off])
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    pairs = sp.csr_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )
    pairs.sum_duplicates()
    pairs.data[pairs.data < min_support] = 0
    pairs.eliminate_zeros()
    coo = pairs.tocoo()
    lift = coo.data * n_baskets / (item_counts[coo.row] * item_counts[coo.col])
    return sp.csr_matrix((lift, (coo.row, coo.col)), shape=(n_items, n_items))


def baskets_of(data: SequenceData) -> list[np.ndarray]:
    """Purchase baskets (same basket key, purchases only) or, lacking them, adjacent pairs."""
    if data.baskets is not None and data.purchased is not None:
        out = []
        for seq, keys, bought in zip(data.sequences, data.baskets, data.purchased, strict=True):
            seq, keys = seq[bought], keys[bought]
            for key in np.unique(keys):
                out.append(seq[keys == key])
        if any(len(b) > 1 for b in out):
            return out
    return [seq[i : i + 2] for seq in data.sequences for i in range(max(len(seq) - 1, 0))]


class ItemCooccurrence(Recommender):
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

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        counts = cooccurrence(data.sequences, data.n_items, self.window, self.forward).tocoo()
        n = self.item_counts_.astype(np.float64)
        sim = counts.data / (np.sqrt(n[counts.row] * n[counts.col]) + self.shrink)
        matrix = sp.csr_matrix((sim, (counts.row, counts.col)), shape=counts.shape)
        self.similar_ = prune_rows(matrix, self.top)
        lift = basket_lift(baskets_of(data), data.n_items, self.min_support)
        self.together_ = prune_rows(lift, self.top)

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
        n = len(self.items_)
        self.item_counts_ = np.concatenate([self.item_counts_, np.zeros(len(new), np.int64)])
        self.similar_.resize((n, n))
        self.together_.resize((n, n))

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name, m in (("similar", self.similar_), ("together", self.together_)):
            out[f"{name}_indptr"] = m.indptr
            out[f"{name}_indices"] = m.indices
            out[f"{name}_data"] = m.data.astype(np.float32)
        return out

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        shape = (len(self.items_), len(self.items_))
        for name in ("similar", "together"):
            m = sp.csr_matrix(
                (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                shape=shape,
            )
            setattr(self, f"{name}_", m)
