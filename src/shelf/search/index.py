"""What a catalog is indexed into: field-weighted BM25, the vector index, the columns that
filters, facets and sorting read, item positions and attribute sets, and the vocabularies that
query understanding needs. Built by :class:`SearchIndex` and read by the candidate stage.

Adding items encodes them first (the slow part, :meth:`SearchIndex.encode`, done while
searches go on), then enters them into every index at once (:meth:`SearchIndex.add`, under the
service's lock). The indexes only grow: a deleted item keeps its row, marked in
:attr:`SearchIndex.deleted`, which every answer's mask leaves out (:meth:`SearchIndex.live`);
the same id added again gets a new row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shelf.catalog import Item, search_text
from shelf.errors import ArtifactError, ValidationError
from shelf.search.config import SearchConfig
from shelf.search.dense import DenseIndex
from shelf.search.filters import CatalogColumns
from shelf.search.lexical import LexicalIndex
from shelf.search.spelling import SpellingCorrector
from shelf.search.understand import QueryUnderstanding, SynonymMap
from shelf.text.encoder import Encoder
from shelf.text.tokenize import Analyzer

ENCODE_BLOCK = 1024  # items encoded per progress step
INDEX_CHUNK = 2000  # items entered into the lexical index per progress step


class SearchIndex:
    """The catalog's indexes. ``graph_cache`` keeps HNSW graphs across restarts."""

    def __init__(
        self,
        config: SearchConfig,
        *,
        encoder: Encoder | None = None,
        graph_cache: Path | None = None,
    ) -> None:
        self.config = config
        self.graph_cache = graph_cache
        self.analyzer = Analyzer(language=config.language)  # type: ignore[arg-type]
        self.lexical = LexicalIndex(
            self.analyzer, field_weights=config.field_weights, k1=config.k1, b=config.b
        )
        self.columns = CatalogColumns()
        self.items: list[Item] = []
        self.encoder = encoder
        self.dense: DenseIndex | None = None
        self.speller = SpellingCorrector() if config.spelling else None
        self.synonyms = SynonymMap(config.synonyms, self.analyzer)
        self.positions: dict[str, int] = {}  # of the items not deleted
        self.deleted = np.zeros(0, dtype=bool)  # per row: the item was deleted
        self.attribute_sets: list[set[str]] = []
        self._understanding: QueryUnderstanding | None = None

    def __len__(self) -> int:
        return len(self.items)

    def position(self, item_id: str) -> int | None:
        """The item's row in the index (None when it is not indexed, or deleted)."""
        return self.positions.get(item_id)

    @property
    def n_live(self) -> int:
        """Items indexed and not deleted."""
        return len(self.positions)

    def delete(self, item_ids: Sequence[str]) -> int:
        """Mark the items deleted (their rows stay, left out of every answer); returns how
        many were indexed. The caller holds the lock that answers take."""
        rows = [
            r for i in dict.fromkeys(item_ids) if (r := self.positions.pop(i, None)) is not None
        ]
        self.deleted[rows] = True
        return len(rows)

    def live(self, mask: np.ndarray | None) -> np.ndarray | None:
        """``mask`` (None: every row) without the deleted rows; None while none is deleted."""
        if len(self.positions) == len(self.items):
            return mask
        return ~self.deleted if mask is None else mask & ~self.deleted

    @property
    def encodes(self) -> bool:
        """Whether items get vectors (an encoder and dense candidates are configured)."""
        return self.encoder is not None and self.config.k_dense > 0

    @property
    def understanding(self) -> QueryUnderstanding:
        """Query understanding over this catalog's brands and attribute values."""
        if self._understanding is None:
            self._understanding = QueryUnderstanding(
                self.analyzer,
                self.speller,
                self.synonyms,
                brands=self.columns.brand_vocabulary(),
                attribute_values=self.columns.attribute_vocabulary(self.config.attribute_facets),
            )
        return self._understanding

    def check_new(self, items: Sequence[Item]) -> None:
        """ValidationError if an item is already indexed or given twice."""
        seen: set[str] = set()
        for item in items:
            if item.item_id in self.positions or item.item_id in seen:
                raise ValidationError("duplicate item id", field="item_id", source=item.item_id)
            seen.add(item.item_id)

    def encode(self, items: Sequence[Item], progress: Any) -> np.ndarray | None:
        """The items' vectors (None without an encoder); reads no index state."""
        if not self.encodes or self.encoder is None:
            return None
        texts = [search_text(i) for i in items]
        task = progress.add_task("encoding items", total=len(texts))
        blocks = []
        for start in range(0, len(texts), ENCODE_BLOCK):
            block = texts[start : start + ENCODE_BLOCK]
            blocks.append(self.encoder.encode(block, batch_size=64))
            progress.advance(task, len(block))
        return np.concatenate(blocks)

    def add(self, items: Sequence[Item], vectors: np.ndarray | None, progress: Any) -> None:
        """Enter ``items`` (and their vectors) into every index; the caller holds the lock
        that answers take."""
        self.check_new(items)  # again: another thread may have added them meanwhile
        try:
            task = progress.add_task("indexing text", total=len(items))
            for start in range(0, len(items), INDEX_CHUNK):
                part = items[start : start + INDEX_CHUNK]
                self.lexical.add(part)
                progress.advance(task, len(part))
            self.columns.add(items)
            self.deleted = np.concatenate([self.deleted, np.zeros(len(items), dtype=bool)])
            for offset, item in enumerate(items):
                self.positions[item.item_id] = len(self.items) + offset
                self.attribute_sets.append(
                    {
                        str(v).lower()
                        for value in item.attributes.values()
                        for v in (value if isinstance(value, list) else [value])
                    }
                )
            self.items.extend(items)
            if self.speller is not None:
                first = len(self.items) - len(items)
                self.speller.add_documents(self.lexical.title_words[first:])
                self.speller.add_documents(
                    self.analyzer.words(" ".join([i.brand or "", *i.category])) for i in items
                )
            if vectors is not None:
                self.attach_vectors(vectors, progress)
        finally:  # even a failure half-way may have changed what understanding knows
            self._understanding = None

    def attach_vectors(self, vectors: np.ndarray, progress: Any = None) -> None:
        """Add the vectors of the newest items to the vector index (made on first use)."""
        if self.encoder is None:
            raise ArtifactError("vectors given to an index without an encoder")
        if self.dense is None:
            self.dense = DenseIndex(
                self.encoder.dim,
                hnsw_threshold=self.config.hnsw_threshold,
                ef_search=self.config.hnsw_ef_search,
                graph_cache=self.graph_cache,
            )
        if progress is None:
            self.dense.add(vectors)
            return
        graph = progress.add_task("indexing vectors", total=len(vectors))
        self.dense.add(vectors, on_progress=lambda n: progress.advance(graph, n))

    def save(self, path: Path) -> None:
        """Write the config, the items and the item vectors (no pickles). Deleted items are
        written too (a saved index is built from files, where nothing is deleted)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(self.config.model_dump_json(indent=2))
        with (path / "items.jsonl").open("w", encoding="utf-8") as fh:
            for item in self.items:
                fh.write(item.model_dump_json() + "\n")
        if self.dense is not None:
            self.dense.save(path / "vectors.npy")


def read_saved(path: Path) -> tuple[SearchConfig, list[Item], np.ndarray | None]:
    """The config, items and (if saved) item vectors written by :meth:`SearchIndex.save`."""
    if not (path / "config.json").exists():
        raise ArtifactError(f"{path}: not a search index (no config.json)")
    config = SearchConfig.model_validate_json((path / "config.json").read_text())
    with (path / "items.jsonl").open(encoding="utf-8") as fh:
        items = [Item.model_validate_json(line) for line in fh]
    vectors_path = path / "vectors.npy"
    vectors = np.load(vectors_path, allow_pickle=False) if vectors_path.exists() else None
    if vectors is not None and len(vectors) != len(items):
        raise ArtifactError(f"{path}: {len(vectors)} vectors for {len(items)} items")
    return config, items, vectors
