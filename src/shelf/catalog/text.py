"""The one-line texts an item is embedded from. Search and the recommenders each keep their
own form (their embedding caches are keyed by it), so each is named for its purpose."""

from __future__ import annotations

from collections.abc import Mapping

from shelf.catalog.types import Item


def search_text(item: Item) -> str:
    """What search embeds: the title, then the brand (unless the title names it) and the
    category path."""
    parts = [item.title]
    if item.brand and item.brand.lower() not in item.title.lower():
        parts.append(item.brand)
    if item.category:
        parts.append(" > ".join(item.category))
    return ". ".join(parts)


def recommender_text(record: Mapping[str, object]) -> str:
    """What the text-aware recommenders embed, from an item record (a file's row or
    ``Item.model_dump()``): its ``text`` when given, else title, category, brand and
    description."""
    text = record.get("text")
    if isinstance(text, str) and text:
        return text
    parts: list[str] = []
    for key in ("title", "category", "brand", "description"):
        value = record.get(key)
        if isinstance(value, list):
            value = " > ".join(str(v) for v in value)
        if value:
            parts.append(str(value))
    return ". ".join(parts)
