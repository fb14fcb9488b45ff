"""The integer counts behind the counts models, the floats derived from them, and the
bookkeeping that lets those models forget a user exactly.

Popularity, trending, co-occurrence and bought-together learn nothing but integer counts that
are sums of per-user contributions, and derive their float arrays from those counts with the
pure functions below. So erasing users is exact: count what they contributed (the same
functions on their kept training records), subtract, and derive again. The result equals a
fit on the data without them whatever the order users were added or removed in: integer
addition commutes, every count is kept in one canonical sparse layout (CSR, duplicates summed,
zeros dropped, indices sorted, fixed dtypes), and a derivation reads only the counts.

:class:`CountsRecommender` is the base of those models: it keeps each user's training records
(:class:`UserRecords`), saves them as ``.npy`` and erases them on :meth:`forget_users`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
import scipy.sparse as sp

from shelf.errors import ArtifactError
from shelf.recommend.base import Recommender, Validation, pack, unpack
from shelf.recommend.data import SequenceData

HOUR = 3600.0  # trending's time bucket, in seconds (see hour_buckets)
INT32_MAX = np.iinfo(np.int32).max


# ---- canonical sparse counts -------------------------------------------------------------
def canonical(matrix: sp.spmatrix | sp.sparray, dtype: type | None = None) -> sp.csr_matrix:
    """``matrix`` as CSR in the one layout every count and derivation uses: duplicates summed,
    explicit zeros dropped, indices sorted, int32 index arrays (int64 past 2**31). Integer
    counts are stored as int32 while they fit, else int64 (a rule on the values, so a fit and
    a forget that reach the same counts reach the same dtype)."""
    m = sp.csr_matrix(matrix, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    if dtype is not None:
        m = m.astype(dtype)
    elif np.issubdtype(m.dtype, np.integer):
        big = m.nnz and (int(m.data.max()) > INT32_MAX or int(m.data.min()) < -INT32_MAX)
        m = m.astype(np.int64 if big else np.int32)
    index = np.int32 if max(m.nnz, *m.shape) <= INT32_MAX else np.int64
    m.indices = m.indices.astype(index)
    m.indptr = m.indptr.astype(index)
    return m


def count_matrix(rows: np.ndarray, cols: np.ndarray, n_items: int) -> sp.csr_matrix:
    """How often each ``(row, col)`` pair occurs, as canonical integer CSR."""
    ones = np.ones(len(rows), dtype=np.int64)
    return canonical(sp.coo_matrix((ones, (rows, cols)), shape=(n_items, n_items)))


def subtract(counts: sp.csr_matrix, gone: sp.csr_matrix) -> sp.csr_matrix:
    """``counts - gone`` in the canonical layout; a negative count means ``gone`` was never
    counted in (a bookkeeping error), which raises."""
    out = canonical(counts.astype(np.int64) - gone.astype(np.int64))
    if out.nnz and out.data.min() < 0:
        raise ValueError("forgetting counts that were never counted")
    return out


def subtract_vector(counts: np.ndarray, gone: np.ndarray) -> np.ndarray:
    out = counts - gone
    if len(out) and out.min() < 0:
        raise ValueError("forgetting counts that were never counted")
    return out


def flatten(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All sequences end to end, and the owner (sequence number) of each position."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    flat = np.concatenate(sequences).astype(np.int64) if len(sequences) else np.zeros(0, np.int64)
    return flat, np.repeat(np.arange(len(sequences)), lengths)


# ---- co-occurrence -----------------------------------------------------------------------
def item_counts(sequences: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Occurrences per item (int64)."""
    flat, _ = flatten(sequences)
    return np.bincount(flat, minlength=n_items).astype(np.int64)


