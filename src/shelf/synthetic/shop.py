"""A generated catalog read back into the structure the other generators walk: its language,
items by product type, and each item's brand, price and attributes.

Records from another source work too: a category path the vocabularies do not know becomes a
product type of its own, with no complements and no attribute pools.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from shelf.synthetic import vocab_en, vocab_zh
from shelf.synthetic.taxonomy import Lang, ProductType, Vocabulary, type_index

VOCABULARIES: dict[str, Vocabulary] = {"en": vocab_en.VOCABULARY, "zh": vocab_zh.VOCABULARY}


def vocabulary(lang: Lang) -> Vocabulary:
    """The word lists of ``lang``; ValueError for a language without them."""
    try:
        return VOCABULARIES[lang]
    except KeyError:
        raise ValueError(
            f"no vocabulary for lang={lang!r}; use one of {sorted(VOCABULARIES)}"
        ) from None


class ShopItem(NamedTuple):
    row: int
    """Position in :attr:`Shop.items`."""
    item_id: str
    kind: ProductType
    brand: str
    price: float
    attributes: Mapping[str, Any]
    available: bool

    @property
    def department(self) -> str:
        return self.kind.department


class Shop(NamedTuple):
    vocab: Vocabulary
    items: tuple[ShopItem, ...]
    types: dict[str, ProductType]
    """The product types present, by key, in catalog order of first appearance."""
    by_type: dict[str, tuple[int, ...]]
    """Item indices of each present type."""

    def department_types(self, department: str) -> list[str]:
        return [k for k, t in self.types.items() if t.department == department]

    @property
    def departments(self) -> list[str]:
        return list(dict.fromkeys(t.department for t in self.types.values()))


def _language(catalog: Sequence[Mapping[str, Any]]) -> Vocabulary:
    """The vocabulary whose category paths the catalog uses most (English when none)."""
    paths = [tuple(r.get("category") or ()) for r in catalog]
    scores = {lang: sum(p in type_index(v) for p in paths) for lang, v in VOCABULARIES.items()}
    best = max(scores, key=lambda lang: (scores[lang], lang == "en"))
    return VOCABULARIES[best]


def _unknown_type(path: tuple[str, ...]) -> ProductType:
    return ProductType(
        key="/".join(path),
        path=path,
        noun=path[-1],
        price=0.0,
        spread=0.0,
        attributes=(),
        features=(),
    )


def index_shop(catalog: Sequence[Mapping[str, Any]]) -> Shop:
    """The shop behind ``catalog`` (records as :func:`generate_catalog` makes them). Items
    without a category or price cannot be placed and are left out."""
    vocab = _language(catalog)
    known = type_index(vocab)
    items: list[ShopItem] = []
    types: dict[str, ProductType] = {}
    members: dict[str, list[int]] = {}
    for record in catalog:
        path = tuple(record.get("category") or ())
        price = record.get("price")
        if not path or not isinstance(price, int | float) or not math.isfinite(price):
            continue
        kind = known.get(path) or _unknown_type(path)
        types.setdefault(kind.key, kind)
        members.setdefault(kind.key, []).append(len(items))
        items.append(
            ShopItem(
                row=len(items),
                item_id=str(record["item_id"]),
                kind=kind,
                brand=str(record.get("brand") or ""),
                price=float(price),
                attributes=record.get("attributes") or {},
                available=bool(record.get("available", True)),
            )
        )
    if not items:
        raise ValueError("the catalog has no item with a category path and a price")
    by_type = {key: tuple(indices) for key, indices in members.items()}
    return Shop(vocab=vocab, items=tuple(items), types=types, by_type=by_type)
