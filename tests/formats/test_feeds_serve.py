"""A Merchant Center feed and a Shopify export of a few dozen products, written here, import,
then search and recommend through the engine."""

from __future__ import annotations

from pathlib import Path

from shelf.catalog import Event
from shelf.config import Settings
from shelf.engine import Engine
from shelf.ingest import import_items
from shelf.search import SearchRequest

KINDS = {
    "drill": ("Cordless Drill", "Tools > Power Tools"),
    "pan": ("Frying Pan", "Kitchen > Cookware"),
    "lamp": ("Desk Lamp", "Home > Lighting"),
}


def merchant_feed(path: Path) -> Path:
    items = []
    for kind, (title, category) in KINDS.items():
        for k in range(8):
            items.append(
                f"<item><g:id>gm-{kind}-{k}</g:id><title>Acme {title} {k}</title>"
                f"<description>&lt;p&gt;A {title.lower()} for everyday use&lt;/p&gt;</description>"
                f"<g:price>{19 + k}.00 USD</g:price><g:brand>Acme</g:brand>"
                f"<g:product_type>{category}</g:product_type>"
                "<g:availability>in_stock</g:availability></item>"
            )
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
        f"<channel><title>shop</title>{''.join(items)}</channel></rss>"
    )
    return path


def shopify_export(path: Path) -> Path:
    rows = ["Handle,Title,Body (HTML),Vendor,Type,Tags,Option1 Name,Option1 Value,"
            "Variant SKU,Variant Price,Status"]  # fmt: skip
    for kind, (title, _category) in KINDS.items():
        for k in range(4):
            handle = f"sh-{kind}-{k}"
            rows.append(f"{handle},Bolt {title} {k},<b>Sturdy</b> {title.lower()},Bolt,{title},"
                        f"sale,Size,S,{handle}-s,{30 + k},active")  # fmt: skip
            rows.append(f"{handle},,,,,,,M,{handle}-m,{32 + k},")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_feeds_import_search_and_recommend(tmp_path: Path) -> None:
    from shelf.cli import train_from_store

    engine = Engine(Settings(data_dir=tmp_path / "data"))
    try:
        merchant = import_items(engine.store, merchant_feed(tmp_path / "feed.xml"),
                                fmt="google-merchant")  # fmt: skip
        shopify = import_items(engine.store, shopify_export(tmp_path / "p.csv"), fmt="shopify")
        assert (merchant.stored, shopify.stored) == (24, 12)
        events = []
        t = 1_700_000_000
        for u in range(40):
            kind = list(KINDS)[u % 3]
            for step, prefix in enumerate(["gm", "sh", "gm"]):
                t += 1
                last = 8 if prefix == "gm" else 4
                events.append(Event(user_id=f"u{u}", item_id=f"{prefix}-{kind}-{(u + step) % last}",
                                    type="view", timestamp=t))  # fmt: skip
        engine.add_events(events)
        train_from_store(engine, model="cooc")
        engine.start_services()
        assert engine.search is not None and engine.recs is not None
        found = engine.search.search(SearchRequest(query="frying pan", page_size=10))
        ids = [hit.item_id for hit in found.items]
        assert ids and all("pan" in i for i in ids[:5]), ids
        assert {i.split("-")[0] for i in ids} == {"gm", "sh"}  # both feeds answer
        cheap = engine.search.search(SearchRequest(query="drill under $22"))
        assert cheap.items and all((h.price or 0) <= 22 for h in cheap.items)
        similar = engine.recs.similar("gm-lamp-0", 5)
        assert similar.items and all("lamp" in r.item_id for r in similar.items)
    finally:
        engine.close()
