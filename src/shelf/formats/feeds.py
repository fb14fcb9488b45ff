"""Streaming readers for the catalog feeds shops export: Google Merchant Center product feeds
(RSS 2.0 or Atom 1.0 XML, or TSV) and Shopify product CSV exports, as item records.

Each reader yields ``(row, record)`` like :func:`shelf.formats.records.read_records`: the record
is a dict of :class:`~shelf.catalog.Item` fields, or a ValidationError naming the row, the feed's
field and the reason. Merchant rows are the 1-based item index; Shopify rows are the CSV line of
the product's first row. Memory stays flat in the file size (Shopify keeps one product's rows
and the set of handles seen).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError, XMLParser

from shelf.catalog.fields import parse_price
from shelf.errors import ValidationError
from shelf.formats.records import Record

_CHUNK = 1 << 16

# -- HTML to text ------------------------------------------------------------------------------
# Tags whose boundaries separate words: "<p>a</p><p>b</p>" is "a b", "<b>a</b>b" is "ab".
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th"}
    | {"table", "blockquote", "section", "hr", "dd", "dt"}
)
_HIDDEN_TAGS = frozenset({"script", "style"})


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text of an HTML fragment: tags dropped, entities unescaped, whitespace collapsed
    (paragraph and line breaks become spaces; script and style content is dropped)."""
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


# -- field values shared by both feeds ----------------------------------------------------------
def _category_path(value: str) -> list[str]:
    # Only ">" separates: both feeds write "Apparel > Shirts/Tops", where "/" is part of a name.
    return [part.strip() for part in value.split(">") if part.strip()]


def _http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{value!r} is not an http or https URL", field=field)
    return value


def _amount(text: str, field: str, value: str | None = None) -> float:
    """The number ``text``; the reason quotes ``value``, the whole cell, when given."""
    try:
        number = parse_price(text) if text else None
    except ValueError:
        number = None
    if not isinstance(number, float):
        shown = repr(text if value is None else value)
        if "," in text:
            reason = f"{shown} is ambiguous: use '.' for decimals and ',' only between thousands"
        else:
            reason = f"{shown} is not a number"
        raise ValidationError(reason, field=field)
    return number


# -- Google Merchant Center ---------------------------------------------------------------------
_G = "{http://base.google.com/ns/1.0}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_ITEM_TAGS = frozenset({"item", _ATOM + "entry"})
# Item fields read outside the g: namespace (RSS's own and Atom's); a g: field wins over these.
_PLAIN_FIELDS = {"title": "title", "link": "link", "description": "description"}
_PLAIN_FIELDS |= {_ATOM + k: v for k, v in (*_PLAIN_FIELDS.items(), ("summary", "description"))}
_MERCHANT_ATTRIBUTES = (
    "link",
    "gtin",
    "mpn",
    "item_group_id",
    "condition",
    "color",
    "size",
    "material",
    *(f"custom_label_{k}" for k in range(5)),
)
_AVAILABLE = {
    "in_stock": True,
    "preorder": True,
    "backorder": True,
    "available_for_order": True,
    "out_of_stock": False,
}
_MONEY = re.compile(r"\s*([-+0-9.,]+)\s*(\S*)\s*")


def _money(value: str, field: str) -> tuple[float, str]:
    """A Merchant Center price, ``"15.00 USD"``, as ``(amount, currency)``."""
    match = _MONEY.fullmatch(value)
    if match is None:
        raise ValidationError(f"{value!r} is not a price such as '15.00 USD'", field=field)
    amount, currency = match.groups()
    if not currency:
        raise ValidationError(f"{value!r} has no currency: write e.g. '15.00 USD'", field=field)
    if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise ValidationError(
            f"{value!r}: the currency {currency!r} is not a 3-letter ISO 4217 code such as USD",
            field=field,
        )
    return _amount(amount, field, value), currency.upper()


