"""The search service: hybrid retrieval, re-ranking, filters, facets, sorting, pagination.

One query goes through these stages (each a module of :mod:`shelf.search`)::

    understand: price, brand, attributes, spelling, synonyms   (understand.py, spelling.py)
    -> lexical top-k (field-weighted BM25, lexical.py)
       + dense top-k (MiniLM + faiss, dense.py)
    -> candidate union, filtered                                (filters.py)
    -> features -> ranker (linear default or LambdaMART)        (features.py, rank.py)
    -> personalisation hook (no-op unless given)
    -> sort, facets over the candidate set, one page, reasons

The matched set (``total`` and the facet counts) is the filtered candidate union: the lexical
matches among the ``k_lexical`` best and the ``k_dense`` nearest items.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shelf.catalog import Item, search_text
from shelf.errors import ArtifactError, ValidationError
from shelf.lru import LRU
from shelf.search.dense import DenseIndex
from shelf.search.features import (
    FEATURE_NAMES,
    CandidateData,
    QueryContext,
    compute_features,
    rank_positions,
    title_similarity,
)
from shelf.search.filters import CatalogColumns, SearchFilters, SortOrder
from shelf.search.lexical import (
    DEFAULT_FIELD_WEIGHTS,
    LexicalIndex,
    bigram_tokens,
    char_trigrams,
    top_k,
)
from shelf.search.querylog import K_QUERYLOG, QueryLog
from shelf.search.rank import LambdaMARTRanker, LinearRanker, load_ranker
from shelf.search.spelling import SpellingCorrector
from shelf.search.understand import (
    DEFAULT_ATTRIBUTE_FACETS,
    QueryUnderstanding,
    SynonymMap,
    UnderstoodQuery,
)
from shelf.text.encoder import (
    CachedEncoder,
    Encoder,
    OnnxQueryModel,
    load_encoder,
)
from shelf.text.tokenize import Analyzer

# (user_id, item ids, scores) -> new scores. The recommendation stage provides one.
Personalizer = Callable[[str, list[str], np.ndarray], np.ndarray]
SYNONYM_WEIGHT = 0.5
PRF_DEPTH = 10  # lexical results averaged for the feedback vector
# the feature columns a hit's reason reads
_REASON_COLUMNS = np.array(
    [
        FEATURE_NAMES.index(name)
        for name in ("dense_cos", "synonym_cov", "brand_match", "attribute_match")
    ]
)
MAX_PAGE_SIZE = 100
QUERY_LRU_SIZE = 4096
QUERY_MODEL_FILE = "query-encoder-int8.onnx"  # a tuned query encoder, beside its ranker
QUERY_LOG_FILE = "query-log.json"  # item id -> the judged queries it answered


class QueryModel(Protocol):
    """Anything that turns one query into a unit vector (a tuned ONNX query encoder)."""

    def encode_query(self, text: str) -> np.ndarray: ...


class SearchConfig(BaseModel):
    """Settings of a search index."""

    model_config = ConfigDict(extra="forbid")

    field_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    k1: float = Field(default=1.5, gt=0)
    b: float = Field(default=0.75, ge=0, le=1)
    k_lexical: int = Field(default=100, ge=1, description="Lexical candidates per query.")
    k_dense: int = Field(default=100, ge=0, description="Dense candidates per query (0: off).")
    encoder: str | None = Field(default="minilm", description="Encoder name, None for none.")
    query_backend: Literal["onnx-int8", "torch"] = Field(
        default="onnx-int8",
        description="How queries are encoded: int8 ONNX (~3 ms) or the float torch model.",
    )
    language: str = Field(default="auto", description="en, zh or auto.")
    spelling: bool = True
    synonyms: list[list[str]] = Field(default_factory=list)
    attribute_facets: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTE_FACETS))
    dense_min_cos: float = Field(
        default=0.2, description="Dense candidates below this cosine are not matches."
    )
    hnsw_threshold: int = Field(
        default=20_000, ge=1, description="Catalog size from which the vector index is HNSW."
    )
    hnsw_ef_search: int = Field(default=128, ge=1, description="HNSW search breadth.")
    response_cache_size: int = Field(
        default=4096,
        ge=0,
        description="Answers kept for identical anonymous requests (0: off). Adding items and "
        "setting the ranker, query model, query log or popularity start a fresh cache "
        "(changing one of those objects in place does not).",
    )
    encode_in_parallel: bool = Field(
        default=True,
        description="Encode the query and search the vector index on a second thread while "
        "the lexical stage runs (onnxruntime, torch and faiss release the GIL): lower "
        "latency, the same CPU time.",
    )


class SearchHit(BaseModel):
    item_id: str
    score: float
    title: str
    brand: str | None = None
    price: float | None = None
    category: list[str] = Field(default_factory=list)
    available: bool = True
    reason: str


class SearchResponse(BaseModel):
    query: str
    understood: dict[str, Any]
    total: int
    page: int
    page_size: int
    sort: str
    ranker: str
    items: list[SearchHit]
    facets: dict[str, dict[str, int]]
    took_ms: float
    cached: bool = Field(
        default=False, description="Answered from the response cache (an identical request)."
    )


@dataclass
class Prepared:
    """A query's candidates and their features, before ranking."""

    understood: UnderstoodQuery
    docs: np.ndarray
    features: np.ndarray
    query_vector: np.ndarray | None


