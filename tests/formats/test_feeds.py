"""The shops' catalog feeds: Google Merchant Center (RSS, Atom, TSV) and Shopify product CSV,
read as item records and imported end to end. Every feed here is written by hand."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from shelf.catalog import Item, parse_item
from shelf.errors import ImportRejected, Rejection, ValidationError
from shelf.formats import count_records, detect_format, html_to_text, read_records
from shelf.ingest import import_items
from shelf.store import SQLStore

# -- Google Merchant Center: RSS 2.0 ---------------------------------------------------------
RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
<channel>
  <title>Kitchen Corner</title>
  <link>https://kitchen.example.com</link>
  <description>Cookware and tableware</description>
  <item>
    <g:id>PAN-28</g:id>
    <title>Cast iron skillet 28 cm</title>
    <description><![CDATA[<p>Pre-seasoned <b>cast</b> iron.</p><p>Oven safe to
      260&nbsp;&deg;C.</p>]]></description>
    <link>https://kitchen.example.com/p/pan-28</link>
    <g:image_link>https://cdn.example.com/pan-28.jpg</g:image_link>
    <g:price>49.90 EUR</g:price>
    <g:sale_price>39.90 EUR</g:sale_price>
    <g:brand>Ferrum</g:brand>
    <g:gtin>04012345678901</g:gtin>
    <g:mpn>FR-28</g:mpn>
    <g:google_product_category>Home &amp; Garden &gt; Kitchen &amp; Dining
      </g:google_product_category>
    <g:product_type>Home &amp; Garden &gt; Kitchen &gt; Cookware</g:product_type>
    <g:availability>in_stock</g:availability>
    <g:condition>new</g:condition>
    <g:color>Black</g:color>
    <g:material>Cast iron</g:material>
    <g:custom_label_0>bestseller</g:custom_label_0>
    <g:shipping><g:country>DE</g:country><g:price>4.90 EUR</g:price></g:shipping>
  </item>
  <item>
    <g:id>MUG-BLU</g:id>
    <g:title>Stoneware mug, blue</g:title>
    <g:description>&lt;ul&gt;&lt;li&gt;350 ml&lt;/li&gt;
      &lt;li&gt;Dishwasher safe&lt;/li&gt;&lt;/ul&gt;</g:description>
    <g:link>https://kitchen.example.com/p/mug?c=blue&amp;s=350</g:link>
    <g:image_link>https://cdn.example.com/mug-blue.jpg</g:image_link>
    <g:price>12.00 EUR</g:price>
    <g:google_product_category>2169</g:google_product_category>
    <g:availability>out_of_stock</g:availability>
    <g:item_group_id>MUG</g:item_group_id>
    <g:color>Blue</g:color>
    <g:size>350 ml</g:size>
  </item>
  <item>
    <g:id>RANGE-90</g:id>
    <title>Range cooker 90 cm</title>
    <g:price>1,299.00 EUR</g:price>
    <g:sale_price>1,499.00 EUR</g:sale_price>
    <g:google_product_category>Home &amp; Garden &gt; Kitchen Appliances</g:google_product_category>
    <g:availability>in stock</g:availability>
    <g:brand>Hestia</g:brand>
  </item>
  <item>
    <g:id>KETTLE-1</g:id>
    <title>Old title</title>
    <g:title>Whistling kettle 2 l</g:title>
    <g:price>34.50 EUR</g:price>
    <g:availability>preorder</g:availability>
    <g:custom_label_4>autumn</g:custom_label_4>
  </item>
  <item>
    <g:id>GRATER-4</g:id>
    <title>Box grater</title>
    <g:price>9.99 eur</g:price>
    <g:availability>backorder</g:availability>
  </item>
  <item>
    <g:id>BOARD-L</g:id>
    <title>Oak cutting board, large</title>
    <g:price>45.00 EUR</g:price>
    <g:product_type>Home &amp; Garden &gt; Kitchen &gt; Boards</g:product_type>
  </item>
</channel>
</rss>
"""
PAN = {
    "item_id": "PAN-28",
    "title": "Cast iron skillet 28 cm",
    "description": "Pre-seasoned cast iron. Oven safe to 260 °C.",
    "category": ["Home & Garden", "Kitchen", "Cookware"],
    "brand": "Ferrum",
    "price": 39.9,
    "currency": "EUR",
    "available": True,
    "image_url": "https://cdn.example.com/pan-28.jpg",
    "attributes": {
        "google_product_category": "Home & Garden > Kitchen & Dining",
        "list_price": 49.9,
        "link": "https://kitchen.example.com/p/pan-28",
        "gtin": "04012345678901",
        "mpn": "FR-28",
        "condition": "new",
        "color": "Black",
        "material": "Cast iron",
        "custom_label_0": "bestseller",
    },
}
MUG = {
    "item_id": "MUG-BLU",
    "title": "Stoneware mug, blue",
    "description": "350 ml Dishwasher safe",
    "price": 12.0,
    "currency": "EUR",
    "available": False,
    "image_url": "https://cdn.example.com/mug-blue.jpg",
    "attributes": {
        "google_product_category": "2169",
        "link": "https://kitchen.example.com/p/mug?c=blue&s=350",
        "item_group_id": "MUG",
        "color": "Blue",
        "size": "350 ml",
    },
}