def merchant_item(fields: Mapping[str, str]) -> dict[str, Any]:
    """The item record of one Merchant Center product (attribute names without ``g:``).

    Raises a ValidationError naming the feed's field.
    """
    if not fields.get("id"):
        raise ValidationError("is required", field="id")
    record: dict[str, Any] = {"item_id": fields["id"]}
    attributes: dict[str, Any] = {}
    for name in ("title", "brand"):
        if name in fields:
            record[name] = fields[name]
    if "description" in fields:
        record["description"] = html_to_text(fields["description"])
    path = fields.get("google_product_category", "")
    if "product_type" in fields:
        record["category"] = _category_path(fields["product_type"])
    elif path and not path.isdigit():
        record["category"] = _category_path(path)
        path = ""
    if path:  # a taxonomy id, or a path that product_type overrides: kept, not lost
        attributes["google_product_category"] = path
    price = _money(fields["price"], "price") if "price" in fields else None
    sale = _money(fields["sale_price"], "sale_price") if "sale_price" in fields else None
    if price is not None and sale is not None and sale[1] != price[1]:
        raise ValidationError(
            f"currency {sale[1]} differs from the price's {price[1]}", field="sale_price"
        )
    if sale is not None and (price is None or sale[0] < price[0]):
        if price is not None:
            attributes["list_price"] = price[0]
        price = sale
    if price is not None:
        record["price"], record["currency"] = price
    if "availability" in fields:
        state = fields["availability"].strip().lower().replace(" ", "_")
        if state not in _AVAILABLE:
            raise ValidationError(
                f"{fields['availability']!r} is not one of in_stock, out_of_stock, preorder, "
                "backorder",
                field="availability",
            )
        record["available"] = _AVAILABLE[state]
    if "image_link" in fields:
        record["image_url"] = _http_url(fields["image_link"], "image_link")
    if "link" in fields:
        _http_url(fields["link"], "link")
    for name in _MERCHANT_ATTRIBUTES:
        if name in fields:
            attributes[name] = fields[name]
    if attributes:
        record["attributes"] = attributes
    return record


def _merchant_result(fields: Mapping[str, str], row: int, source: str) -> Record:
    try:
        return merchant_item(fields)
    except ValidationError as exc:
        return exc.at(row=row, source=source)


