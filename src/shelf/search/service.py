"""The search service: one facade over the stages of :mod:`shelf.search`.

One query goes through::

    understand: price, brand, attributes, spelling, synonyms   (understand.py, spelling.py)
    -> candidates: lexical + query log + dense top-k, filtered  (candidates.py, vectors.py)
    -> features -> ranker (linear default or LambdaMART)        (features.py, rank.py)
    -> personalisation hook (no-op unless given)
    -> sort, facets over the candidate set, one page, reasons   (filters.py, explain.py)

The matched set (``total`` and the facet counts) is the filtered candidate union. Identical
anonymous requests are answered from a response cache until anything that could change an
answer changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import wait
from pathlib import Path

import numpy as np
from rich.progress import Progress

from shelf.catalog import Item
from shelf.errors import ValidationError
from shelf.lru import LRU
from shelf.search.candidates import Candidates, gather
from shelf.search.config import SearchConfig
from shelf.search.explain import reasons
from shelf.search.index import SearchIndex
from shelf.search.learned import QueryModel
from shelf.search.querylog import QueryLog
from shelf.search.rank import LinearRanker, Ranker
from shelf.search.schemas import SearchHit, SearchRequest, SearchResponse
from shelf.search.understand import UnderstoodQuery
from shelf.search.vectors import QueryVectors
from shelf.text.encoder import Encoder, load_encoder

# (user_id, item ids, scores) -> new scores. The recommendation stage provides one.
Personalizer = Callable[[str, list[str], np.ndarray], np.ndarray]


class SearchService:
    """Product search over a catalog. Build with :meth:`build`, query with :meth:`search`."""

    def __init__(
        self,
        config: SearchConfig | None = None,
        *,
        encoder: Encoder | None = None,
        ranker: Ranker | None = None,
        personalizer: Personalizer | None = None,
        graph_cache: Path | None = None,
    ) -> None:
        self.config = config or SearchConfig()
        self.index = SearchIndex(self.config, encoder=encoder, graph_cache=graph_cache)
        self.personalizer = personalizer
        self.query_log: QueryLog | None = None
        self._ranker: Ranker = ranker or LinearRanker()
        self._vectors = QueryVectors()
        self._generation = 0  # bumped by every change that can change an answer
        self._responses: LRU[str, SearchResponse] = LRU(
            self.config.response_cache_size, max_bytes=self.config.response_cache_bytes
        )
        # Held while answering, while new items enter the indexes (their encoding happens
        # before) and while the ranker, query model, query log or popularity are swapped
        # (re-entrant: search -> prepare). Uncached answers of one process run one at a time.
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        items: Iterable[Item],
        *,
        cache_dir: Path | None = None,
        config: SearchConfig | None = None,
        encoder: Encoder | None = None,
        ranker: Ranker | None = None,
        personalizer: Personalizer | None = None,
        show_progress: bool = True,
        graph_cache: Path | None = None,
    ) -> SearchService:
        """Index ``items``. Embeddings are cached under ``cache_dir`` (default: the shared
        embedding cache) so a rebuild re-encodes nothing; with ``graph_cache`` the HNSW graph
        is kept there too, so a restart over the same catalog builds none."""
        config = config or SearchConfig()
        if encoder is None and config.encoder and config.k_dense > 0:
            encoder = load_encoder(
                config.encoder, cache_dir=cache_dir, query_backend=config.query_backend
            )
        service = cls(
            config, encoder=encoder, ranker=ranker, personalizer=personalizer,
            graph_cache=graph_cache,
        )  # fmt: skip
        service._add(list(items), show_progress=show_progress)
        return service

    def add_items(self, items: Iterable[Item], *, show_progress: bool = False) -> int:
        """Index new items (findable by the next query); returns how many were added.

        An item id already indexed is refused: updating an item needs a rebuild.
        """
        batch = list(items)
        for item in batch:
            if self.index.position(item.item_id) is not None:
                raise ValidationError("already indexed", field="item_id", source=item.item_id)
        self._add(batch, show_progress=show_progress)
        return len(batch)

    def _add(self, items: list[Item], *, show_progress: bool) -> None:
        if not items:
            return
        self.index.check_new(items)  # before spending time on encoding
        with Progress(disable=not show_progress, transient=True) as progress:
            vectors = self.index.encode(items, progress)  # outside the lock: searches go on
            with self._lock:
                try:
                    self.index.add(items, vectors, progress)
                finally:  # even a failure half-way may have changed answers
                    self._generation += 1

    def delete_items(self, item_ids: Sequence[str]) -> int:
        """Never answer these items again (until added again); returns how many were
        indexed. The response cache starts fresh."""
        with self._lock:
            deleted = self.index.delete(item_ids)
            if deleted:
                self._generation += 1
        return deleted

    # ----------------------------------------------------------------- learned parts
    @property
    def items(self) -> list[Item]:
        """The indexed items, by index row."""
        return self.index.items

    def __len__(self) -> int:
        """Items that answers may hold (indexed and not deleted)."""
        return self.index.n_live

    def position(self, item_id: str) -> int | None:
        """The item's row in the index (None when it is not indexed)."""
        return self.index.position(item_id)

    @property
    def ranker(self) -> Ranker:
        return self._ranker

    @ranker.setter
    def ranker(self, ranker: Ranker) -> None:
        with self._lock:
            self._ranker = ranker
            self._generation += 1

    @property
    def query_model(self) -> QueryModel | None:
        """The tuned query encoder in use (None: the item encoder's own query path)."""
        return self._vectors.model

    def set_query_model(self, model: QueryModel | None) -> None:
        """Encode queries with ``model`` instead of the item encoder's own query path; None
        goes back to that path."""
        with self._lock:
            self._vectors.set_model(model)
            self._generation += 1

    def set_query_log(self, log: QueryLog | None) -> None:
        """Search the queries each item answered too (see :mod:`shelf.search.querylog`).
        Its BM25 field is built here, at load time, not by the first query."""
        with self._lock:
            if log is not None:
                log.bind(self.index.positions, len(self.index), self.index.analyzer)
            self.query_log = log
            self._generation += 1

    def set_popularity(self, scores: dict[str, float]) -> None:
        with self._lock:
            self.index.columns.set_popularity(scores)
            self._generation += 1

    # ----------------------------------------------------------------- the stages
    def understand(self, query: str, *, enabled: bool = True) -> UnderstoodQuery:
        analyzer = self.index.analyzer
        if not enabled:
            words = analyzer.words(query)
            terms = list(dict.fromkeys(analyzer.terms_of_words(words)))
            return UnderstoodQuery(raw=query, text=query, words=words, terms=terms)
        return self.index.understanding.understand(query)

    def query_vector(self, text: str, *, cached: bool = True) -> np.ndarray | None:
        """The query's vector (None without a vector index or text); ``cached=False`` skips
        the memo of query vectors, for timing."""
        return self._vectors.vector(self.index, text, cached=cached)

    def prepare(
        self,
        understood: UnderstoodQuery,
        mask: np.ndarray | None = None,
        *,
        query_vector: np.ndarray | None = None,
        cached: bool = True,
    ) -> Candidates:
        """Candidates of an understood query (within ``mask``) and their features. Without
        ``query_vector`` the query is encoded here, on a second thread beside the lexical
        stage when ``encode_in_parallel``; ``cached=False`` skips the memo, for timing."""
        with self._lock:
            pending = None
            if query_vector is None and self.index.dense is not None and self.config.k_dense > 0:
                if self.config.encode_in_parallel:
                    pending = self._vectors.start(self.index, understood.text, mask, cached=cached)
                else:
                    query_vector = self.query_vector(understood.text, cached=cached)
            try:
                return gather(self.index, understood, mask, self.query_log, query_vector, pending)
            finally:
                if pending is not None:
                    # on an error, the second thread must not go on searching the vector
                    # index once this thread has given up the lock
                    wait([pending])

    def score(self, candidates: Candidates, *, user_id: str | None = None) -> np.ndarray:
        """Ranker scores of the candidates, then the personalisation hook."""
        docs = candidates.docs
        scores = self.ranker.predict(candidates.features) if len(docs) else np.zeros(0)
        if user_id is not None and self.personalizer is not None and len(docs):
            ids = [self.index.items[d].item_id for d in docs.tolist()]
            scores = np.asarray(self.personalizer(user_id, ids, scores), dtype=np.float32)
        return np.asarray(scores, dtype=np.float32)

    # ----------------------------------------------------------------- answering
    def search(self, request: SearchRequest) -> SearchResponse:
        """The answer to ``request``: from the response cache when an identical anonymous
        request was answered before, else computed."""
        started = time.perf_counter()
        return self.cached(request, started) or self.answer(request, started)

    def cached(self, request: SearchRequest, started: float | None = None) -> SearchResponse | None:
        """The answer from the response cache, or None (nothing is computed). ``started``
        (``time.perf_counter()``) is when the request came; ``took_ms`` counts from there."""
        start = time.perf_counter() if started is None else started
        key = self._cache_key(request)
        hit = None if key is None else self._responses.get(key)
        if hit is None:
            return None
        took_ms = round((time.perf_counter() - start) * 1000, 3)
        return hit.model_copy(update={"took_ms": took_ms, "cached": True})

    def answer(self, request: SearchRequest, started: float | None = None) -> SearchResponse:
        """The answer computed (the response cache is not read), then kept in the cache."""
        start = time.perf_counter() if started is None else started
        with self._lock:  # no item is indexed halfway through an answer
            response = self._answer(request, start)
            key = self._cache_key(request)
        if key is not None:  # weighed as what it costs to keep: its JSON, and the key
            self._responses.put(key, response, nbytes=len(key) + len(response.model_dump_json()))
        return response

    def _cache_key(self, request: SearchRequest) -> str | None:
        if request.user_id is not None or not self._responses.size or not self._responses.max_bytes:
            return None  # personal answers are not kept
        return f"{self._generation}:{request.model_dump_json()}"

    def _answer(self, request: SearchRequest, started: float) -> SearchResponse:
        understood = self.understand(request.query, enabled=request.understand)
        filters = request.filters
        if request.apply_understood_filters and (understood.price_min or understood.price_max):
            filters = filters.model_copy(
                update={
                    "price_min": understood.price_min
                    if filters.price_min is None
                    else filters.price_min,
                    "price_max": understood.price_max
                    if filters.price_max is None
                    else filters.price_max,
                }
            )
        columns = self.index.columns
        mask = self.index.live(columns.mask(filters))
        candidates: Candidates | None = None
        if understood.terms or understood.text.strip():
            candidates = self.prepare(understood, mask)
            docs = candidates.docs
            relevance = self.score(candidates, user_id=request.user_id)
        else:  # browsing: every item meeting the filters, by popularity
            docs = np.arange(len(self.index)) if mask is None else np.flatnonzero(mask)
            relevance = columns.popularity[docs].astype(np.float32)
        ordered = columns.sort(docs, relevance, request.sort)
        first = (request.page - 1) * request.page_size
        shown = ordered[first : first + request.page_size]
        # docs are in index order (both branches above), so a hit's row is a binary search
        rows = np.searchsorted(docs, shown)
        why = (
            reasons(self.index, candidates, rows)
            if candidates is not None
            else ["matches filters"] * len(rows)
        )
        hits = [
            _hit(self.index.items[d], score, reason)
            for d, score, reason in zip(shown.tolist(), relevance[rows].tolist(), why, strict=True)
        ]
        understood_dict = understood.to_dict()
        understood_dict["applied_filters"] = filters.model_dump(exclude_defaults=True)
        return SearchResponse(
            query=request.query,
            understood=understood_dict,
            total=len(docs),
            page=request.page,
            page_size=request.page_size,
            sort=request.sort.value,
            ranker=self.ranker.name,
            items=hits,
            facets=columns.facets(docs),
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def warm_up(self) -> None:
        """Rank one query made from the first item's title, uncached, so that the query
        encoder's session and the compiled ranker are loaded now, not in a shopper's request."""
        if self.index.items:
            self.score(self.prepare(self.understand(self.index.items[0].title), cached=False))

    def response_cache_stats(self) -> dict[str, int | None]:
        """Size limits, contents, hits and misses of the response cache (since the service
        started)."""
        cache = self._responses
        return {"size": cache.size, "entries": len(cache), "max_bytes": cache.max_bytes,
                "bytes": cache.nbytes, "hits": cache.hits, "misses": cache.misses}  # fmt: skip


def _hit(item: Item, score: float, reason: str) -> SearchHit:
    return SearchHit(
        item_id=item.item_id,
        score=round(score, 6),
        title=item.title,
        brand=item.brand,
        price=item.price,
        category=list(item.category),
        available=item.available,
        reason=reason,
    )