def records(path: Path, fmt: str) -> list[tuple[int, Any]]:
    return list(read_records(path, detect_format(path, fmt)))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_rss_items_map_to_item_records(tmp_path: Path) -> None:
    read = records(write(tmp_path / "feed.xml", RSS), "google-merchant")
    assert [row for row, _ in read] == [1, 2, 3, 4, 5, 6]
    by_id = {r["item_id"]: r for _, r in read}
    assert by_id["PAN-28"] == PAN  # the shipping block's own g:price is not the price
    assert by_id["MUG-BLU"] == MUG
    # A sale price above the price is no discount; a path-only category is the category.
    assert by_id["RANGE-90"]["price"] == 1299.0
    assert "list_price" not in by_id["RANGE-90"].get("attributes", {})
    assert by_id["RANGE-90"]["category"] == ["Home & Garden", "Kitchen Appliances"]
    assert by_id["KETTLE-1"]["title"] == "Whistling kettle 2 l"  # g:title over title
    assert [by_id[i]["available"] for i in ("RANGE-90", "KETTLE-1", "GRATER-4")] == [True] * 3
    assert by_id["GRATER-4"]["currency"] == "EUR"
    items = [parse_item(r) for _, r in read]
    assert items[0].price == 39.9 and items[0].attributes["list_price"] == 49.9
    assert items[5].available and items[5].category == ["Home & Garden", "Kitchen", "Boards"]


