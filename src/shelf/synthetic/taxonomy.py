"""The shapes a synthetic shop's word lists take: attribute pools, product types and a whole
language's vocabulary, with the few pure functions that read them (an attribute's text, a
type by its category path, a "nice" price bound).

Each language (:mod:`shelf.synthetic.vocab_en`, :mod:`shelf.synthetic.vocab_zh`) fills one
:class:`Vocabulary`; the generators only ever read these shapes, so a language is data only.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from shelf.catalog import AttributeValue

Place = Literal["pre", "post", "none"]
Lang = Literal["en", "zh"]


class Attribute(NamedTuple):
    """A pool of values of one item attribute and how a value reads in a title."""

    name: str
    """The key in ``Item.attributes`` ("color", "容量")."""
    values: tuple[str | int | float | bool, ...]
    fmt: str = "{}"
    """How a value is written in titles and queries, e.g. ``"{}V"`` or ``"{}升"``."""
    place: Place = "pre"
    """Before the product noun, after it (``", Yellow"``), or only in the attributes."""
    price_step: float = 0.0
    """Each later value of the pool multiplies the price by ``1 + price_step`` (20V > 12V)."""


class ProductType(NamedTuple):
    """A leaf of the category tree: what the shop sells under one category path."""

    key: str
    """Language-neutral id used by complements, e.g. ``"drill"``."""
    path: tuple[str, ...]
    """Department first, leaf last (2 or 3 names)."""
    noun: str
    """The product word of titles and queries ("Drill", "电饭煲")."""
    price: float
    """Median price in the vocabulary's currency."""
    spread: float
    """Log-normal sigma of the price around the median."""
    attributes: tuple[str, ...]
    """Names of :attr:`Vocabulary.pools` drawn for each item, in title order."""
    features: tuple[str, ...]
    """Phrases the descriptions mention."""
    complements: tuple[str, ...] = ()
    """Keys of types bought together with this one (drill -> drill bits)."""
    repeat_days: int = 0
    """Typical days until a consumable is bought again; 0 for durable goods."""
    modifiers: tuple[str, ...] = ()
    """Optional words put before the noun in some titles ("Compact", "智能")."""

    @property
    def department(self) -> str:
        return self.path[0]


class Vocabulary(NamedTuple):
    """Everything language-specific about a synthetic shop."""

    lang: Lang
    currency: str
    types: tuple[ProductType, ...]
    pools: dict[str, Attribute]
    brands: dict[str, tuple[str, ...]]
    """Brands by category path prefix (``"Tools"``, ``"Tools/Hand Tools"``); the longest prefix
    of a type's path wins, and a brand may sell in several departments."""
    intros: tuple[str, ...]
    """First sentences of descriptions, with ``{brand}``, ``{noun}``, ``{f1}`` placeholders."""
    singles: tuple[str, ...]
    """Second sentences naming one more feature, ``{f2}``."""
    middles: tuple[str, ...]
    """Second sentences naming two more features, ``{f2}`` and ``{f3}``."""
    closers: tuple[str, ...]
    """Optional last sentences, without placeholders."""
    under: str
    """A price bound in a query, e.g. ``"under {}"`` or ``"{}元以下"``."""
    query_order: tuple[str, ...]
    """The order of a query's parts: some of "brand", "attribute", "noun", "bound"."""
    post_gap: str
    """What goes before post-noun attributes: ``", "`` in English, a space in Chinese."""
    modifier_gap: str
    """What joins a modifier to the noun: a space in English ("Compact Drill"), nothing in
    Chinese ("智能电饭煲")."""
    bound_steps: tuple[float, ...]
    """Mantissas of round price bounds, e.g. (1, 1.5, 2, 2.5, 3, 4, 5, 7.5)."""


def attribute_text(pool: Attribute, value: AttributeValue) -> str:
    """How ``value`` of ``pool`` reads in a title or a query."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return pool.fmt.format(value)


def product(
    key: str,
    path: str,
    noun: str,
    price: float,
    spread: float,
    attributes: str,
    features: tuple[str, ...],
    complements: str = "",
    repeat_days: int = 0,
    modifiers: tuple[str, ...] = (),
) -> ProductType:
    """A :class:`ProductType` from a word-table row: ``path`` is ``"A/B/C"``, ``attributes``
    and ``complements`` are space-separated names, so each row stays a few lines."""
    return ProductType(
        key=key,
        path=tuple(path.split("/")),
        noun=noun,
        price=price,
        spread=spread,
        attributes=tuple(attributes.split()),
        features=features,
        complements=tuple(complements.split()),
        repeat_days=repeat_days,
        modifiers=modifiers,
    )


def type_index(vocab: Vocabulary) -> dict[tuple[str, ...], ProductType]:
    """The vocabulary's product types by category path."""
    return {t.path: t for t in vocab.types}


def brands_for(vocab: Vocabulary, path: tuple[str, ...]) -> tuple[str, ...]:
    """The brands selling under ``path``: those of its longest listed prefix."""
    for depth in range(len(path), 0, -1):
        brands = vocab.brands.get("/".join(path[:depth]))
        if brands:
            return brands
    return ()


def price_bound(price: float, steps: tuple[float, ...]) -> int:
    """The smallest round number of ``steps`` times a power of ten at or above ``price`` * 1.1,
    so that "under N" is what a shopper would type for that price."""
    target = max(price * 1.1, 1.0)
    exponent = math.floor(math.log10(target))
    for scale in (10.0**exponent, 10.0 ** (exponent + 1)):
        for step in steps:
            bound = step * scale
            if bound >= target and float(bound).is_integer():
                return int(bound)
    return math.ceil(target)