class _FeedTarget:
    """An XMLParser target keeping only the fields of the item being read: no element tree is
    built, so memory is flat however long the feed; finished items wait in ``done``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.done: list[dict[str, str]] = []
        self._depth = 0
        self._item_depth = 0  # the depth of the open <item>/<entry>; 0 outside one
        self._g: dict[str, str] = {}
        self._plain: dict[str, str] = {}
        self._field: str | None = None
        self._text: list[str] = []

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        # Entities are declared only in a DTD: refusing it stops "billion laughs" expansion.
        raise ValidationError(
            "declares a DOCTYPE; feeds with a DTD or entity declarations are refused",
            source=self.source,
        )

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._depth += 1
        if self._depth == 1 and tag not in ("rss", _ATOM + "feed"):
            raise ValidationError(
                f"is not a Merchant Center feed: the root element is <{tag}>, not <rss> or "
                "Atom's <feed>",
                source=self.source,
            )
        if not self._item_depth:
            if tag in _ITEM_TAGS:
                self._item_depth = self._depth
                self._g, self._plain = {}, {}
        elif self._depth == self._item_depth + 1:
            self._field, self._text = tag, []
            if tag == _ATOM + "link" and attrib.get("rel", "alternate") == "alternate":
                self._text.append(attrib.get("href", ""))

    def data(self, text: str) -> None:
        if self._field is not None and self._depth == self._item_depth + 1:
            self._text.append(text)

    def end(self, tag: str) -> None:
        if self._item_depth and self._depth == self._item_depth + 1:
            value = "".join(self._text).strip()
            if value and tag.startswith(_G):
                self._g.setdefault(tag[len(_G) :], value)  # a repeated field: the first wins
            elif value and tag in _PLAIN_FIELDS:
                self._plain.setdefault(_PLAIN_FIELDS[tag], value)
            self._field = None
        elif self._depth == self._item_depth:
            self.done.append(self._plain | self._g)
            self._item_depth = 0
        self._depth -= 1

    def close(self) -> None:
        return None


def _read_merchant_xml(path: Path) -> Iterator[tuple[int, Record]]:
    source = str(path)
    target = _FeedTarget(source)
    parser = XMLParser(target=target)
    row = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except ParseError as exc:
                raise ValidationError(f"is not well-formed XML ({exc})", source=source) from None
            done, target.done = target.done, []
            for fields in done:
                row += 1
                yield row, _merchant_result(fields, row, source)
            if not chunk:
                return


def _tsv_name(header: str) -> str:
    # Merchant Center accepts "g:image_link", "image_link" and "image link" alike.
    return header.strip().lower().removeprefix("g:").replace(" ", "_")


def _read_merchant_tsv(path: Path) -> Iterator[tuple[int, Record]]:
    source = str(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter="\t")
        names = [_tsv_name(h) for h in next(reader, [])]
        row = 0
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            row += 1
            if len(cells) > len(names):
                reason = f"has {len(cells)} columns, the header has {len(names)}"
                yield row, ValidationError(reason, row=row, source=source)
                continue
            fields = {n: c.strip() for n, c in zip(names, cells, strict=False) if c.strip()}
            yield row, _merchant_result(fields, row, source)


def _is_xml(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(256)
    # A UTF-16 byte-order mark: TSV is read as UTF-8, so only XML (which declares it) can be.
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    return utf16 or head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def read_google_merchant(path: Path) -> Iterator[tuple[int, Record]]:
    """Items of a Merchant Center feed, XML (RSS or Atom) or TSV, told apart by the content."""
    if _is_xml(path):
        yield from _read_merchant_xml(path)
    else:
        yield from _read_merchant_tsv(path)


_ITEM_START = re.compile(rb"<(?:item|entry)[\s>]")


def count_google_merchant(path: Path) -> int:
    """The number of items (``<item>``/``<entry>`` tags, or TSV lines), cheaply: an estimate
    for progress bars, as a quoted newline in TSV or a tag inside CDATA counts too."""
    xml = _is_xml(path)
    count, lines, tail = 0, 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            # The 6-byte tail cannot hold a whole match, so none is counted twice.
            count += len(_ITEM_START.findall(tail + chunk))
            lines += chunk.count(b"\n")
            tail = chunk[-6:]
    lines += bool(tail) and not tail.endswith(b"\n")
    return count if xml else max(0, lines - 1)


# -- Shopify product CSV ------------------------------------------------------------------------
_OPTIONS = (1, 2, 3)
_STATUSES = {"active": True, "draft": False, "archived": False}
_COMPARE_AT = "Variant Compare At Price"
_Run = tuple[int, str, list[tuple[int, list[str]]]]


def _shopify_runs(path: Path) -> Iterator[tuple[list[str], _Run]]:
    """``(columns, (first_line, handle, [(line, cells)]))`` for each run of rows sharing a
    handle, in file order."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        columns = [c.strip() for c in next(reader, [])]
        if not columns:
            return
        if "Handle" not in columns:
            raise ValidationError(
                "has no 'Handle' column: is it a Shopify product export?", source=str(path)
            )
        key = columns.index("Handle")
        run: _Run | None = None
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num  # a quoted newline spans lines
            if not any(c.strip() for c in cells):
                continue
            name = cells[key].strip() if key < len(cells) else ""
            if run is not None and name == run[1]:
                run[2].append((start, cells))
                continue
            if run is not None:
                yield columns, run
            run = (start, name, [(start, cells)])
        if run is not None:
            yield columns, run


def _variant_amount(row: dict[str, str], column: str, line: int) -> float:
    try:
        return _amount(row[column], column)
    except ValidationError as exc:  # the row reported is the product's first: name this line
        raise ValidationError(f"{exc.reason} (line {line})", field=column) from None