def distance_pairs(
    sequences: Sequence[np.ndarray], n_items: int, window: int
) -> list[sp.csr_matrix]:
    """``D_d[i, j]``: how often item ``i`` comes ``d`` positions before item ``j`` in one
    sequence, for ``d = 1..window`` (pairs of an item with itself are not counted)."""
    flat, owner = flatten(sequences)
    out = []
    for d in range(1, window + 1):
        same = owner[:-d] == owner[d:] if len(flat) > d else np.zeros(0, bool)
        a, b = flat[:-d][same], flat[d:][same]
        other = a != b
        out.append(count_matrix(a[other], b[other], n_items))
    return out


def distance_weighted(pairs: Sequence[sp.csr_matrix], forward: float) -> sp.csr_matrix:
    """``W = Σ_d (forward · D_d + D_dᵀ) / d`` (float64): a pair at distance ``d`` weighs
    ``1/d``, and ``forward`` times more read from the earlier item ("what comes next")."""
    n = pairs[0].shape[0] if pairs else 0
    total = sp.csr_matrix((n, n), dtype=np.float64)
    for d, counts in enumerate(pairs, start=1):
        weights = counts.astype(np.float64)
        total = total + weights * (forward / d) + canonical(weights.T) * (1.0 / d)
    return canonical(total, np.float64)


def shrunk_cosine(weighted: sp.csr_matrix, counts: np.ndarray, shrink: float) -> sp.csr_matrix:
    """``W_ij / (sqrt(n_i n_j) + shrink)`` (item-based CF, Sarwar et al., WWW 2001)."""
    coo = weighted.tocoo()
    n = counts.astype(np.float64)
    values = coo.data / (np.sqrt(n[coo.row] * n[coo.col]) + shrink)
    return canonical(sp.coo_matrix((values, (coo.row, coo.col)), shape=weighted.shape), np.float64)


def prune_rows(matrix: sp.csr_matrix, top: int) -> sp.csr_matrix:
    """Keep the ``top`` largest entries of each row (ties: the lower column), as float32."""
    m = canonical(matrix, np.float64)
    lengths = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    keep = np.ones(m.nnz, dtype=bool)
    long = np.flatnonzero(lengths[rows] > top)  # only rows with more than ``top`` entries
    if len(long):  # sort those by value, best first; lexsort is stable: ties stay by column
        order = long[np.lexsort((-m.data[long], rows[long]))]
        rank = np.arange(len(order)) - np.searchsorted(rows[order], rows[order])
        keep[order[rank >= top]] = False
    kept = sp.coo_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    return canonical(kept, np.float32)


# ---- baskets -----------------------------------------------------------------------------
class BasketCounts(NamedTuple):
    """Baskets as counts: ``pairs[i, j]`` baskets holding both ``i != j`` (symmetric),
    ``items[i]`` baskets holding ``i``, ``n`` baskets."""

    pairs: sp.csr_matrix
    items: np.ndarray
    n: int

    def __sub__(self, gone: BasketCounts) -> BasketCounts:
        if self.n < gone.n:
            raise ValueError("forgetting baskets that were never counted")
        items = subtract_vector(self.items, gone.items)
        return BasketCounts(subtract(self.pairs, gone.pairs), items, self.n - gone.n)


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ``(a, b)`` pairs sorted by ``a`` then ``b``, and each input's pair number."""
    order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    new = np.r_[True, (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])] if len(a) else np.zeros(0, bool)
    number = np.empty(len(a), dtype=np.int64)
    number[order] = np.cumsum(new) - 1
    return sa[new], sb[new], number


def basket_counts(basket: np.ndarray, items: np.ndarray, n_items: int) -> BasketCounts:
    """Counts of baskets given as (basket id, item) rows; an item twice in a basket counts once."""
    bid, item, _ = unique_pairs(np.asarray(basket, np.int64), np.asarray(items, np.int64))
    starts = np.flatnonzero(np.r_[True, bid[1:] != bid[:-1]]) if len(bid) else bid[:0]
    sizes = np.diff(np.r_[starts, len(bid)])
    # every element paired with every element of its basket, itself left out
    size_e = np.repeat(sizes, sizes)
    left = np.repeat(np.arange(len(item)), size_e)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(size_e) - size_e, size_e)
    right = np.repeat(np.repeat(starts, sizes), size_e) + offset
    other = left != right
    pairs = count_matrix(item[left[other]], item[right[other]], n_items)
    return BasketCounts(pairs, np.bincount(item, minlength=n_items).astype(np.int64), len(starts))


