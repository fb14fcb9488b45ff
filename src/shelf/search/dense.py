"""Semantic retrieval: item vectors from a pretrained encoder in a faiss inner-product index.

Vectors are L2-normalised, so inner product is cosine similarity. Below ``hnsw_threshold``
items the index is exact (``IndexFlatIP``); above it, HNSW (Malkov & Yashunin, 2018). The
threshold is set by latency, not by memory: one exact query over 54,667 x 384 floats reads 84 MB
and took 5.8 ms on one core here, HNSW (M=32, efSearch=256) 0.7 ms with 97% of the exact top
100 (benchmarks/search_stages.py, benchmarks/results/search-stages.json). Both accept new
vectors without a rebuild. Filtered searches over a small allowed set are computed exactly over
that set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shelf.catalog import Item

_ADD_BLOCK = 4096


def item_text(item: Item) -> str:
    """The text an item is embedded from: title, then brand and category path when present."""
    parts = [item.title]
    if item.brand and item.brand.lower() not in item.title.lower():
        parts.append(item.brand)
    if item.category:
        parts.append(" > ".join(item.category))
    return ". ".join(parts)


class DenseIndex:
    """Cosine-similarity search over item vectors (faiss)."""

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = 20_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 256,
    ) -> None:
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self._index: Any = None

    def __len__(self) -> int:
        return len(self.vectors)

    def _new_index(self, n: int) -> Any:
        import faiss

        if n >= self.hnsw_threshold:
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    def add(self, vectors: np.ndarray, *, on_progress: Callable[[int], None] | None = None) -> None:
        """Append vectors; ``on_progress(n)`` is called after each block of ``n`` is indexed
        (an HNSW graph over 50k items takes tens of seconds)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        self.vectors = np.concatenate([self.vectors, vectors]) if len(self.vectors) else vectors
        if self._index is None:
            self._index = self._new_index(len(self.vectors))
        for start in range(0, len(vectors), _ADD_BLOCK):
            block = vectors[start : start + _ADD_BLOCK]
            self._index.add(block)
            if on_progress is not None:
                on_progress(len(block))

    def search(
        self, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the ``k`` nearest items, best first; ``allowed`` is a bool mask."""
        n = len(self.vectors)
        if n == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None:
            ids = np.flatnonzero(allowed)
            if len(ids) <= 20_000:
                sims = self.vectors[ids] @ query[0]
                return _best(ids, sims, k)
            scores, found = self._index.search(query, min(n, 4 * k))
            keep = (found[0] >= 0) & allowed[np.maximum(found[0], 0)]
            return found[0][keep][:k].astype(np.int64), scores[0][keep][:k]
        scores, found = self._index.search(query, min(n, k))
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), scores[0][keep]

    def cosine(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact cosine of the query with the given items."""
        return self.vectors[ids] @ np.asarray(query, dtype=np.float32).reshape(-1)

    def save(self, path: Path) -> None:
        np.save(path, self.vectors, allow_pickle=False)

    @classmethod
    def load(cls, path: Path, dim: int) -> DenseIndex:
        index = cls(dim)
        index.add(np.load(path, allow_pickle=False))
        return index


def _best(ids: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(ids) > k:
        part = np.argpartition(-sims, k - 1)[:k]
        ids, sims = ids[part], sims[part]
    order = np.argsort(-sims, kind="stable")
    return ids[order].astype(np.int64), sims[order].astype(np.float32)