def _shopify_available(first: dict[str, str]) -> bool:
    """Status decides (active, draft, archived); older exports without it have Published."""
    if "Status" in first:
        status = first["Status"].strip().lower()
        if status not in _STATUSES:
            reason = f"{first['Status']!r} is not one of active, draft, archived"
            raise ValidationError(reason, field="Status")
        return _STATUSES[status]
    return first.get("Published", "true").strip().lower() != "false"


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def shopify_item(handle: str, rows: list[tuple[int, dict[str, str]]]) -> dict[str, Any]:
    """The item record of one Shopify product from its ``(line, row)`` rows (blank cells
    absent); raises a ValidationError naming the column."""
    first = rows[0][1]
    record: dict[str, Any] = {"item_id": handle}
    for column, name in (("Title", "title"), ("Vendor", "brand")):
        if column in first:
            record[name] = first[column]
    if "Body (HTML)" in first:
        record["description"] = html_to_text(first["Body (HTML)"])
    if "Product Category" in first:
        record["category"] = _category_path(first["Product Category"])
    elif "Type" in first:
        record["category"] = [first["Type"]]
    attributes: dict[str, Any] = {}
    for k in _OPTIONS:
        option = first.get(f"Option{k} Name")
        values = _unique([row.get(f"Option{k} Value", "") for _, row in rows])
        # Shopify's placeholder for a product without options is not an option.
        if option and values and not (option == "Title" and values == ["Default Title"]):
            attributes[option] = values
    cheapest: tuple[float, int, dict[str, str]] | None = None
    for line, row in rows:
        if "Variant Price" in row:
            price = _variant_amount(row, "Variant Price", line)
            if cheapest is None or price < cheapest[0]:
                cheapest = (price, line, row)
    if cheapest is not None:
        price, line, row = cheapest
        record["price"] = price
        # The list price pairs with the price shown: the cheapest variant's compare-at price.
        if _COMPARE_AT in row and (list_price := _variant_amount(row, _COMPARE_AT, line)) > price:
            attributes["list_price"] = list_price
    if skus := _unique([row.get("Variant SKU", "") for _, row in rows]):
        attributes["skus"] = skus
    if tags := _unique([t.strip() for t in first.get("Tags", "").split(",")]):
        attributes["tags"] = tags
    if attributes:
        record["attributes"] = attributes
    images = [row["Image Src"] for _, row in rows if "Image Src" in row]
    if images:
        record["image_url"] = _http_url(images[0], "Image Src")
    record["available"] = _shopify_available(first)
    return record


def read_shopify(path: Path) -> Iterator[tuple[int, Record]]:
    """One item per product of a Shopify product CSV export; the row is the product's first
    CSV line. A handle whose rows are not contiguous is an error at its later rows."""
    source = str(path)
    first_lines: dict[str, int] = {}
    for columns, (start, handle, lines) in _shopify_runs(path):
        if not handle:
            yield start, ValidationError("is required", field="Handle", row=start, source=source)
        elif handle in first_lines:
            reason = (
                f"handle {handle!r} reappears after other products (its rows began at line "
                f"{first_lines[handle]}): rows of one product must be contiguous"
            )
            yield start, ValidationError(reason, field="Handle", row=start, source=source)
        else:
            first_lines[handle] = start
            yield start, _shopify_result(columns, handle, lines, start, source)


def _shopify_result(
    columns: list[str], handle: str, lines: list[tuple[int, list[str]]], start: int, source: str
) -> Record:
    rows = []
    for line, cells in lines:
        if len(cells) > len(columns):
            reason = f"line {line} has {len(cells)} columns, the header has {len(columns)}"
            return ValidationError(reason, row=start, source=source)
        row = {c: v.strip() for c, v in zip(columns, cells, strict=False) if v.strip()}
        rows.append((line, row))
    try:
        return shopify_item(handle, rows)
    except ValidationError as exc:
        return exc.at(row=start, source=source)


def count_shopify(path: Path) -> int:
    """The number of products (runs of rows sharing a handle): what :func:`read_shopify`
    yields. Reads the whole file, as a quoted newline in a description is not a new row."""
    return sum(1 for _ in _shopify_runs(path))