@dataclass(frozen=True)
class SearchRequest:
    """One search request, checked, with its response-cache key (None: not cacheable) and
    the time it was made (``took_ms`` counts from there)."""

    query: str
    filters: SearchFilters
    order: SortOrder
    page: int
    page_size: int
    user_id: str | None
    understand: bool
    apply_understood_filters: bool
    cache_key: tuple[Any, ...] | None
    started: float


class SearchService:
    """Product search over a catalog. Build with :meth:`build`, query with :meth:`search`."""

    def __init__(
        self,
        config: SearchConfig | None = None,
        *,
        encoder: Encoder | None = None,
        ranker: LinearRanker | LambdaMARTRanker | None = None,
        personalizer: Personalizer | None = None,
        graph_cache: Path | None = None,
    ) -> None:
        self.config = config or SearchConfig()
        self.graph_cache = graph_cache  # where HNSW graphs are kept (None: built every time)
        self.analyzer = Analyzer(language=self.config.language)  # type: ignore[arg-type]
        self.lexical = LexicalIndex(
            self.analyzer,
            field_weights=self.config.field_weights,
            k1=self.config.k1,
            b=self.config.b,
        )
        self.columns = CatalogColumns()
        self.items: list[Item] = []
        self.encoder = encoder
        self.dense: DenseIndex | None = None
        self.speller = SpellingCorrector() if self.config.spelling else None
        self.synonyms = SynonymMap(self.config.synonyms, self.analyzer)
        self._generation = 0  # bumped by every change that can change an answer
        self._responses: LRU[tuple[Any, ...], SearchResponse] = LRU(self.config.response_cache_size)
        self._ranker: LinearRanker | LambdaMARTRanker = ranker or LinearRanker()
        self.personalizer = personalizer
        self._understanding: QueryUnderstanding | None = None
        self._positions: dict[str, int] = {}
        self._attr_sets: list[set[str]] = []
        # the tuned query model and the memo of its vectors, swapped together (one attribute)
        self._query_state: tuple[QueryModel | None, LRU[str, np.ndarray]] = (
            None,
            LRU(QUERY_LRU_SIZE),
        )
        self.query_log: QueryLog | None = None
        # Held while answering, while new items enter the indexes (their encoding happens
        # before) and while the ranker, query model, query log or popularity are swapped:
        # adding items replaces index arrays that an answer reads (re-entrant: search ->
        # prepare). Uncached answers of one process are therefore computed one at a time,
        # which is what one compute thread per serving process does anyway.
        self._lock = threading.RLock()
        self._encode_pool: ThreadPoolExecutor | None = None
        self._encode_pool_lock = threading.Lock()

    @property
    def query_model(self) -> QueryModel | None:
        """The tuned query encoder in use (None: the item encoder's own query path)."""
        return self._query_state[0]

    @property
    def ranker(self) -> LinearRanker | LambdaMARTRanker:
        return self._ranker

    @ranker.setter
    def ranker(self, ranker: LinearRanker | LambdaMARTRanker) -> None:
        with self._lock:
            self._ranker = ranker
            self._generation += 1

    # ----------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        items: Iterable[Item],
        *,
        cache_dir: Path | None = None,
        config: SearchConfig | None = None,
        encoder: Encoder | None = None,
        ranker: LinearRanker | LambdaMARTRanker | None = None,
        personalizer: Personalizer | None = None,
        show_progress: bool = True,
        graph_cache: Path | None = None,
    ) -> SearchService:
        """Index ``items``. Embeddings are cached under ``cache_dir`` (default
        ``~/.cache/shelf/embeddings``) so a rebuild re-encodes nothing; with ``graph_cache``
        the HNSW graph is kept there too, so a restart over the same catalog builds none."""
        config = config or SearchConfig()
        if encoder is None and config.encoder and config.k_dense > 0:
            encoder = load_encoder(
                config.encoder, cache_dir=cache_dir, query_backend=config.query_backend
            )
        service = cls(
            config,
            encoder=encoder,
            ranker=ranker,
            personalizer=personalizer,
            graph_cache=graph_cache,
        )
        service._add(list(items), show_progress=show_progress)
        return service

    def position(self, item_id: str) -> int | None:
        """The item's row in the index (None when it is not indexed)."""
        return self._positions.get(item_id)

    def set_query_model(self, model: QueryModel | None) -> None:
        """Encode queries with ``model`` (a tuned query encoder) instead of the item encoder's
        own query path; None goes back to that path."""
        with self._lock:
            # one assignment: no reader pairs the new model with the old model's vectors
            self._query_state = (model, LRU(QUERY_LRU_SIZE))
            self._generation += 1

    def set_query_log(self, log: QueryLog | None) -> None:
        """Search the queries each item answered too (see :mod:`shelf.search.querylog`).
        Its BM25 field is built here, at load time, not by the first query."""
        with self._lock:
            if log is not None:
                log.bind(self._positions, len(self.items), self.analyzer)
            self.query_log = log
            self._generation += 1

    def indexed(self, item_id: str) -> bool:
        """Whether ``item_id`` is in the index."""
        return item_id in self._positions

    def add_items(self, items: Iterable[Item]) -> int:
        """Index new items (findable by the next query); returns how many were added.

        An item id already indexed is refused: updating an item needs a rebuild.
        """
        batch = list(items)
        for item in batch:
            if item.item_id in self._positions:
                raise ValidationError("already indexed", field="item_id", source=item.item_id)
        self._add(batch, show_progress=False)
        return len(batch)

    def _add(self, items: list[Item], *, show_progress: bool) -> None:
        if not items:
            return
        self._check_new(items)  # before spending time on encoding
        from rich.progress import Progress

        with Progress(disable=not show_progress, transient=True) as progress:
            vectors = None
            if self.encoder is not None and self.config.k_dense > 0:
                # outside the lock: encoding is the slow part, and searches go on meanwhile
                texts = [search_text(i) for i in items]
                task = progress.add_task("encoding items", total=len(texts))
                blocks = []
                for start in range(0, len(texts), 1024):
                    blocks.append(self.encoder.encode(texts[start : start + 1024], batch_size=64))
                    progress.advance(task, len(texts[start : start + 1024]))
                vectors = np.concatenate(blocks)
            with self._lock:
                try:
                    self._index(items, vectors, progress)
                finally:  # even a failure half-way may have changed answers
                    self._understanding = None
                    self._generation += 1

    def _check_new(self, items: list[Item]) -> None:
        seen: set[str] = set()
        for item in items:
            if item.item_id in self._positions or item.item_id in seen:
                raise ValidationError("duplicate item id", field="item_id", source=item.item_id)
            seen.add(item.item_id)

    def _index(self, items: list[Item], vectors: np.ndarray | None, progress: Any) -> None:
        """Add ``items`` (and their vectors) to every index; the caller holds the lock."""
        self._check_new(items)  # again, under the lock: another thread may have added them
        task = progress.add_task("indexing text", total=len(items))
        chunk = 2000
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            self.lexical.add(part)
            progress.advance(task, len(part))
        self.columns.add(items)
        for offset, item in enumerate(items):
            self._positions[item.item_id] = len(self.items) + offset
            values = {
                str(v).lower()
                for value in item.attributes.values()
                for v in (value if isinstance(value, list) else [value])
            }
            self._attr_sets.append(values)
        self.items.extend(items)
        if self.speller is not None:
            first = len(self.items) - len(items)
            self.speller.add_documents(self.lexical.title_words[first:])
            self.speller.add_documents(
                self.analyzer.words(" ".join([i.brand or "", *i.category])) for i in items
            )
        if vectors is not None and self.encoder is not None:
            if self.dense is None:
                self.dense = DenseIndex(
                    self.encoder.dim,
                    hnsw_threshold=self.config.hnsw_threshold,
                    ef_search=self.config.hnsw_ef_search,
                    graph_cache=self.graph_cache,
                )
            graph = progress.add_task("indexing vectors", total=len(vectors))
            self.dense.add(vectors, on_progress=lambda n: progress.advance(graph, n))

    @property
    def understanding(self) -> QueryUnderstanding:
        if self._understanding is None:
            self._understanding = QueryUnderstanding(
                self.analyzer,
                self.speller,
                self.synonyms,
                brands=self.columns.brand_vocabulary(),
                attribute_values=self.columns.attribute_vocabulary(self.config.attribute_facets),
            )
        return self._understanding

    def __len__(self) -> int:
        return len(self.items)

    # ----------------------------------------------------------------- querying
    def query_vector(self, text: str, *, cached: bool = True) -> np.ndarray | None:
        """The query's vector (None without a dense index or text); ``cached=False`` skips
        the query LRU, for timing."""
        if self.encoder is None or self.dense is None or not text.strip():
            return None
        model, memo = self._query_state
        if model is not None:
            if cached:
                return memo.get_or_compute(text, model.encode_query)
            return model.encode_query(text)
        if isinstance(self.encoder, CachedEncoder):
            return self.encoder.encode_one(text) if cached else self.encoder.encode_query(text)
        return self.encoder.encode([text])[0]

    def _dense_candidates(
        self, query_vector: np.ndarray | None, mask: np.ndarray | None
    ) -> np.ndarray:
        """The vector index's candidates for ``query_vector`` (within ``mask``)."""
        cfg = self.config
        if query_vector is None or self.dense is None or cfg.k_dense <= 0:
            return np.zeros(0, dtype=np.int64)
        found, sims = self.dense.search(query_vector, cfg.k_dense, allowed=mask)
        return np.asarray(found[sims >= cfg.dense_min_cos], dtype=np.int64)

    def _encode_and_search(
        self, text: str, mask: np.ndarray | None, cached: bool
    ) -> tuple[np.ndarray | None, np.ndarray]:
        vector = self.query_vector(text, cached=cached)
        return vector, self._dense_candidates(vector, mask)

    def _start_dense(
        self, text: str, mask: np.ndarray | None, *, cached: bool
    ) -> Future[tuple[np.ndarray | None, np.ndarray]]:
        """The query's vector and its vector-index candidates, on the service's second
        thread (onnxruntime, torch and faiss release the GIL while they work)."""
        with self._encode_pool_lock:
            if self._encode_pool is None:
                self._encode_pool = ThreadPoolExecutor(
                    1, thread_name_prefix="shelf-encode", initializer=_one_faiss_thread
                )
        return self._encode_pool.submit(self._encode_and_search, text, mask, cached)

    def prepare(
        self,
        understood: UnderstoodQuery,
        mask: np.ndarray | None = None,
        *,
        query_vector: np.ndarray | None = None,
        cached: bool = True,
    ) -> Prepared:
        """Candidates of an understood query (within ``mask``) and their features; see
        :meth:`_prepare`."""
        with self._lock:
            return self._prepare(understood, mask, query_vector=query_vector, cached=cached)

    def _prepare(
        self,
        understood: UnderstoodQuery,
        mask: np.ndarray | None,
        *,
        query_vector: np.ndarray | None,
        cached: bool,
    ) -> Prepared:
        """Candidates of an understood query (within ``mask``) and their features.

        Without ``query_vector`` the query is encoded here (``cached=False`` skips the query
        LRU, for timing); with ``encode_in_parallel`` the encoding and the vector search run
        on a second thread while the lexical retrieval, the query log and the lexical
        candidates' features are computed on this one.
        """
        cfg = self.config
        pending: Future[tuple[np.ndarray | None, np.ndarray]] | None = None
        if query_vector is None and self.dense is not None and cfg.k_dense > 0:
            if cfg.encode_in_parallel:
                pending = self._start_dense(understood.text, mask, cached=cached)
            else:
                query_vector = self.query_vector(understood.text, cached=cached)
        try:
            return self._candidates(understood, mask, query_vector, pending)
        finally:
            if pending is not None:
                # on an error, the second thread must not go on searching the vector index
                # once this thread has given up the lock
                wait([pending])

    def _candidates(
        self,
        understood: UnderstoodQuery,
        mask: np.ndarray | None,
        query_vector: np.ndarray | None,
        pending: Future[tuple[np.ndarray | None, np.ndarray]] | None,
    ) -> Prepared:
        cfg = self.config
        terms = understood.terms + understood.synonym_terms
        weights = [1.0] * len(understood.terms) + [SYNONYM_WEIGHT] * len(understood.synonym_terms)
        field_scores = self.lexical.field_scores(terms, weights)
        lex = self.lexical.combine(field_scores)
        lex_top = top_k(lex, cfg.k_lexical, mask)
        n_items = len(self.items)
        log = self.query_log
        if log is not None:
            log_scores = log.scores(understood.terms, self._positions, n_items, self.analyzer)
            log_top = top_k(log_scores, K_QUERYLOG, mask)
        else:
            log_scores = np.zeros(n_items, dtype=np.float32)
            log_top = np.zeros(0, dtype=np.int64)
        q_bigrams = bigram_tokens(understood.terms)
        # Whole-catalog scores, computed once per query and indexed by the candidates below
        # (the candidate set is assembled in two passes when the query is encoded beside);
        # the term-match inputs are looked up at the candidates only, in the postings.
        catalog = {
            "lex": lex,
            "bigram": self.lexical.bigrams.scores(q_bigrams),
            "querylog": log_scores,
            **{f"field:{f}": scores for f, scores in field_scores.items()},
        }
        centroid = self._feedback_centroid(lex_top)
        q_trigrams = char_trigrams(understood.words)

        def columns_of(docs: np.ndarray) -> dict[str, np.ndarray]:
            return self._candidate_columns(
                understood, docs, catalog, centroid, q_bigrams, q_trigrams
            )

        lexical_docs = np.concatenate([lex_top, log_top])
        order: np.ndarray | None = None
        if pending is None:  # one pass over the candidate union
            dense_top = self._dense_candidates(query_vector, mask)
            docs = np.unique(np.concatenate([lexical_docs, dense_top])).astype(np.int64)
            columns = columns_of(docs)
        else:
            # The lexical candidates get their vector-free inputs while the other thread
            # encodes the query and searches the vector index; its extra candidates after.
            early_docs = np.unique(lexical_docs).astype(np.int64)
            early = columns_of(early_docs)
            query_vector, dense_top = pending.result()
            late_docs = dense_top[~sorted_contains(early_docs, dense_top)]
            late = columns_of(late_docs)
            docs = np.concatenate([early_docs, late_docs])
            columns = {name: np.concatenate([early[name], late[name]], axis=-1) for name in early}
            # the candidates go out in index order, as one set would: the feature rows are
            # reordered once at the end (every feature is computed per candidate)
            order = np.argsort(docs, kind="stable")
        if query_vector is not None and self.dense is not None:
            cos = self.dense.cosine(query_vector, docs)
        else:
            cos = np.zeros(len(docs), dtype=np.float32)
        ctx = QueryContext(
            text=understood.text,
            terms=understood.terms,
            idf=[self.lexical.idf(t) for t in understood.terms],
            synonym_terms=understood.synonym_terms,
            corrected=bool(understood.corrections),
        )
        data = CandidateData(
            lex_scores=columns["lex"],
            field_scores={f: columns[f"field:{f}"] for f in field_scores},
            dense_cos=cos,
            lex_rank=rank_positions(docs, lex_top),
            dense_rank=rank_positions(docs, dense_top),
            bigram_scores=columns["bigram"],
            trigram_scores=columns["trigram"],
            last_term_pos=columns["last_term_pos"],
            n_lex_candidates=len(lex_top),
            word_coverage=columns["word_coverage"],
            prf_cos=columns["prf_cos"],
            term_match=columns["term_match"],
            synonym_match=columns["synonym_match"],
            bigram_match=columns["bigram_match"],
            title_len=columns["title_len"],
            title_similarity=columns["title_similarity"],
            brand_match=columns["brand_match"],
            attribute_match=columns["attribute_match"],
            popularity=columns["popularity"],
            querylog_scores=columns["querylog"],
            querylog_rank=rank_positions(docs, log_top),
        )
        features = compute_features(ctx, data)
        if order is not None:
            docs, features = docs[order], features[order]
        return Prepared(understood, docs, features, query_vector)

    def _candidate_columns(
        self,
        understood: UnderstoodQuery,
        docs: np.ndarray,
        catalog: dict[str, np.ndarray],
        centroid: np.ndarray | None,
        q_bigrams: list[str],
        q_trigrams: list[str],
    ) -> dict[str, np.ndarray]:
        """The feature inputs of ``docs`` that need no query vector, one entry per column
        (2-d entries have a row per query term, a column per candidate)."""
        columns = {name: scores[..., docs] for name, scores in catalog.items()}
        titles = self.lexical.titles
        columns.update(
            last_term_pos=self._last_term_pos(understood.terms, docs),
            word_coverage=self._word_coverage(understood.words, docs),
            term_match=self._term_match(understood.terms, docs),
            synonym_match=self._term_match(understood.synonym_terms, docs),
            bigram_match=self._bigram_match(q_bigrams, docs),
            trigram=self.lexical.trigrams.scores_at(q_trigrams, docs),
            prf_cos=(
                self.dense.cosine(centroid, docs)
                if centroid is not None and self.dense is not None
                else np.zeros(len(docs), dtype=np.float32)
            ),
            title_len=self.lexical.fields["title"].doc_len_[docs],
            title_similarity=title_similarity(understood.text, [titles[d] for d in docs.tolist()]),
            brand_match=self._brand_match(understood.brands, docs),
            attribute_match=self._attribute_match(understood.attributes, docs),
            popularity=self.columns.popularity[docs],
        )
        return columns

    def _term_match(self, terms: list[str], docs: np.ndarray) -> np.ndarray:
        """(len(terms), len(docs)) bool: the term occurs in any indexed field of the item."""
        out = np.zeros((len(terms), len(docs)), dtype=bool)
        for i, term in enumerate(terms):
            for index in self.lexical.fields.values():
                out[i] |= sorted_contains(index.postings(term), docs)
        return out

    def _feedback_centroid(self, lex_top: np.ndarray) -> np.ndarray | None:
        """Unit mean vector of the best lexical results (pseudo-relevance feedback: what kind
        of product the top matches agree on); its cosine with each candidate is a feature.
        None without vectors or lexical results."""
        if self.dense is None or len(lex_top) == 0:
            return None
        centroid = self.dense.vectors[lex_top[:PRF_DEPTH]].mean(axis=0)
        norm = float(np.linalg.norm(centroid))
        return None if norm == 0 else centroid / norm

    def _word_coverage(self, words: list[str], docs: np.ndarray) -> np.ndarray:
        """Per item of ``docs``, the share of the query's non-stop words present, as written,
        among the title's words."""
        wanted = {w for w in words if not self.analyzer.is_stop_word(w)}
        found = np.zeros(len(docs), dtype=np.float32)
        for word in wanted:  # postings hold each item once
            found += sorted_contains(self.lexical.title_word_postings.postings(word), docs)
        return found / len(wanted) if wanted else found

    def _last_term_pos(self, terms: list[str], docs: np.ndarray) -> np.ndarray:
        """Per item of ``docs``, where the query's last term sits in the title, 0 (first) to 1
        (last); 1.5 if absent. Product titles tend to put the product type last ("...
        Cordless Drill")."""
        out = np.full(len(docs), 1.5, dtype=np.float32)
        if not terms:
            return out
        title = self.lexical.fields["title"]
        having, first = title.first_positions(terms[-1])
        if len(having) == 0:
            return out
        at, hit = sorted_lookup(having, docs)
        first, length = first[at[hit]], title.doc_len_[docs[hit]]
        out[hit] = np.where(length > 1, first / np.maximum(length - 1, 1), 1.0)
        return out

    def _bigram_match(self, bigrams: list[str], docs: np.ndarray) -> np.ndarray:
        """(len(bigrams), len(docs)) bool: the title has the two terms next to each other."""
        out = np.zeros((len(bigrams), len(docs)), dtype=bool)
        for i, bigram in enumerate(bigrams):
            out[i] = sorted_contains(self.lexical.bigrams.postings(bigram), docs)
        return out

    def _brand_match(self, brands: list[str], docs: np.ndarray) -> np.ndarray:
        if not brands:
            return np.zeros(len(docs), dtype=np.float32)
        vocab = self.columns.brand_vocabulary()
        ids = [
            self.columns.brand_names.index(vocab[b.lower()]) for b in brands if b.lower() in vocab
        ]
        return np.isin(self.columns.brand_ids[docs], ids).astype(np.float32)

    def _attribute_match(self, attributes: dict[str, list[str]], docs: np.ndarray) -> np.ndarray:
        wanted = {v.lower() for values in attributes.values() for v in values}
        if not wanted:
            return np.zeros(len(docs), dtype=np.float32)
        return np.array([len(wanted & self._attr_sets[d]) for d in docs.tolist()], np.float32)

    def score(self, prepared: Prepared, *, user_id: str | None = None) -> np.ndarray:
        """Ranker scores of the prepared candidates, then the personalisation hook."""
        scores = self.ranker.predict(prepared.features) if len(prepared.docs) else np.zeros(0)
        if user_id is not None and self.personalizer is not None and len(prepared.docs):
            ids = [self.items[d].item_id for d in prepared.docs.tolist()]
            scores = np.asarray(self.personalizer(user_id, ids, scores), dtype=np.float32)
        return np.asarray(scores, dtype=np.float32)

    def understand(self, query: str, *, enabled: bool = True) -> UnderstoodQuery:
        if not enabled:
            words = self.analyzer.words(query)
            terms = list(dict.fromkeys(self.analyzer.terms_of_words(words)))
            return UnderstoodQuery(raw=query, text=query, words=words, terms=terms)
        return self.understanding.understand(query)

    def search(
        self,
        query: str,
        *,
        filters: SearchFilters | None = None,
        sort: SortOrder | str = SortOrder.RELEVANCE,
        page: int = 1,
        page_size: int = 20,
        user_id: str | None = None,
        understand: bool = True,
        apply_understood_filters: bool = True,
    ) -> SearchResponse:
        """Search the catalog. Explicit ``filters`` win over understood ones; price bounds
        understood from the query become filters unless ``apply_understood_filters=False``;
        understood brands and attribute values are boosts (ranking features). An identical
        request made before is answered from the response cache."""
        asked = self.request(
            query,
            filters=filters,
            sort=sort,
            page=page,
            page_size=page_size,
            user_id=user_id,
            understand=understand,
            apply_understood_filters=apply_understood_filters,
        )
        return self.cached(asked) or self.answer(asked)

    def request(
        self,
        query: str,
        *,
        filters: SearchFilters | None = None,
        sort: SortOrder | str = SortOrder.RELEVANCE,
        page: int = 1,
        page_size: int = 20,
        user_id: str | None = None,
        understand: bool = True,
        apply_understood_filters: bool = True,
    ) -> SearchRequest:
        """A :meth:`search` request, checked (ValidationError names the field), with its
        response-cache key. :meth:`cached` then :meth:`answer` split :meth:`search` in two,
        so that a server can answer repeats inline and hand new queries to a thread."""
        started = time.perf_counter()
        if page < 1:
            raise ValidationError("must be at least 1", field="page")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValidationError(f"must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
        try:
            order = SortOrder(sort)
        except ValueError:
            raise ValidationError(
                f"unknown sort {sort!r}; one of {[s.value for s in SortOrder]}", field="sort"
            ) from None
        filters = filters or SearchFilters()
        cache_key: tuple[Any, ...] | None = None
        if user_id is None and self._responses.size:  # personal answers are not kept
            cache_key = (
                self._generation,
                query,
                filters.model_dump_json(),
                order.value,
                page,
                page_size,
                understand,
                apply_understood_filters,
            )
        return SearchRequest(
            query,
            filters,
            order,
            page,
            page_size,
            user_id,
            understand,
            apply_understood_filters,
            cache_key,
            started,
        )

    def cached(self, request: SearchRequest) -> SearchResponse | None:
        """The answer from the response cache, or None (nothing is computed)."""
        if request.cache_key is None:
            return None
        hit = self._responses.get(request.cache_key)
        if hit is None:
            return None
        took_ms = round((time.perf_counter() - request.started) * 1000, 3)
        return hit.model_copy(update={"took_ms": took_ms, "cached": True})

    def answer(self, request: SearchRequest) -> SearchResponse:
        """The answer computed (the response cache is not read), then kept in the cache."""
        with self._lock:  # no item is indexed halfway through an answer
            response = self._answer(
                request.query,
                request.filters,
                request.order,
                request.page,
                request.page_size,
                request.user_id,
                understand=request.understand,
                apply_understood_filters=request.apply_understood_filters,
                started=request.started,
            )
        if request.cache_key is not None:
            self._responses.put(request.cache_key, response)
        return response

    def _answer(
        self,
        query: str,
        filters: SearchFilters,
        order: SortOrder,
        page: int,
        page_size: int,
        user_id: str | None,
        *,
        understand: bool,
        apply_understood_filters: bool,
        started: float,
    ) -> SearchResponse:
        understood = self.understand(query, enabled=understand)
        effective = filters
        if apply_understood_filters and (understood.price_min or understood.price_max):
            effective = filters.model_copy(
                update={
                    "price_min": filters.price_min
                    if filters.price_min is not None
                    else understood.price_min,
                    "price_max": filters.price_max
                    if filters.price_max is not None
                    else understood.price_max,
                }
            )
        mask = self.columns.mask(effective)
        if understood.terms or understood.text.strip():
            prepared = self.prepare(understood, mask)
            docs = prepared.docs
            relevance = self.score(prepared, user_id=user_id)
        else:  # browsing: every item meeting the filters, by popularity
            prepared = None
            docs = np.arange(len(self.items)) if mask is None else np.flatnonzero(mask)
            relevance = self.columns.popularity[docs].astype(np.float32)
        ordered = self.columns.sort(docs, relevance, order)
        start = (page - 1) * page_size
        shown = ordered[start : start + page_size]
        # docs are in index order (both branches above), so a hit's row is a binary search
        rows = np.searchsorted(docs, shown)
        if prepared is not None:
            reasons = self._reasons(prepared, rows)
        else:
            reasons = ["matches filters"] * len(rows)
        hits = []
        for d, score, reason in zip(shown.tolist(), relevance[rows].tolist(), reasons, strict=True):
            item = self.items[d]
            hits.append(
                SearchHit(
                    item_id=item.item_id,
                    score=round(score, 6),
                    title=item.title,
                    brand=item.brand,
                    price=item.price,
                    category=list(item.category),
                    available=item.available,
                    reason=reason,
                )
            )
        understood_dict = understood.to_dict()
        understood_dict["applied_filters"] = effective.model_dump(exclude_defaults=True)
        return SearchResponse(
            query=query,
            understood=understood_dict,
            total=len(docs),
            page=page,
            page_size=page_size,
            sort=order.value,
            ranker=self.ranker.name,
            items=hits,
            facets=self.columns.facets(docs),
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _reasons(self, prepared: Prepared, rows: np.ndarray) -> list[str]:
        """Why each candidate at ``rows`` of ``prepared`` was found, for a person to read."""
        understood = prepared.understood
        common = []  # what every hit of the query shares
        if understood.corrections:
            fixes = ", ".join(f"{a}->{b}" for a, b in understood.corrections.items())
            common.append(f"spelling {fixes}")
        out = []
        values = prepared.features[np.ix_(rows, _REASON_COLUMNS)].tolist()
        for doc, (dense_cos, synonym_cov, brand_match, attribute_match) in zip(
            prepared.docs[rows].tolist(), values, strict=True
        ):
            title_terms = set(self.lexical.title_terms[doc])
            matched = [t for t in understood.terms if t in title_terms]
            parts = []
            if matched:
                parts.append("matched " + ", ".join(matched))
            if dense_cos >= 0.5:
                parts.append(f"semantic match {dense_cos:.2f}")
            parts.extend(common)
            if synonym_cov > 0:
                parts.append("synonym")
            if brand_match > 0:
                parts.append("brand boost")
            if attribute_match > 0:
                parts.append("attribute boost")
            out.append("; ".join(parts) or "related")
        return out

    def warm_up(self) -> None:
        """Rank one query made from the first item's title, uncached, so that the query
        encoder's onnxruntime session and the compiled ranker are loaded now rather than in
        a shopper's request."""
        if self.items:
            self.score(self.prepare(self.understand(self.items[0].title), cached=False))

    def response_cache_stats(self) -> dict[str, int]:
        """Size limit, hits and misses of the response cache (since the service started)."""
        cache = self._responses
        return {
            "size": cache.size,
            "entries": len(cache),
            "hits": cache.hits,
            "misses": cache.misses,
        }

    # ----------------------------------------------------------------- persistence
    def set_popularity(self, scores: dict[str, float]) -> None:
        with self._lock:
            self.columns.set_popularity(scores)
            self._generation += 1

    def save(self, path: Path) -> None:
        """Write the index: config, items, item vectors and the ranker (no pickles)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(self.config.model_dump_json(indent=2))
        with (path / "items.jsonl").open("w", encoding="utf-8") as fh:
            for item in self.items:
                fh.write(item.model_dump_json() + "\n")
        if self.dense is not None:
            self.dense.save(path / "vectors.npy")
        self.ranker.save(path / "ranker")
        save_query_model(self.query_model, path / "ranker")
        save_query_log(self.query_log, path / "ranker")

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        cache_dir: Path | None = None,
        show_progress: bool = False,
        graph_cache: Path | None = None,
    ) -> SearchService:
        """An index saved by :meth:`save`; text indexes are rebuilt, vectors are reused."""
        if not (path / "config.json").exists():
            raise ArtifactError(f"{path}: not a search index (no config.json)")
        config = SearchConfig.model_validate_json((path / "config.json").read_text())
        with (path / "items.jsonl").open(encoding="utf-8") as fh:
            items = [Item.model_validate_json(line) for line in fh]
        encoder = None
        if config.encoder and config.k_dense > 0:
            encoder = load_encoder(
                config.encoder, cache_dir=cache_dir, query_backend=config.query_backend
            )
        service = cls(config, encoder=encoder, ranker=load_ranker(path / "ranker"))
        vectors_path = path / "vectors.npy"
        if encoder is not None and vectors_path.exists():
            service.encoder = None  # index the text only, then attach the saved vectors
            service._add(items, show_progress=show_progress)
            service.encoder = encoder
            vectors = np.load(vectors_path, allow_pickle=False)
            if len(vectors) != len(items):
                raise ArtifactError(f"{path}: {len(vectors)} vectors for {len(items)} items")
            service.dense = DenseIndex(
                encoder.dim,
                hnsw_threshold=config.hnsw_threshold,
                ef_search=config.hnsw_ef_search,
                graph_cache=graph_cache,
            )
            service.dense.add(vectors)
        else:
            service._add(items, show_progress=show_progress)
        service.set_query_model(load_query_model(path / "ranker"))
        service.set_query_log(load_query_log(path / "ranker"))
        return service


def load_query_model(ranker_dir: Path) -> OnnxQueryModel | None:
    """The tuned query encoder saved beside a ranker (``shelf search-train``), if any."""
    path = ranker_dir / QUERY_MODEL_FILE
    return OnnxQueryModel(path) if path.exists() else None


def save_query_model(model: QueryModel | None, ranker_dir: Path) -> None:
    """Copy a tuned query model's ONNX file beside a ranker (or, with None, remove a stale
    one: it would not match the ranker it sits next to)."""
    target = ranker_dir / QUERY_MODEL_FILE
    source = getattr(model, "path", None)
    if source is None:
        target.unlink(missing_ok=True)
    elif Path(source).resolve() != target.resolve():
        ranker_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(source).read_bytes())


def save_query_log(log: QueryLog | None, ranker_dir: Path) -> None:
    """Write (or, with None, remove) ``query-log.json`` beside a ranker."""
    path = ranker_dir / QUERY_LOG_FILE
    if log is None:
        path.unlink(missing_ok=True)
        return
    ranker_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(log.entries, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def load_query_log(ranker_dir: Path) -> QueryLog | None:
    """The query log saved beside a ranker (``shelf search-train``), if any."""
    path = ranker_dir / QUERY_LOG_FILE
    if not path.exists():
        return None
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, dict):
        raise ArtifactError(f"{path}: not an object of item id to queries")
    return QueryLog(entries)


def _one_faiss_thread() -> None:
    """OpenMP's thread count is per thread: a new thread would search with every core's
    worth of threads (for one query, all but one wait). One, like the caller."""
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - search extra not installed
        pass


def sorted_lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entry of ``ids``, its index in the non-empty ascending array ``sorted_ids`` and
    whether it is there (a binary search each: np.setdiff1d would sort both arrays again)."""
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return at, np.asarray(sorted_ids[at] == ids)


def sorted_contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per entry of ``ids``, whether the ascending array ``sorted_ids`` holds it."""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    return sorted_lookup(sorted_ids, ids)[1]


def items_by_position(service: SearchService, docs: Sequence[int]) -> list[str]:
    return [service.items[d].item_id for d in docs]


def config_from_json(text: str) -> SearchConfig:
    return SearchConfig.model_validate(json.loads(text))