def purchase_baskets(records: UserRecords, n_items: int) -> BasketCounts:
    """Baskets of purchases: a user's purchased items that share a basket (session) key."""
    assert records.baskets is not None and records.purchased is not None
    flat, owner = flatten(records.sequences)
    keys, _ = flatten(records.baskets)
    bought = flatten(records.purchased)[0].astype(bool)
    basket = unique_pairs(owner[bought], keys[bought])[2]
    return basket_counts(basket, flat[bought], n_items)


def adjacent_baskets(sequences: Sequence[np.ndarray], n_items: int) -> BasketCounts:
    """Baskets of two adjacent items of a sequence (the stand-in without purchase data)."""
    flat, owner = flatten(sequences)
    start = np.flatnonzero(owner[:-1] == owner[1:]) if len(flat) > 1 else np.zeros(0, np.int64)
    basket = np.concatenate([start, start])
    return basket_counts(basket, np.concatenate([flat[start], flat[start + 1]]), n_items)


def lift(counts: BasketCounts, min_support: int) -> sp.csr_matrix:
    """``N_ij · N / (N_i · N_j)`` for pairs in at least ``min_support`` baskets (Agrawal et
    al., SIGMOD 1993), float64."""
    pairs = counts.pairs.copy()
    pairs.data[pairs.data < min_support] = 0
    coo = canonical(pairs).tocoo()
    n_i = counts.items.astype(np.int64)
    values = coo.data.astype(np.int64) * counts.n / (n_i[coo.row] * n_i[coo.col])
    return canonical(sp.coo_matrix((values, (coo.row, coo.col)), shape=pairs.shape), np.float64)


# ---- trending ----------------------------------------------------------------------------
class KeyedCounts(NamedTuple):
    """Counts per (item, key), sorted by item then key, zeros left out (a sparse COO whose
    keys are unbounded: hours since the epoch, or ages in positions)."""

    items: np.ndarray
    keys: np.ndarray
    counts: np.ndarray

    def __sub__(self, gone: KeyedCounts) -> KeyedCounts:
        out = keyed_counts(
            np.concatenate([self.items, gone.items]),
            np.concatenate([self.keys, gone.keys]),
            np.concatenate([self.counts, -gone.counts]),
        )
        if len(out.counts) and out.counts.min() < 0:
            raise ValueError("forgetting counts that were never counted")
        return out


def keyed_counts(
    items: np.ndarray, keys: np.ndarray, weights: np.ndarray | None = None
) -> KeyedCounts:
    """Counts (or summed integer ``weights``) per distinct (item, key), canonical."""
    items, keys = np.asarray(items, np.int64), np.asarray(keys, np.int64)
    w = np.ones(len(items), np.int64) if weights is None else np.asarray(weights, np.int64)
    if len(items) == 0:
        return KeyedCounts(narrow(items), narrow(keys), narrow(w))
    order = np.lexsort((keys, items))
    items, keys, w = items[order], keys[order], w[order]
    start = np.flatnonzero(np.r_[True, (items[1:] != items[:-1]) | (keys[1:] != keys[:-1])])
    counts = np.add.reduceat(w, start)
    nonzero = counts != 0
    columns = (items[start][nonzero], keys[start][nonzero], counts[nonzero])
    return KeyedCounts(*(narrow(c) for c in columns))


def narrow(values: np.ndarray) -> np.ndarray:
    """Integers as int32 when they all fit, else int64 (a rule on the values: equal counts
    get equal dtypes however they were reached)."""
    small = len(values) == 0 or (values.min() >= -INT32_MAX and values.max() <= INT32_MAX)
    return values.astype(np.int32 if small else np.int64)


