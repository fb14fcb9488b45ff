"""Filters, facets and sorting over the catalog, as numpy columns (one row per indexed item).

Filters are data (:class:`SearchFilters`), turned into one boolean mask over all items. Facets
count the items of a result set by brand, category (each level of the path), availability,
price band and attribute value; counts are exact over the set given. Both are bounded: a
request names at most ``MAX_FILTER_VALUES`` brands, attributes and values of one attribute, and
an answer holds at most ``MAX_FACET_GROUPS`` facets of at most ``MAX_FACET_VALUES`` values
each (attribute facets could otherwise be one per attribute name of the catalog).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shelf.catalog import Item
from shelf.catalog.limits import (
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_BRAND_LENGTH,
    MAX_CATEGORY_DEPTH,
)

PRICE_BANDS: tuple[float, ...] = (0, 10, 25, 50, 100, 250, 500, 1000)
MAX_FILTER_VALUES = 50  # brands, attribute names, and values of one attribute, per request
MAX_FACET_GROUPS = 20  # facets per answer: brand, category levels, availability, price first
MAX_FACET_VALUES = 20  # values per facet, the most frequent


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"
    POPULARITY = "popularity"


class SearchFilters(BaseModel):
    """Constraints every result must meet. Empty lists and None mean "no constraint"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: list[str] = Field(
        default_factory=list, description="Category path prefix, e.g. ['Tools', 'Drills']."
    )
    brands: list[str] = Field(default_factory=list, description="Any of these brands.")
    price_min: float | None = Field(default=None, ge=0)
    price_max: float | None = Field(default=None, ge=0)
    attributes: dict[str, list[str]] = Field(
        default_factory=dict, description="Attribute name -> any of these values."
    )
    available: bool | None = Field(default=None, description="Only (un)available items.")

    @field_validator("category")
    @classmethod
    def _category(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_CATEGORY_DEPTH:
            raise ValueError(f"at most {MAX_CATEGORY_DEPTH} levels deep, got {len(value)}")
        return value

    @field_validator("brands")
    @classmethod
    def _brands(cls, value: list[str]) -> list[str]:
        _at_most(value, MAX_FILTER_VALUES, "brands")
        for brand in value:
            _at_most(brand, MAX_BRAND_LENGTH, "characters in a brand")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _at_most(value, MAX_FILTER_VALUES, "attributes")
        for name, values in value.items():
            _at_most(name, MAX_ATTRIBUTE_NAME_LENGTH, "characters in an attribute name")
            _at_most(values, MAX_FILTER_VALUES, f"values of {name!r}")
            for wanted in values:
                _at_most(wanted, MAX_ATTRIBUTE_VALUE_LENGTH, "characters in an attribute value")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> SearchFilters:
        if (
            self.price_min is not None
            and self.price_max is not None
            and self.price_min > self.price_max
        ):
            raise ValueError("price_min: must not exceed price_max")
        return self

    def is_empty(self) -> bool:
        return self == SearchFilters()


def _at_most(value: Sequence[object] | dict[str, list[str]], limit: int, what: str) -> None:
    if len(value) > limit:
        raise ValueError(f"at most {limit} {what}, got {len(value)}")


def _key(value: object) -> str:
    return str(value).strip().lower()


class CatalogColumns:
    """The filterable and sortable columns of the indexed items."""

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self.price = np.zeros(0, dtype=np.float64)  # nan when unknown
        self.available = np.zeros(0, dtype=bool)
        self.created = np.zeros(0, dtype=np.float64)  # epoch seconds, nan when unknown
        self.popularity = np.zeros(0, dtype=np.float64)
        self.brand_ids = np.zeros(0, dtype=np.int32)  # -1 when unknown
        self.brand_names: list[str] = []
        self._brand_index: dict[str, int] = {}
        self.attributes: list[dict[str, list[str]]] = []
        # per item, what it adds to the facet counts: (category depth, label of that level:
        # "A", "A > B", ...) and (attribute name, value) pairs, each once
        self._facet_pairs: list[tuple[tuple[int | str, str], ...]] = []
        self._category_docs: dict[tuple[str, ...], list[int]] = {}
        self._attribute_docs: dict[tuple[str, str], list[int]] = {}

    def __len__(self) -> int:
        return len(self.item_ids)

    def add(self, items: Sequence[Item]) -> None:
        start = len(self.item_ids)
        prices, avail, created, brands = [], [], [], []
        for offset, item in enumerate(items):
            doc = start + offset
            self.item_ids.append(item.item_id)
            prices.append(np.nan if item.price is None else item.price)
            avail.append(item.available)
            created.append(
                np.nan if item.created_at is None else datetime.timestamp(item.created_at)
            )
            brand_id = -1
            if item.brand:
                key = _key(item.brand)
                brand_id = self._brand_index.get(key, -1)
                if brand_id < 0:
                    brand_id = len(self.brand_names)
                    self._brand_index[key] = brand_id
                    self.brand_names.append(item.brand)
            brands.append(brand_id)
            path = tuple(item.category)
            for depth in range(1, len(path) + 1):
                self._category_docs.setdefault(tuple(_key(p) for p in path[:depth]), []).append(doc)
            attrs: dict[str, list[str]] = {}
            for name, value in item.attributes.items():
                values = value if isinstance(value, list) else [value]
                attrs[name] = [str(v) for v in values]
                for v in values:
                    self._attribute_docs.setdefault((_key(name), _key(v)), []).append(doc)
            self.attributes.append(attrs)
            self._facet_pairs.append(
                (
                    *((depth, " > ".join(path[: depth + 1])) for depth in range(len(path))),
                    *((name, v) for name, values in attrs.items() for v in dict.fromkeys(values)),
                )
            )
        self.price = np.concatenate([self.price, np.asarray(prices, dtype=np.float64)])
        self.available = np.concatenate([self.available, np.asarray(avail, dtype=bool)])
        self.created = np.concatenate([self.created, np.asarray(created, dtype=np.float64)])
        self.brand_ids = np.concatenate([self.brand_ids, np.asarray(brands, dtype=np.int32)])
        self.popularity = np.concatenate([self.popularity, np.zeros(len(items))])

    def brand_vocabulary(self) -> dict[str, str]:
        """Lower-cased brand -> display brand."""
        return {_key(b): b for b in self.brand_names}

    def attribute_vocabulary(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """For each attribute name in ``names`` (case-insensitive): lower-cased value -> value."""
        wanted = {_key(n) for n in names}
        out: dict[str, dict[str, str]] = {}
        for attrs in self.attributes:
            for name, values in attrs.items():
                if _key(name) in wanted:
                    for v in values:
                        out.setdefault(name, {}).setdefault(_key(v), v)
        return out

    def set_popularity(self, scores: dict[str, float]) -> None:
        """Popularity per item id (e.g. purchases in the last 30 days); others get 0."""
        self.popularity = np.array([scores.get(i, 0.0) for i in self.item_ids], dtype=np.float64)

    def brand_of(self, doc: int) -> str | None:
        b = int(self.brand_ids[doc])
        return None if b < 0 else self.brand_names[b]

    def mask(self, filters: SearchFilters) -> np.ndarray | None:
        """Boolean mask of the items meeting ``filters``; None when nothing is filtered."""
        if filters.is_empty():
            return None
        n = len(self)
        mask = np.ones(n, dtype=bool)
        if filters.category:
            docs = self._category_docs.get(tuple(_key(p) for p in filters.category), [])
            mask &= _docs_mask(docs, n)
        if filters.brands:
            ids = [self._brand_index.get(_key(b), -2) for b in filters.brands]
            mask &= np.isin(self.brand_ids, ids)
        if filters.price_min is not None:
            mask &= self.price >= filters.price_min  # nan compares False: unknown prices drop
        if filters.price_max is not None:
            mask &= self.price <= filters.price_max
        for name, values in filters.attributes.items():
            docs = [d for v in values for d in self._attribute_docs.get((_key(name), _key(v)), [])]
            mask &= _docs_mask(docs, n)
        if filters.available is not None:
            mask &= self.available == filters.available
        return mask

    def facets(
        self, docs: np.ndarray, *, top: int = MAX_FACET_VALUES, groups: int = MAX_FACET_GROUPS
    ) -> dict[str, dict[str, int]]:
        """Exact counts over ``docs`` by brand, category level, availability, price band and
        attribute; each facet lists its ``top`` most frequent values (ties by name). At most
        ``groups`` facets: brand, the category levels, availability and price first, then
        the attributes the set has most values of (ties by name)."""
        out: dict[str, dict[str, int]] = {}
        if len(docs) == 0:
            return out
        brand_ids = self.brand_ids[docs]
        known = brand_ids[brand_ids >= 0]
        if len(known):
            counts = np.bincount(known, minlength=len(self.brand_names))
            present = np.flatnonzero(counts)  # not a loop over every brand of the catalog
            out["brand"] = _top(
                {self.brand_names[i]: int(counts[i]) for i in present.tolist()}, top
            )
        # counted by Counter's C loop over precomputed pairs, not a Python loop per item
        per_item = map(self._facet_pairs.__getitem__, docs.tolist())
        pairs = Counter(itertools.chain.from_iterable(per_item))
        levels: dict[int, dict[str, int]] = {}
        attrs: dict[str, dict[str, int]] = {}
        for (kind, value), count in pairs.items():
            if isinstance(kind, int):
                levels.setdefault(kind, {})[value] = count
            else:
                attrs.setdefault(kind, {})[value] = count
        for depth, counts_by_path in sorted(levels.items()):
            out[f"category.{depth}"] = _top(counts_by_path, top)
        tail = {"available": self._availability(docs)}
        if (bands := self._price_bands(docs)) is not None:
            tail["price"] = bands
        room = max(groups - len(out) - len(tail), 0)
        shown = sorted(attrs, key=lambda name: (-sum(attrs[name].values()), name))[:room]
        for name in sorted(shown):
            out[f"attributes.{name}"] = _top(attrs[name], top)
        out.update(tail)
        return dict(itertools.islice(out.items(), groups))

    def _availability(self, docs: np.ndarray) -> dict[str, int]:
        avail = self.available[docs]
        return {"true": int(avail.sum()), "false": int((~avail).sum())}

    def _price_bands(self, docs: np.ndarray) -> dict[str, int] | None:
        prices = self.price[docs]
        prices = prices[~np.isnan(prices)]
        if not len(prices):
            return None
        bands: dict[str, int] = {}
        edges = [*PRICE_BANDS, np.inf]
        for low, high in itertools.pairwise(edges):
            c = int(((prices >= low) & (prices < high)).sum())
            if c:
                label = f"{low:g}+" if high == np.inf else f"{low:g}-{high:g}"
                bands[label] = c
        return bands

    def sort(self, docs: np.ndarray, relevance: np.ndarray, order: SortOrder) -> np.ndarray:
        """``docs`` reordered by ``order``; ties (and unknown values, last) by relevance."""
        if order is SortOrder.RELEVANCE or len(docs) == 0:
            return docs[np.argsort(-relevance, kind="stable")]
        if order in (SortOrder.PRICE_ASC, SortOrder.PRICE_DESC):
            values = self.price[docs]
            sign = 1.0 if order is SortOrder.PRICE_ASC else -1.0
        elif order is SortOrder.NEWEST:
            values, sign = self.created[docs], -1.0
        else:
            values, sign = self.popularity[docs], -1.0
        unknown = np.isnan(values)
        primary = np.where(unknown, 0.0, sign * values)
        return docs[np.lexsort((-relevance, primary, unknown))]


def _docs_mask(docs: list[int], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    if docs:
        mask[np.asarray(docs, dtype=np.int64)] = True
    return mask


def _top(counts: dict[str, int], top: int) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
