"""The query side of dense retrieval: a query's vector (from the tuned query model when there
is one, else the item encoder's own query path), a memo of recent vectors, and the second
thread that encodes a query and searches the vector index while the lexical stage runs."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from shelf.lru import LRU
from shelf.search.index import SearchIndex
from shelf.search.learned import QueryModel
from shelf.text.encoder import CachedEncoder
from shelf.threads import one_faiss_thread

QUERY_LRU_SIZE = 4096


def dense_candidates(
    index: SearchIndex, query_vector: np.ndarray | None, mask: np.ndarray | None
) -> np.ndarray:
    """The vector index's candidates for ``query_vector`` (within ``mask``)."""
    cfg = index.config
    if query_vector is None or index.dense is None or cfg.k_dense <= 0:
        return np.zeros(0, dtype=np.int64)
    found, sims = index.dense.search(query_vector, cfg.k_dense, allowed=mask)
    return np.asarray(found[sims >= cfg.dense_min_cos], dtype=np.int64)


class QueryVectors:
    """Query vectors for one index: the query model in use and the memo of its vectors."""

    def __init__(self) -> None:
        # the model and the memo of its vectors, swapped together (one attribute)
        self._state: tuple[QueryModel | None, LRU[str, np.ndarray]] = (None, LRU(QUERY_LRU_SIZE))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def model(self) -> QueryModel | None:
        """The tuned query encoder in use (None: the item encoder's own query path)."""
        return self._state[0]

    def set_model(self, model: QueryModel | None) -> None:
        # one assignment: no reader pairs the new model with the old model's vectors
        self._state = (model, LRU(QUERY_LRU_SIZE))

    def vector(self, index: SearchIndex, text: str, *, cached: bool = True) -> np.ndarray | None:
        """The query's vector (None without a vector index or text); ``cached=False`` skips
        the memo, for timing."""
        encoder = index.encoder
        if encoder is None or index.dense is None or not text.strip():
            return None
        model, memo = self._state
        if model is not None:
            if cached:
                return memo.get_or_compute(text, model.encode_query)
            return model.encode_query(text)
        if isinstance(encoder, CachedEncoder):
            return encoder.encode_one(text) if cached else encoder.encode_query(text)
        return encoder.encode([text])[0]

    def start(
        self, index: SearchIndex, text: str, mask: np.ndarray | None, *, cached: bool
    ) -> Future[tuple[np.ndarray | None, np.ndarray]]:
        """The query's vector and its vector-index candidates, on a second thread
        (onnxruntime, torch and faiss release the GIL while they work)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    1, thread_name_prefix="shelf-encode", initializer=one_faiss_thread
                )
        return self._pool.submit(self._encode_and_search, index, text, mask, cached)

    def _encode_and_search(
        self, index: SearchIndex, text: str, mask: np.ndarray | None, cached: bool
    ) -> tuple[np.ndarray | None, np.ndarray]:
        vector = self.vector(index, text, cached=cached)
        return vector, dense_candidates(index, vector, mask)