def hour_buckets(timestamps: np.ndarray) -> np.ndarray:
    """Hours since the epoch (``floor(seconds / 3600)``) of each timestamp in seconds."""
    return np.floor(np.asarray(timestamps, np.float64) / HOUR).astype(np.int64)


def position_ages(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """Each position's age in its sequence: 0 for the last item, 1 for the one before, ..."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    ends = np.repeat(np.cumsum(lengths), lengths)
    return ends - 1 - np.arange(int(lengths.sum()))


def decayed(
    counts: KeyedCounts, n_items: int, half_life: float, unit: float, newest: bool
) -> np.ndarray:
    """``Σ_b count · 0.5 ** (age_b · unit / half_life)`` per item (float64), where age is the
    key itself or, with ``newest``, how far the key lies before the newest key with a count."""
    if len(counts.keys) == 0:
        return np.zeros(n_items, dtype=np.float64)
    age = counts.keys.max() - counts.keys if newest else counts.keys
    weights = counts.counts * 0.5 ** (age * unit / half_life)
    return np.bincount(counts.items, weights=weights, minlength=n_items)


# ---- partial counts of shards of users ---------------------------------------------------
def add_counts(a: Any, b: Any) -> Any:
    """The sum of two partial counts of one kind (each a :meth:`CountsRecommender.tally` of a
    disjoint set of users): integer addition field by field, in the canonical layout, so
    summing shards in any order gives the counts of a fit on all of them."""
    if a is None or b is None:
        if a is None and b is None:
            return None
        raise ValueError("cannot add counts that one shard has and another lacks")
    if sp.issparse(a):
        return canonical(a.astype(np.int64) + b.astype(np.int64))
    if isinstance(a, KeyedCounts):
        columns = (np.concatenate([x, y]) for x, y in zip(a, b, strict=True))
        return keyed_counts(*columns)
    if isinstance(a, tuple):  # a NamedTuple of counts (BasketCounts, CoocCounts)
        return type(a)(*(add_counts(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, list):
        if len(a) != len(b):
            raise ValueError(f"cannot add {len(a)} counts to {len(b)}")
        return [add_counts(x, y) for x, y in zip(a, b, strict=True)]
    if isinstance(a, np.ndarray):
        return a.astype(np.int64) + b.astype(np.int64)
    return int(a) + int(b)


def sum_counts(parts: Iterable[Any]) -> Any:
    """The sum of the partial counts of every shard (see :func:`add_counts`)."""
    return reduce(add_counts, parts)


# ---- what a counts model keeps of each user ------------------------------------------------
@dataclass
class UserRecords:
    """Each fitted user's training records, per position: the item sequence and what else
    a model counts (basket keys and purchase flags, or hour buckets). One entry per user of
    the fit, emptied when the user is forgotten."""

    sequences: list[np.ndarray]
    baskets: list[np.ndarray] | None = None
    purchased: list[np.ndarray] | None = None
    hours: list[np.ndarray] | None = None

    EXTRAS: ClassVar[tuple[str, ...]] = ("baskets", "purchased", "hours")

    def take(self, users: np.ndarray) -> UserRecords:
        """The records of these users only."""

        def pick(column: list[np.ndarray] | None) -> list[np.ndarray] | None:
            return None if column is None else [column[u] for u in users]

        seqs = [self.sequences[u] for u in users]
        return UserRecords(seqs, pick(self.baskets), pick(self.purchased), pick(self.hours))

    def drop(self, users: np.ndarray) -> None:
        """Erase these users' records (their entries become empty)."""
        for name in ("sequences", *self.EXTRAS):
            column = getattr(self, name)
            if column is not None:
                for u in users:
                    column[u] = column[u][:0].copy()

    def arrays(self, histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The records as flat ``.npy`` arrays; the sequences only where they differ from the
        stored ``histories`` (after ``update_histories``), since they are the same otherwise."""
        same = len(histories) == len(self.sequences) and all(
            a is b or np.array_equal(a, b) for a, b in zip(histories, self.sequences, strict=True)
        )
        lengths, flat = pack(self.sequences, np.int64)
        out = {} if same else {"records_lengths": lengths, "records_items": flat}
        for name in self.EXTRAS:
            column = getattr(self, name)
            if column is not None:
                out[f"records_{name}"] = pack(
                    column, np.bool_ if name == "purchased" else np.int64
                )[1]
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], histories: list[np.ndarray]) -> UserRecords:
        if "records_lengths" in arrays:
            sequences = unpack(arrays["records_lengths"], arrays["records_items"])
        else:
            sequences = list(histories)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        extras = {
            name: unpack(lengths, arrays[f"records_{name}"])
            for name in cls.EXTRAS
            if f"records_{name}" in arrays
        }
        return cls(sequences, **extras)


class CountsRecommender(Recommender):
    """A model whose learned state is integer counts summed over users: it keeps each user's
    training records and forgets a user exactly (:attr:`forgets_exactly`).

    Subclasses implement :meth:`_records` (what to keep of the fit data), :meth:`tally`
    (the counts of some users' records, which add up over shards of users),
    :meth:`_set_counts` (adopt the counts of all of them), :meth:`_uncount` (subtract the
    counts of the forgotten users' records, ``records_`` already without them) and
    :meth:`_derive` (the float arrays from the counts), and list the counts in
    :meth:`_count_arrays` / :meth:`_restore_counts`. :meth:`fit_tallied` fits with counts
    tallied elsewhere (shards of users counted in parallel by :mod:`shelf.scale`).
    """

    forgets_exactly = True
    counts_key: ClassVar[str] = ""  # an array every artifact with counts holds

    def fit_tallied(self, data: SequenceData, counts: Any) -> Self:
        """Fit on ``data`` with its counts already tallied (:func:`sum_counts` of the
        :meth:`tally` of shards of ``data``'s users): the same state as ``fit(data)``."""
        self._tallied = counts
        try:
            return self.fit(data)
        finally:
            del self._tallied

    def records_for(self, data: SequenceData) -> UserRecords:
        """What this model keeps of ``data``'s users (the input of :meth:`tally`)."""
        return self._records(data)

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        del validation
        self.records_ = self._records(data)
        tallied = self.__dict__.get("_tallied")
        counts = tallied if tallied is not None else self.tally(self.records_, self.n_items)
        self._set_counts(counts)
        self._derive()

    def _forget(self, users: np.ndarray) -> None:
        gone = self.records_.take(users)
        self.records_.drop(users)
        self._uncount(gone)  # sees the records without them
        self._derive()

    def _records(self, data: SequenceData) -> UserRecords:
        return UserRecords([np.asarray(s, np.int64) for s in data.sequences])

    def tally(self, records: UserRecords, n_items: int) -> Any:
        """The counts of these records over ``n_items`` items."""
        raise NotImplementedError

    def _set_counts(self, counts: Any) -> None:
        raise NotImplementedError

    def _uncount(self, records: UserRecords) -> None:
        raise NotImplementedError

    def _derive(self) -> None:
        raise NotImplementedError

    def _count_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _restore_counts(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**self.records_.arrays(self.histories_), **self._count_arrays()}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        if self.counts_key not in arrays:
            raise ArtifactError(
                f"the {self.name!r} artifact was written before exact erasure (it holds no "
                "integer counts to forget users from); retrain it with `shelf train`"
            )
        self.records_ = UserRecords.from_arrays(arrays, self.histories_)
        self._restore_counts(arrays)
        self._derive()


def csr_arrays(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as three ``.npy`` arrays."""
    return {
        f"{prefix}_indptr": matrix.indptr,
        f"{prefix}_indices": matrix.indices,
        f"{prefix}_data": matrix.data,
    }


def csr_from(arrays: dict[str, np.ndarray], prefix: str, n: int) -> sp.csr_matrix:
    parts = (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"])
    return canonical(sp.csr_matrix(parts, shape=(n, n)))