def test_rss_feed_imports_end_to_end(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = write(tmp_path / "feed.xml", RSS)
    assert count_records(path, detect_format(path)) == 6
    report = import_items(sqlite_store, path)  # .xml is a Merchant Center feed by default
    assert (report.read, report.stored, report.invalid) == (6, 6, 0)
    assert sqlite_store.get_item("PAN-28") == Item(**PAN)
    assert sqlite_store.get_item("MUG-BLU") == Item(**MUG)


# -- Atom 1.0 --------------------------------------------------------------------------------
ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Kitchen Corner</title>
  <link rel="self" href="https://kitchen.example.com/feed.atom"/>
  <updated>2024-05-01T12:00:00Z</updated>
  <entry>
    <id>tag:kitchen.example.com,2024:knife</id>
    <title>Chef's knife 20 cm</title>
    <link href="https://kitchen.example.com/p/knife-20"/>
    <summary>Forged &lt;em&gt;X50CrMoV15&lt;/em&gt; steel.</summary>
    <updated>2024-05-01T12:00:00Z</updated>
    <g:id>KNIFE-20</g:id>
    <g:price>89.00 EUR</g:price>
    <g:brand>Solinger</g:brand>
    <g:product_type>Home &amp; Garden &gt; Kitchen &gt; Knives</g:product_type>
    <g:availability>in stock</g:availability>
  </entry>
  <entry>
    <id>tag:kitchen.example.com,2024:apron</id>
    <g:id>APRON-1</g:id>
    <g:title>Canvas apron</g:title>
    <g:description>Waxed canvas, adjustable strap</g:description>
    <g:link>https://kitchen.example.com/p/apron</g:link>
    <g:price>29.00 EUR</g:price>
    <g:availability>out of stock</g:availability>
  </entry>
  <entry>
    <g:id>TOWEL-3</g:id>
    <title>Tea towels, set of 3</title>
    <g:price>14.00 EUR</g:price>
  </entry>
</feed>
"""


def test_atom_entries_map_like_rss_items(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = write(tmp_path / "feed.atom.xml", ATOM)
    [(_, knife), (_, apron), (_, towel)] = records(path, "google-merchant")
    assert knife == {
        "item_id": "KNIFE-20",  # g:id, not Atom's <id>
        "title": "Chef's knife 20 cm",
        "description": "Forged X50CrMoV15 steel.",
        "category": ["Home & Garden", "Kitchen", "Knives"],
        "brand": "Solinger",
        "price": 89.0,
        "currency": "EUR",
        "available": True,
        "attributes": {"link": "https://kitchen.example.com/p/knife-20"},
    }
    assert (apron["title"], apron["available"]) == ("Canvas apron", False)
    assert towel == {"item_id": "TOWEL-3", "title": "Tea towels, set of 3", "price": 14.0,
                     "currency": "EUR"}  # fmt: skip
    assert count_records(path, "google-merchant") == 3
    assert import_items(sqlite_store, path, fmt="google-merchant").stored == 3
    assert sqlite_store.get_item("APRON-1") == Item(**apron)


# -- TSV -------------------------------------------------------------------------------------
TSV_COLUMNS = [
    "id", "title", "description", "link", "image_link", "price", "sale_price", "brand", "gtin",
    "mpn", "google_product_category", "product_type", "availability", "condition", "color",
    "size", "material", "item_group_id", "custom_label_0",
]  # fmt: skip
TSV_ROWS = [
    # The RSS feed's first two items, as Merchant Center's TSV form.
    ["PAN-28", "Cast iron skillet 28 cm",
     "<p>Pre-seasoned <b>cast</b> iron.</p><p>Oven safe to 260&nbsp;&deg;C.</p>",
     "https://kitchen.example.com/p/pan-28", "https://cdn.example.com/pan-28.jpg", "49.90 EUR",
     "39.90 EUR", "Ferrum", "04012345678901", "FR-28", "Home & Garden > Kitchen & Dining",
     "Home & Garden > Kitchen > Cookware", "in_stock", "new", "Black", "", "Cast iron", "",
     "bestseller"],
    ["MUG-BLU", "Stoneware mug, blue", "<ul><li>350 ml</li><li>Dishwasher safe</li></ul>",
     "https://kitchen.example.com/p/mug?c=blue&s=350", "https://cdn.example.com/mug-blue.jpg",
     "12.00 EUR", "", "", "", "", "2169", "", "out_of_stock", "", "Blue", "350 ml", "", "MUG",
     ""],
    ["MUG-RED", "Stoneware mug, red", "", "", "https://cdn.example.com/mug-red.jpg",
     "12.00 EUR", "10.00 EUR", "", "", "", "2169", "", "in_stock", "", "Red", "350 ml", "",
     "MUG", ""],
    ["JAR-1", "Glass storage jar 1 l", "Airtight &amp; stackable", "", "", "7.50 USD", "", "",
     "", "", "", "Home & Garden > Kitchen > Storage", "preorder", "", "", "", "Glass", "", ""],
]  # fmt: skip


def write_tsv(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    lines = ["\t".join(columns), *("\t".join(row) for row in rows)]
    return write(path, "\n".join(lines) + "\n")


def test_tsv_feed_reads_as_the_xml_feed(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "feed.tsv", TSV_COLUMNS, TSV_ROWS)
    with pytest.raises(ValidationError, match="--format google-merchant for a Merchant Center"):
        detect_format(path)
    read = records(path, "google-merchant")
    assert read[:2] == [(1, PAN), (2, MUG)]
    assert read[2][1]["price"] == 10.0 and read[2][1]["attributes"]["list_price"] == 12.0
    assert read[3][1]["description"] == "Airtight & stackable"
    assert count_records(path, "google-merchant") == 4
    report = import_items(sqlite_store, path, fmt="google-merchant")
    assert (report.read, report.stored) == (4, 4)
    assert sqlite_store.get_item("JAR-1") == parse_item(read[3][1])


def test_tsv_header_names_as_merchant_center_accepts_them(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "feed.tsv", ["g:id", "Title", "image link", "price"],
                     [["A1", "Apron", "http://cdn.example.com/a.jpg", "5 GBP"]])  # fmt: skip
    assert records(path, "google-merchant") == [
        (1, {"item_id": "A1", "title": "Apron", "image_url": "http://cdn.example.com/a.jpg",
             "price": 5.0, "currency": "GBP"}),
    ]  # fmt: skip


# -- Merchant Center row errors --------------------------------------------------------------
def rss_of(*items: str) -> str:
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>'
        f"{body}</channel></rss>"
    )


def one_item(**fields: str) -> str:
    return "".join(f"<g:{name}>{value}</g:{name}>" for name, value in fields.items())


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"price": "15,00 EUR"}, "price",
         "'15,00 EUR' is ambiguous: use '.' for decimals and ',' only between thousands"),
        ({"price": "15.00 EURO"}, "price",
         "'15.00 EURO': the currency 'EURO' is not a 3-letter ISO 4217 code such as USD"),
        ({"price": "15.00"}, "price", "'15.00' has no currency: write e.g. '15.00 USD'"),
        ({"price": "EUR 15.00"}, "price", "'EUR 15.00' is not a price such as '15.00 USD'"),
        ({"price": "15.00 EUR", "sale_price": "12.00 USD"}, "sale_price",
         "currency USD differs from the price's EUR"),
        ({"availability": "sold out"}, "availability",
         "'sold out' is not one of in_stock, out_of_stock, preorder, backorder"),
        ({"image_link": "javascript:alert(1)"}, "image_link",
         "'javascript:alert(1)' is not an http or https URL"),
        ({"link": "ftp://files.example.com/x"}, "link",
         "'ftp://files.example.com/x' is not an http or https URL"),
        ({"id": ""}, "id", "is required"),
    ],
)  # fmt: skip
def test_merchant_row_errors_name_row_and_field(
    tmp_path: Path, fields: dict[str, str], field: str, reason: str
) -> None:
    good = one_item(id="OK", title="Fine", price="1.00 EUR")
    bad = one_item(**{"id": "BAD", "title": "Bad", **fields})
    path = write(tmp_path / "feed.xml", rss_of(good, bad))
    [(first, ok), (row, error)] = records(path, "google-merchant")
    assert (first, row, ok["item_id"]) == (1, 2, "OK")
    assert isinstance(error, ValidationError)
    assert (error.row, error.field, error.reason, error.source) == (2, field, reason, str(path))
    assert str(error) == f"{path}, row 2, field {field!r}: {reason}"


def test_one_bad_item_imports_nothing_unless_skipped(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    items = [one_item(id=f"T{k}", title=f"Tumbler {k}", price=f"{k}.50 EUR") for k in range(1, 9)]
    items[4] = one_item(id="T5", title="Tumbler 5", price="5,50 EUR")
    path = write(tmp_path / "feed.xml", rss_of(*items))
    with pytest.raises(ImportRejected) as caught:
        import_items(sqlite_store, path, batch_size=3)
    reason = "'5,50 EUR' is ambiguous: use '.' for decimals and ',' only between thousands"
    assert caught.value.rejections == [Rejection(5, "price", reason)]
    assert "row 5: field 'price': '5,50 EUR' is ambiguous" in str(caught.value)
    assert sqlite_store.counts()["items"] == 0
    rejects = tmp_path / "rejects.jsonl"
    report = import_items(sqlite_store, path, skip_invalid=True, rejects_path=rejects)
    assert (report.read, report.stored, report.invalid) == (8, 7, 1)
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert written == [{"row": 5, "field": "price", "reason": reason, "record": None}]
    assert sqlite_store.get_item("T5") is None and sqlite_store.get_item("T8") is not None


def test_item_level_errors_come_from_the_item_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.xml", rss_of(one_item(id="NT", price="-1.00 EUR")))
    [(_, record)] = records(path, "google-merchant")
    with pytest.raises(ValidationError) as caught:
        parse_item(record)
    assert caught.value.field == "title"


# -- XML safety and malformed XML ------------------------------------------------------------
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item>
<g:id>X</g:id><title>&lol3;</title></item></channel></rss>
"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        '<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://evil.example.com/x.dtd"><rss/>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss>&xxe;</rss>',
    ],
)
def test_doctype_and_entity_declarations_are_refused(
    sqlite_store: SQLStore, tmp_path: Path, text: str
) -> None:
    path = write(tmp_path / "feed.xml", text)
    with pytest.raises(ValidationError, match="declares a DOCTYPE; feeds with a DTD or entity"):
        records(path, "google-merchant")
    with pytest.raises(ValidationError, match="declares a DOCTYPE"):
        import_items(sqlite_store, path, skip_invalid=True)
    assert sqlite_store.counts()["items"] == 0


def test_malformed_xml_names_the_line(sqlite_store: SQLStore, tmp_path: Path) -> None:
    text = rss_of(one_item(id="A", title="A")).replace("<channel>", "<channel>\n\n")
    path = write(tmp_path / "feed.xml", text.replace("</g:title>", "</g:name>"))
    with pytest.raises(ValidationError) as caught:
        import_items(sqlite_store, path, skip_invalid=True)
    assert caught.value.reason == "is not well-formed XML (mismatched tag: line 3, column 32)"
    assert str(caught.value).startswith(f"{path}: is not well-formed XML")
    assert sqlite_store.counts()["items"] == 0


def test_other_xml_is_not_taken_for_a_feed(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sitemap.xml", "<urlset><url><loc>https://a.example</loc></url></urlset>"
    )
    with pytest.raises(ValidationError, match=r"root element is <urlset>, not <rss>"):
        records(path, "google-merchant")


def test_xml_is_streamed(tmp_path: Path) -> None:
    """Items come before the file is read to the end, and memory does not grow with it."""
    item = one_item(id="{k}", title="Napkin {k}", price="2.00 EUR", description="x" * 300)
    items = [item.replace("{k}", str(k)) for k in range(6000)]  # about 3 MB
    path = write(tmp_path / "big.xml", rss_of(*items).replace("</channel>", "<broken>"))
    reader = read_records(path, "google-merchant")
    assert next(reader) == (1, {"item_id": "0", "title": "Napkin 0", "description": "x" * 300,
                                "price": 2.0, "currency": "EUR"})  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match="is not well-formed XML"):
            for _ in reader:
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak


# -- HTML to text ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("<b>Bold</b>er and <i>it</i>alic", "Bolder and italic"),
        ("Line<br>break<br/>again", "Line break again"),
        ("Fish &amp; chips &lt;3 &#8364;5&nbsp;each", "Fish & chips <3 €5 each"),
        ("<style>p {color: red}</style><p>Shown</p><script>alert(1)</script>", "Shown"),
        ("  plain\n\n text  ", "plain text"),
        ("<ul>\n<li>A</li>\n<li>B</li></ul>", "A B"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


# -- Shopify product CSV ---------------------------------------------------------------------
SHOPIFY_COLUMNS = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
    "Option3 Value", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
    "Variant Inventory Qty", "Variant Price", "Variant Compare At Price",
    "Variant Requires Shipping", "Variant Barcode", "Image Src", "Image Position",
    "Image Alt Text", "Gift Card", "SEO Title", "SEO Description", "Status",
]  # fmt: skip
CDN = "https://cdn.shopify.com/s/files/1/0001/products"
SHOPIFY_ROWS: list[dict[str, str]] = [
    # line 2 (its body spans lines 2 and 3)
    {"Handle": "linen-shirt", "Title": "Linen shirt",
     "Body (HTML)": "<p>Breathable <strong>linen</strong>.</p>\n<p>Relaxed fit.</p>",
     "Vendor": "Nordkyst", "Product Category": "Apparel & Accessories > Clothing > Shirts & Tops",
     "Type": "Shirts", "Tags": "summer, linen,men", "Published": "TRUE", "Option1 Name": "Size",
     "Option1 Value": "S", "Option2 Name": "Color", "Option2 Value": "Sand",
     "Variant SKU": "LS-S-SAND", "Variant Grams": "250", "Variant Inventory Tracker": "shopify",
     "Variant Inventory Qty": "12", "Variant Price": "59.00", "Variant Compare At Price": "79.00",
     "Variant Requires Shipping": "TRUE", "Image Src": f"{CDN}/linen-1.jpg",
     "Image Position": "1", "Image Alt Text": "Front", "Gift Card": "FALSE",
     "SEO Title": "Linen shirt | Nordkyst", "Status": "active"},
    # lines 4-6: two more variants, then an image-only row
    {"Handle": "linen-shirt", "Option1 Value": "M", "Option2 Value": "Sand",
     "Variant SKU": "LS-M-SAND", "Variant Price": "59.00", "Variant Compare At Price": "79.00",
     "Image Src": f"{CDN}/linen-2.jpg", "Image Position": "2"},
    {"Handle": "linen-shirt", "Option1 Value": "L", "Option2 Value": "Olive",
     "Variant SKU": "LS-L-OLIVE", "Variant Price": "54.00", "Variant Compare At Price": "64.00"},
    {"Handle": "linen-shirt", "Image Src": f"{CDN}/linen-3.jpg", "Image Position": "3"},
    # line 7: one variant, a draft
    {"Handle": "wool-beanie", "Title": "Merino beanie", "Body (HTML)": "Soft &amp; warm",
     "Vendor": "Nordkyst", "Type": "Hats", "Tags": "", "Published": "FALSE",
     "Option1 Name": "Title", "Option1 Value": "Default Title", "Variant SKU": "WB-1",
     "Variant Price": "24.00", "Image Src": f"{CDN}/beanie.jpg", "Status": "draft"},
    # lines 8-9: archived, three options
    {"Handle": "rain-jacket", "Title": "Rain jacket", "Vendor": "Fjellvind",
     "Product Category": "Apparel & Accessories > Clothing > Outerwear", "Option1 Name": "Size",
     "Option1 Value": "M", "Option2 Name": "Color", "Option2 Value": "Navy",
     "Option3 Name": "Fit", "Option3 Value": "Regular", "Variant SKU": "RJ-M-N-R",
     "Variant Price": "189.00", "Status": "archived"},
    {"Handle": "rain-jacket", "Option1 Value": "L", "Option2 Value": "Navy",
     "Option3 Value": "Tall", "Variant SKU": "RJ-L-N-T", "Variant Price": "199.00"},
    # line 10: a gift card without image
    {"Handle": "gift-card", "Title": "Gift card", "Vendor": "Nordkyst", "Type": "Gift Cards",
     "Option1 Name": "Denominations", "Option1 Value": "50 EUR", "Variant Price": "50.00",
     "Gift Card": "TRUE", "Status": "active"},
    # line 11
    {"Handle": "canvas-tote", "Title": "Canvas tote", "Vendor": "Fjellvind",
     "Variant Price": "19.00", "Variant SKU": "CT-1", "Status": "active"},
]  # fmt: skip
LINEN = {
    "item_id": "linen-shirt",
    "title": "Linen shirt",
    "description": "Breathable linen. Relaxed fit.",
    "brand": "Nordkyst",
    "category": ["Apparel & Accessories", "Clothing", "Shirts & Tops"],
    "price": 54.0,
    "attributes": {
        "Size": ["S", "M", "L"],
        "Color": ["Sand", "Olive"],
        "list_price": 64.0,
        "skus": ["LS-S-SAND", "LS-M-SAND", "LS-L-OLIVE"],
        "tags": ["summer", "linen", "men"],
    },
    "image_url": f"{CDN}/linen-1.jpg",
    "available": True,
}


def write_shopify(
    path: Path, rows: list[dict[str, str]], columns: list[str] = SHOPIFY_COLUMNS
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_shopify_products_group_their_variants(tmp_path: Path) -> None:
    path = write_shopify(tmp_path / "products_export.csv", SHOPIFY_ROWS)
    assert detect_format(path) == "csv"  # a Shopify export is read as one only when named
    read = records(path, "shopify")
    assert [row for row, _ in read] == [2, 7, 8, 10, 11]  # the CSV line of each first row
    by_id = {r["item_id"]: r for _, r in read}
    assert by_id["linen-shirt"] == LINEN
    assert by_id["wool-beanie"] == {
        "item_id": "wool-beanie",
        "title": "Merino beanie",
        "description": "Soft & warm",
        "brand": "Nordkyst",
        "category": ["Hats"],  # no Product Category: the Type
        "price": 24.0,
        "attributes": {"skus": ["WB-1"]},  # "Default Title" is no option
        "image_url": f"{CDN}/beanie.jpg",
        "available": False,
    }
    jacket = by_id["rain-jacket"]
    assert (jacket["price"], jacket["available"]) == (189.0, False)
    assert jacket["attributes"] == {
        "Size": ["M", "L"],
        "Color": ["Navy"],
        "Fit": ["Regular", "Tall"],
        "skus": ["RJ-M-N-R", "RJ-L-N-T"],
    }
    assert by_id["gift-card"]["attributes"] == {"Denominations": ["50 EUR"]}
    assert "image_url" not in by_id["canvas-tote"]
    assert [parse_item(r).available for _, r in read] == [True, False, False, True, True]
    assert count_records(path, "shopify") == 5


def test_shopify_export_imports_end_to_end(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = write_shopify(tmp_path / "products_export.csv", SHOPIFY_ROWS)
    report = import_items(sqlite_store, path, fmt="shopify")
    assert (report.read, report.stored, report.invalid) == (5, 5, 0)
    assert sqlite_store.get_item("linen-shirt") == Item(**LINEN)


def test_shopify_errors_name_the_products_first_line(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    rows = [dict(row) for row in SHOPIFY_ROWS]
    rows[2]["Variant Price"] = "54,00"  # line 5, in the product starting at line 2
    rows[4]["Status"] = "hidden"  # line 7
    path = write_shopify(tmp_path / "products_export.csv", rows)
    with pytest.raises(ImportRejected) as caught:
        import_items(sqlite_store, path, fmt="shopify")
    assert caught.value.rejections == [
        Rejection(2, "Variant Price", "'54,00' is ambiguous: use '.' for decimals and ',' only "
                  "between thousands (line 5)"),
        Rejection(7, "Status", "'hidden' is not one of active, draft, archived"),
    ]  # fmt: skip
    assert sqlite_store.counts()["items"] == 0
    rejects = tmp_path / "rejects.jsonl"
    report = import_items(sqlite_store, path, fmt="shopify", skip_invalid=True,
                          rejects_path=rejects)  # fmt: skip
    assert (report.read, report.stored, report.invalid) == (5, 3, 2)
    assert [json.loads(line)["row"] for line in rejects.read_text().splitlines()] == [2, 7]
    assert sqlite_store.get_item("rain-jacket") is not None


def test_a_handle_reappearing_later_is_a_row_error(tmp_path: Path) -> None:
    rows = [*SHOPIFY_ROWS[:4], SHOPIFY_ROWS[4], {"Handle": "linen-shirt", "Option1 Value": "XL",
            "Variant Price": "59.00"}, {"Handle": "", "Title": "No handle"}]  # fmt: skip
    path = write_shopify(tmp_path / "products_export.csv", rows)
    read = records(path, "shopify")
    assert [row for row, _ in read] == [2, 7, 8, 9]
    assert read[0][1]["attributes"]["Size"] == ["S", "M", "L"]  # the later row is not merged
    error = read[2][1]
    assert isinstance(error, ValidationError)
    assert (error.row, error.field) == (8, "Handle")
    assert error.reason == (
        "handle 'linen-shirt' reappears after other products (its rows began at line 2): "
        "rows of one product must be contiguous"
    )
    assert isinstance(read[3][1], ValidationError)
    assert (read[3][1].field, read[3][1].reason) == ("Handle", "is required")


def test_shopify_grouping_streams(tmp_path: Path) -> None:
    """One product's rows are held at a time (and the handles seen), not the file's rows."""
    body = "<p>" + "Hand-thrown stoneware. " * 10 + "</p>"
    rows = [
        {"Handle": f"bowl-{k}", "Body (HTML)": body, "Option1 Value": size, "Variant Price": "9"}
        | ({"Title": f"Bowl {k}", "Option1 Name": "Size"} if size == "S" else {})
        for k in range(4000)
        for size in ("S", "M", "L")
    ]
    path = write_shopify(tmp_path / "products_export.csv", rows)  # about 3 MB
    tracemalloc.start()
    try:
        read = sum(1 for _ in read_records(path, "shopify"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == 4000
    assert peak < 1_000_000, peak


def test_shopify_unknown_columns_are_ignored_and_missing_status_uses_published(
    tmp_path: Path,
) -> None:
    columns = ["Handle", "Title", "Variant Price", "Published", "Google Shopping / MPN", "Cost"]
    rows = [{"Handle": "a", "Title": "A", "Variant Price": "3", "Published": "FALSE",
             "Google Shopping / MPN": "X1", "Cost": "1.20"},
            {"Handle": "b", "Title": "B", "Variant Price": "$4.50"}]  # fmt: skip
    read = records(write_shopify(tmp_path / "old_export.csv", rows, columns), "shopify")
    assert read == [
        (2, {"item_id": "a", "title": "A", "price": 3.0, "available": False}),
        (3, {"item_id": "b", "title": "B", "price": 4.5, "available": True}),
    ]


def test_a_csv_without_handles_is_not_a_shopify_export(tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", "item_id,title\na,A\n")
    with pytest.raises(ValidationError, match="has no 'Handle' column"):
        records(path, "shopify")


# -- format names ----------------------------------------------------------------------------
def test_format_names(tmp_path: Path) -> None:
    assert detect_format(tmp_path / "feed.XML") == "google-merchant"
    assert detect_format(tmp_path / "x.csv", "Shopify") == "shopify"
    assert detect_format(tmp_path / "x.tsv", "google-merchant") == "google-merchant"
    with pytest.raises(ValidationError) as caught:
        detect_format(tmp_path / "x.csv", "merchant")
    assert caught.value.reason == (
        "unknown format 'merchant': use csv, jsonl, parquet, google-merchant or shopify"
    )
