"""The benchmark formats (``../shared/benchmarks/PROTOCOL.md``), read into plain values.

* ``sequences.txt``: one user per line, ``user_id item_id item_id ...`` in time order;
* ``items.jsonl``: ``item_id`` with a ``text`` (UniSRec: ``"title. category path. brand."``)
  or catalog fields; read as texts for the recommenders or as :class:`~shelf.catalog.Item`;
* ``products.jsonl``: ``product_id`` (or ``item_id``) and ``title`` (or ``name``), any other
  scalar field kept as an attribute (Home Depot);
* ``queries.tsv`` (``query_id``, ``query``) and ``qrels.tsv`` (``query_id``, ``product_id``,
  ``relevance``).

Every problem names the file, the row and the field.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shelf.catalog import AttributeValue, Item, parse_item, recommender_text
from shelf.catalog.limits import MAX_CATEGORY_DEPTH, MAX_CATEGORY_NAME_LENGTH
from shelf.errors import ValidationError
from shelf.formats.records import read_records

_ITEM_FIELDS = set(Item.model_fields)


def read_sequences(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Read ``sequences.txt``: returns (user ids, item-id sequences in time order).

    Blank lines are skipped; a line with a user id and no items gives an empty sequence.
    Raises :class:`~shelf.errors.ValidationError` on a duplicate user id (with its row).
    """
    users: list[str] = []
    sequences: list[list[str]] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for row, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            user = parts[0]
            if user in seen:
                raise ValidationError(
                    f"duplicate user id {user!r}", field="user_id", row=row, source=str(path)
                )
            seen.add(user)
            users.append(user)
            sequences.append(parts[1:])
    return users, sequences


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the data fingerprint recorded in artifacts and reports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row, object)`` of a JSON Lines file; the first unreadable row raises, located."""
    for row, record in read_records(path, "jsonl"):
        if isinstance(record, ValidationError):
            raise record
        yield row, record


def read_item_texts(path: str | Path) -> dict[str, str]:
    """Item id -> the text the recommenders embed (:func:`~shelf.catalog.recommender_text`)
    from a JSON Lines file of ``item_id`` plus ``text`` or title/category/... fields."""
    texts: dict[str, str] = {}
    for row, record in _json_lines(Path(path)):
        if "item_id" not in record:
            raise ValidationError("is required", field="item_id", row=row, source=str(path))
        texts[str(record["item_id"])] = recommender_text(record)
    return texts


def split_item_text(text: str) -> tuple[str, str, str | None]:
    """``(title, category text, brand)`` from ``"title. category path. brand."``.

    The title may itself contain ". ", so the last two sentences are taken as category and brand.
    """
    parts = [p.strip() for p in text.strip().rstrip(".").split(". ")]
    if len(parts) >= 3:
        return ". ".join(parts[:-2]), parts[-2], parts[-1] or None
    if len(parts) == 2:
        return parts[0], parts[1], None
    return parts[0], "", None


def segment_categories(category_texts: Iterable[str]) -> dict[str, list[str]]:
    """Split space-joined category paths into names where the catalog's tree branches.

    Words are nodes of a trie over all paths; a name ends after a word whose node has more than
    one child, or where some path ends. Within a multi-word name every path continues the same
    way, so no boundary is placed there.
    """
    texts = sorted(set(category_texts))
    children: dict[tuple[str, ...], set[str]] = defaultdict(set)
    ends: set[tuple[str, ...]] = set()
    for text in texts:
        words = text.split()
        for i in range(len(words)):
            children[tuple(words[:i])].add(words[i])
        ends.add(tuple(words))
    out: dict[str, list[str]] = {}
    for text in texts:
        words = text.split()
        names: list[str] = []
        current: list[str] = []
        for i, word in enumerate(words):
            current.append(word)
            prefix = tuple(words[: i + 1])
            if i + 1 < len(words) and (len(children[prefix]) > 1 or prefix in ends):
                names.append(" ".join(current))
                current = []
        if current:
            names.append(" ".join(current))
        out[text] = names
    return out


def read_text_items(path: Path) -> list[Item]:
    """Items from a UniSRec ``items.jsonl`` (``item_id``, ``text``, optional ``asin``)."""
    raw: list[tuple[int, dict[str, object]]] = []
    for row, record in _json_lines(path):
        if "item_id" not in record or "text" not in record:
            missing = "item_id" if "item_id" not in record else "text"
            raise ValidationError("is required", field=missing, row=row, source=str(path))
        raw.append((row, record))
    split = {str(r["item_id"]): split_item_text(str(r["text"])) for _, r in raw}
    categories = segment_categories(category for _, category, _ in split.values())
    items = []
    for row, record in raw:
        item_id = str(record["item_id"])
        title, category, brand = split[item_id]
        attributes: dict[str, AttributeValue] = (
            {"asin": str(record["asin"])} if record.get("asin") else {}
        )
        fields = {
            "item_id": item_id,
            "title": title or item_id,
            "description": str(record["text"]),
            "category": _category_names(categories.get(category, [])),
            "brand": brand,
            "attributes": attributes,
        }
        try:
            items.append(parse_item(fields))
        except ValidationError as exc:
            raise exc.at(row=row, source=str(path)) from None
    return items


def _category_names(names: list[str]) -> list[str]:
    """The path up to the first name no category has: a title holding ". " leaves part of it
    where the category should be (one Amazon Scientific item has a 660-character "name");
    the whole text stays in the description."""
    kept: list[str] = []
    for name in names[:MAX_CATEGORY_DEPTH]:
        if len(name) > MAX_CATEGORY_NAME_LENGTH:
            break
        kept.append(name)
    return kept


def read_products(path: Path) -> list[Item]:
    """Items from a ``products.jsonl``: ``product_id`` (or ``item_id``) is the id, ``name``
    stands in for a missing ``title``, and any other scalar field becomes an attribute."""
    items = []
    for row, record in _json_lines(path):
        if "item_id" not in record and "product_id" in record:
            record["item_id"] = record.pop("product_id")
        if "title" not in record and "name" in record:
            record["title"] = record.pop("name")
        for required, named in (("item_id", "product_id"), ("title", "title")):
            if required not in record:
                raise ValidationError("is required", field=named, row=row, source=str(path))
        extra = {k: record.pop(k) for k in list(record) if k not in _ITEM_FIELDS}
        attrs = dict(record.get("attributes") or {})
        attrs.update({k: v for k, v in extra.items() if isinstance(v, str | int | float)})
        if attrs:
            record["attributes"] = attrs
        try:
            items.append(parse_item(record))
        except ValidationError as exc:
            raise exc.at(row=row, source=str(path)) from None
    return items


def read_queries(path: Path) -> dict[str, str]:
    """``query_id -> query`` from a TSV with a ``query_id``/``query`` header."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        _require_columns(reader, ("query_id", "query"), path)
        return {row["query_id"]: row["query"] for row in reader}


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """``query_id -> {product_id: relevance}`` from a ``query_id/product_id/relevance`` TSV."""
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        _require_columns(reader, ("query_id", "product_id", "relevance"), path)
        for row, record in enumerate(reader, start=1):
            try:
                relevance = float(record["relevance"])
            except (TypeError, ValueError):
                raise ValidationError(
                    f"{record['relevance']!r} is not a number",
                    field="relevance",
                    row=row,
                    source=str(path),
                ) from None
            qrels.setdefault(record["query_id"], {})[record["product_id"]] = relevance
    return qrels


def _require_columns(reader: csv.DictReader[str], names: tuple[str, ...], path: Path) -> None:
    missing = [n for n in names if n not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            f"the header lacks {', '.join(missing)}", field=missing[0], source=str(path)
        )
