"""Semantic retrieval: item vectors from a pretrained encoder in a faiss inner-product index.

Vectors are L2-normalised, so inner product is cosine similarity. Below ``hnsw_threshold``
items the index is exact (``IndexFlatIP``); above it, HNSW (Malkov & Yashunin, 2018). The
threshold is set by latency, not by memory (docs/design.md). Both accept new vectors without a
rebuild. Filtered searches over a small allowed set are computed exactly over
that set.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shelf.artifacts import keep_newest

_ADD_BLOCK = 4096
logger = logging.getLogger(__name__)
KEPT_GRAPHS = 3  # graphs kept in a graph cache (each ~1.2x the size of its vectors)


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
        graph_cache: Path | None = None,
    ) -> None:
        self.dim = dim
        # where built HNSW graphs are kept, by the vectors they index: a restart (or a second
        # serving worker) over the same catalog reads the graph instead of building it again
        self.graph_cache = graph_cache
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
        saved: Path | None = None
        if self._index is None:
            saved = self._graph_path(vectors)
            if saved is not None and saved.exists():
                self._index = self._read_graph(saved)
                if self._index is not None:
                    if on_progress is not None:
                        on_progress(len(vectors))
                    return
            self._index = self._new_index(len(self.vectors))
        for start in range(0, len(vectors), _ADD_BLOCK):
            block = vectors[start : start + _ADD_BLOCK]
            self._index.add(block)
            if on_progress is not None:
                on_progress(len(block))
        if saved is not None:
            self._write_graph(saved)

    def _graph_path(self, vectors: np.ndarray) -> Path | None:
        """Where the graph over exactly these vectors (and HNSW settings) is kept, or None
        when graphs are not kept or this index is exact."""
        if self.graph_cache is None or len(vectors) < self.hnsw_threshold:
            return None
        import faiss

        digest = hashlib.sha256(vectors.tobytes())
        digest.update(f"{self.hnsw_m}:{self.ef_construction}:{faiss.__version__}".encode())
        return self.graph_cache / f"hnsw-{digest.hexdigest()[:24]}.faiss"

    def _read_graph(self, path: Path) -> Any:
        """The kept graph, or None (then it is built again) when it cannot be read."""
        import faiss

        try:
            index: Any = faiss.read_index(str(path))  # already the concrete index class
            if index.ntotal != len(self.vectors) or index.d != self.dim:
                raise ValueError(f"a graph of {index.ntotal} x {index.d} vectors")
        except (RuntimeError, ValueError) as exc:
            logger.warning("%s: unreadable HNSW graph (%s); building it again", path, exc)
            path.unlink(missing_ok=True)
            return None
        index.hnsw.efSearch = self.ef_search
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by the clean-up in _write_graph
        return index

    def _write_graph(self, path: Path) -> None:
        """Write atomically (a private file renamed into place), then keep only the newest
        KEPT_GRAPHS graphs. Failing to keep a graph costs the next start time, not this one:
        it is logged, not raised."""
        import faiss

        private = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            faiss.write_index(self._index, str(private))
            os.replace(private, path)
        except (OSError, RuntimeError) as exc:
            logger.warning("%s: could not keep the HNSW graph (%s)", path, exc)
            return
        finally:
            private.unlink(missing_ok=True)
        keep_newest(path.parent, "hnsw-*.faiss", KEPT_GRAPHS)
        stale = time.time() - 3600  # private files of writers that died an hour ago or more
        for leftover in path.parent.glob(".hnsw-*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < stale:
                    leftover.unlink()

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
