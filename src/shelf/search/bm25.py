"""BM25 over one field, as a growable sparse matrix of precomputed term weights.

Scoring follows the Lucene variant of BM25 (Robertson et al., "Okapi at TREC-3", 1994, with
Lucene's non-negative idf), the same as bm25s' default ``method="lucene"`` (Lù, "BM25S", 2024),
against which the tests check the scores:

    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    w(t, d)     = idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    score(q, d) = sum over distinct t in q of w(t, d)

Unlike bm25s, documents can be appended after indexing (new products must be findable within a
second): :meth:`BM25Field.add` appends postings and recomputes the weights, which is a few
vectorised numpy passes over the postings (tens of milliseconds at 50k products).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def lucene_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Lucene's BM25 idf: ``ln(1 + (N - df + 0.5) / (df + 0.5))``, never negative."""
    df = df.astype(np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def bm25_tf(tf: np.ndarray, doc_len: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
    """The saturated term-frequency part of BM25 (Lucene form, without the ``k1 + 1`` factor)."""
    tf = tf.astype(np.float64)
    return tf / (tf + k1 * (1.0 - b + b * doc_len / max(avgdl, 1e-9)))


class BM25Field:
    """An inverted index of one text field, scored by BM25.

    Postings are kept term-major (CSC-like arrays ``indptr``/``doc_ids``/``weights``) so the
    score of a query is one ``np.bincount`` over the postings of its terms.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, positions: bool = False) -> None:
        self.k1 = k1
        self.b = b
        self.positions = positions
        self.vocab_: dict[str, int] = {}
        # postings in arrival order (term id, doc id, term frequency, and with ``positions``
        # the term's first position in the document)
        self._p_term = np.zeros(0, dtype=np.int32)
        self._p_doc = np.zeros(0, dtype=np.int32)
        self._p_tf = np.zeros(0, dtype=np.int32)
        self._p_pos = np.zeros(0, dtype=np.int32)
        self.doc_len_ = np.zeros(0, dtype=np.float64)
        self.n_docs_ = 0
        self.df_ = np.zeros(0, dtype=np.int64)
        self.idf_ = np.zeros(0, dtype=np.float64)
        self._indptr = np.zeros(1, dtype=np.int64)
        self._doc_ids = np.zeros(0, dtype=np.int32)
        self._weights = np.zeros(0, dtype=np.float32)
        self._by_doc: Any = None  # the weights as a (docs x terms) CSR matrix, made on demand

    def fit(self, docs: Sequence[Sequence[str]]) -> BM25Field:
        """Index ``docs`` (each a list of terms) as documents ``0 .. len(docs) - 1``."""
        self.__init__(k1=self.k1, b=self.b, positions=self.positions)  # type: ignore[misc]
        self.add(docs)
        return self

    def add(self, docs: Iterable[Sequence[str]]) -> None:
        """Append documents (their ids continue from the current count) and re-weight."""
        lengths: list[int] = []
        p_term: list[int] = []
        p_doc: list[int] = []
        p_tf: list[int] = []
        p_pos: list[int] = []
        start = self.n_docs_
        vocab = self.vocab_
        first: dict[str, int] = {}
        for offset, terms in enumerate(docs):
            doc = start + offset
            counts: dict[str, int] = {}
            for t in terms:
                counts[t] = counts.get(t, 0) + 1
            if self.positions:  # the first occurrence wins: later ones are written first
                first = {t: i for i, t in reversed(list(enumerate(terms)))}
            for t, c in counts.items():
                tid = vocab.get(t)
                if tid is None:
                    tid = len(vocab)
                    vocab[t] = tid
                p_term.append(tid)
                p_doc.append(doc)
                p_tf.append(c)
                if self.positions:
                    p_pos.append(first[t])
            lengths.append(len(terms))
        self._p_term = np.concatenate([self._p_term, np.asarray(p_term, dtype=np.int32)])
        self._p_doc = np.concatenate([self._p_doc, np.asarray(p_doc, dtype=np.int32)])
        self._p_tf = np.concatenate([self._p_tf, np.asarray(p_tf, dtype=np.int32)])
        if self.positions:
            self._p_pos = np.concatenate([self._p_pos, np.asarray(p_pos, dtype=np.int32)])
        self.doc_len_ = np.concatenate([self.doc_len_, np.asarray(lengths, dtype=np.float64)])
        self.n_docs_ = len(self.doc_len_)
        self._reweight()

    def _reweight(self) -> None:
        # Postings stay sorted by term (then doc) between calls, so after an append the stable
        # sort (timsort) only merges the new tail: linear, not n log n.
        order = np.argsort(self._p_term, kind="stable")
        term_of_posting = self._p_term = self._p_term[order]
        doc_ids = self._p_doc = self._p_doc[order]
        tfs = self._p_tf = self._p_tf[order]
        if self.positions:
            self._p_pos = self._p_pos[order]
        sizes = np.bincount(term_of_posting, minlength=len(self.vocab_)).astype(np.int64)
        self._indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.df_ = sizes
        self.idf_ = lucene_idf(sizes, self.n_docs_)
        avgdl = float(self.doc_len_.mean()) if self.n_docs_ else 0.0
        weights = self.idf_[term_of_posting] * bm25_tf(
            tfs, self.doc_len_[doc_ids], avgdl, self.k1, self.b
        )
        self._doc_ids = doc_ids
        self._weights = weights.astype(np.float32)
        self._by_doc = None

    def term_ids(self, terms: Iterable[str]) -> list[int]:
        """Distinct known term ids of ``terms``, in first-seen order."""
        seen: dict[int, None] = {}
        for t in terms:
            tid = self.vocab_.get(t)
            if tid is not None:
                seen.setdefault(tid)
        return list(seen)

    def _term_weights(
        self, terms: Iterable[str], weights: Sequence[float] | None
    ) -> dict[int, float]:
        """Indexed term id -> weight of the query ``terms`` (unknown terms dropped; a term
        given twice keeps its first weight; 1.0 without ``weights``)."""
        out: dict[int, float] = {}
        for i, t in enumerate(terms):
            tid = self.vocab_.get(t)
            if tid is not None and tid not in out:
                out[tid] = 1.0 if weights is None else float(weights[i])
        return out

    def scores(self, terms: Iterable[str], weights: Sequence[float] | None = None) -> np.ndarray:
        """BM25 score of every document for the query ``terms`` (distinct terms count once).

        ``weights`` optionally scales each term of ``terms`` (e.g. 0.5 for a synonym); a term
        given twice keeps its first weight.
        """
        term_weight = self._term_weights(terms, weights)
        if not term_weight:
            return np.zeros(self.n_docs_, dtype=np.float32)
        slices = [np.arange(self._indptr[t], self._indptr[t + 1]) for t in term_weight]
        idx = np.concatenate(slices)
        w = self._weights[idx]
        if any(v != 1.0 for v in term_weight.values()):
            scale = np.concatenate(
                [
                    np.full(len(s), v, dtype=np.float32)
                    for s, v in zip(slices, term_weight.values(), strict=True)
                ]
            )
            w = w * scale
        return np.bincount(self._doc_ids[idx], weights=w, minlength=self.n_docs_).astype(np.float32)

    def scores_at(
        self, terms: Iterable[str], docs: np.ndarray, weights: Sequence[float] | None = None
    ) -> np.ndarray:
        """:meth:`scores` at the rows ``docs`` only.

        Reads each candidate's own postings (a by-document copy of the index, built on the
        first call after a change) instead of every posting of every query term: a query's
        character trigrams have tens of thousands of postings, its candidates hundreds.
        """
        import scipy.sparse

        weight_of = self._term_weights(terms, weights)
        if not weight_of or len(docs) == 0:
            return np.zeros(len(docs), dtype=np.float32)
        by_doc = self._by_doc
        if by_doc is None:
            by_doc = self._by_doc = scipy.sparse.csc_matrix(
                (self._weights, self._doc_ids, self._indptr),
                shape=(self.n_docs_, len(self.vocab_)),
            ).tocsr()
        # The candidates' rows gathered with numpy rather than by scipy's fancy row indexing,
        # which builds a new sparse matrix first (most of this call's time at ~300 rows); the
        # query's terms looked up by binary search rather than in a vocabulary-sized vector.
        # Each row is summed in float64 in stored order, as scipy's product does.
        docs = np.asarray(docs, dtype=np.int64)
        starts = by_doc.indptr[docs].astype(np.int64)
        lengths = by_doc.indptr[docs + 1] - starts
        row_ends = np.cumsum(lengths)
        at = np.arange(int(row_ends[-1]), dtype=np.int64) + np.repeat(
            starts - (row_ends - lengths), lengths
        )
        rows = np.repeat(np.arange(len(docs)), lengths)
        query_tids = np.fromiter(sorted(weight_of), dtype=np.int64, count=len(weight_of))
        query_weights = np.array([weight_of[t] for t in query_tids.tolist()], dtype=np.float64)
        tids = by_doc.indices[at]
        slot = np.minimum(np.searchsorted(query_tids, tids), len(query_tids) - 1)
        hit = query_tids[slot] == tids
        values = by_doc.data[at[hit]] * query_weights[slot[hit]]
        return np.bincount(rows[hit], weights=values, minlength=len(docs)).astype(np.float32)

    def postings(self, term: str) -> np.ndarray:
        """Ids of the documents containing ``term`` (ascending, as postings are stored)."""
        tid = self.vocab_.get(term)
        if tid is None:
            return np.zeros(0, dtype=np.int32)
        return self._doc_ids[self._indptr[tid] : self._indptr[tid + 1]]

    def first_positions(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids of the documents containing ``term``, ascending; the 0-based position of its
        first occurrence in each). Needs ``positions=True``."""
        if not self.positions:
            raise ValueError("this field was built without positions")
        tid = self.vocab_.get(term)
        if tid is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        span = slice(self._indptr[tid], self._indptr[tid + 1])
        return self._doc_ids[span], self._p_pos[span]

    def doc_freq(self, term: str) -> int:
        tid = self.vocab_.get(term)
        return 0 if tid is None else int(self.df_[tid])

    def idf(self, term: str) -> float:
        """idf of ``term``; an unknown term gets the idf of a term seen in no document."""
        tid = self.vocab_.get(term)
        if tid is None:
            return float(lucene_idf(np.array([0]), self.n_docs_)[0])
        return float(self.idf_[tid])

    # persistence: plain arrays, no pickles
    def to_arrays(self) -> dict[str, np.ndarray]:
        terms = sorted(self.vocab_, key=self.vocab_.__getitem__)
        return {
            "terms": np.array(terms, dtype=np.str_),
            "p_term": self._p_term,
            "p_doc": self._p_doc,
            "p_tf": self._p_tf,
            "p_pos": self._p_pos,
            "doc_len": self.doc_len_,
            "params": np.array([self.k1, self.b, float(self.positions)]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BM25Field:
        k1, b, *rest = (float(x) for x in arrays["params"])
        field = cls(k1=k1, b=b, positions=bool(rest and rest[0]))
        field.vocab_ = {str(t): i for i, t in enumerate(arrays["terms"])}
        field._p_term = np.asarray(arrays["p_term"], dtype=np.int32)
        field._p_doc = np.asarray(arrays["p_doc"], dtype=np.int32)
        field._p_tf = np.asarray(arrays["p_tf"], dtype=np.int32)
        field._p_pos = np.asarray(arrays.get("p_pos", np.zeros(0)), dtype=np.int32)
        field.doc_len_ = np.asarray(arrays["doc_len"], dtype=np.float64)
        field.n_docs_ = len(field.doc_len_)
        field._reweight()
        return field
