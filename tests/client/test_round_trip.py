"""Every client method against the real app: what is posted comes back, events change the
recommendations, deleted items are gone, keys are created, listed and revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from shelf.catalog import Event, Item
from shelf.client import AsyncClient, AuthenticationError, Client, NotFound, RecList
from shelf.engine import Engine
from shelf.serve.keys import Scope
from shelf.serve.shoppers import mint_shopper_token

from .conftest import SECRET

NEW = [
    Item(item_id="t1", title="Telescope with tripod", brand="Orion", price=199.5,
         category=["Optics", "Telescopes"], attributes={"color": "black"}),
    Item(item_id="t2", title="Telescope eyepiece", brand="Orion", price=29.0,
         category=["Optics", "Parts"]),
    Item(item_id="odd/id with?#", title="Binocular strap", category=["Optics", "Parts"]),
]  # fmt: skip


def test_catalog_round_trip(connect: Callable[..., Client], keyed: dict[Scope, str]) -> None:
    ingest = connect(api_key=keyed[Scope.INGEST])
    assert ingest.post_items(NEW).upserted == 3
    for item in NEW:
        assert ingest.get_item(item.item_id) == item  # the same Item, every field
    page = ingest.list_items(category="Optics > Parts", limit=10)
    assert (page.total, [i.item_id for i in page.items]) == (2, ["odd/id with?#", "t2"])
    assert ingest.list_items(offset=1, limit=1).items[0].item_id == "i1"

    found = ingest.search("telescope", brands=["Orion"], price_max=100)
    assert [h.item_id for h in found.items] == ["t2"]
    assert found.items[0].brand == "Orion" and found.items[0].price == 29.0
    colored = ingest.search("telescope", attributes={"color": ["black"]}, sort="price_asc")
    assert [h.item_id for h in colored.items] == ["t1"] and colored.sort == "price_asc"

    assert ingest.delete_item("odd/id with?#").item_id == "odd/id with?#"
    with pytest.raises(NotFound) as gone:
        ingest.get_item("odd/id with?#")
    assert (gone.value.kind, gone.value.key, gone.value.status) == ("item", "odd/id with?#", 404)
    assert "odd/id with?#" not in [h.item_id for h in ingest.search("binocular strap").items]
    with pytest.raises(NotFound):
        ingest.delete_item("odd/id with?#")


def test_ids_that_url_normalisation_would_eat(connect: Callable[..., Client]) -> None:
    client = connect()  # open mode, loopback
    dots = [Item(item_id=i, title=f"dot {n}") for n, i in enumerate([".", "..", "a/../b"])]
    assert client.post_items(dots).upserted == 3
    assert [client.get_item(i.item_id).title for i in dots] == ["dot 0", "dot 1", "dot 2"]
    assert client.delete_item("..").item_id == ".."
    assert client.get_item(".").title == "dot 0"


def test_events_change_recommendations(
    connect: Callable[..., Client], keyed: dict[Scope, str]
) -> None:
    shop = connect(api_key=keyed[Scope.SEARCH])
    fresh = shop.recommend("newcomer", n=3)
    assert fresh.source in ("trending", "popular") and len(fresh.items) == 3
    events = [
        Event(
            user_id="newcomer",
            item_id="i1",
            type="view",
            timestamp=1_800_000_000,
            session_id="s-new",
        )
        for _ in range(2)
    ] + [Event(user_id="newcomer", type="search", query="lamp", timestamp=1_800_000_005)]
    ack = shop.post_events(events)
    assert (ack.received, ack.stored, ack.duplicates) == (3, 2, 1)  # the same view twice
    assert shop.post_events(events).duplicates == 3

    after = shop.recommend("newcomer", n=3, exclude=["i0"])
    assert after.source in ("personal", "session") and "i0" not in [r.item_id for r in after.items]
    assert {r.reason for r in after.items} == {"picked for you"}  # a bare id shows no history
    token = mint_shopper_token(SECRET, "newcomer")
    shown = shop.recommend("newcomer", n=3, exclude=["i0"], shopper_token=token)
    assert any(r.reason.startswith("because you") for r in shown.items), shown
    as_shopper = connect(api_key=keyed[Scope.SEARCH], shopper_token=token)
    assert as_shopper.recommend("newcomer", n=3, exclude=["i0"]) == shown

    similar = shop.similar_items("i1", n=4)
    assert similar.source == "similar" and "i1" not in [r.item_id for r in similar.items]
    together = shop.bought_together("i1", n=4)
    assert together.source == "bought_together" and together.items
    trending = shop.trending(n=5, category="Tools > Lamp")
    assert isinstance(trending, RecList) and len(trending.items) == 4  # i2, i5, i8, i11
    assert all(r.title and r.title.startswith("lamp") for r in trending.items)


def test_keys_users_and_service_routes(
    connect: Callable[..., Client], keyed: dict[Scope, str], engine: Engine
) -> None:
    admin = connect(api_key=keyed[Scope.ADMIN])
    made = admin.create_key("web", "search", expires_days=30)
    assert made.key.startswith(made.info.prefix + "_") and made.info.scope == "search"
    assert made.info.expires_ms == made.info.created_ms + 30 * 86_400_000
    listed = {k.name: k for k in admin.list_keys()}
    assert set(listed) == {"test-search", "test-ingest", "test-admin", "web"}
    assert listed["web"].revoked_ms is None

    web = connect(api_key=made.key)
    assert web.search("drill").total > 0
    assert admin.revoke_key("web") is None
    with pytest.raises(AuthenticationError):
        web.search("drill")
    with pytest.raises(NotFound) as unknown:
        admin.revoke_key("nobody")
    assert (unknown.value.kind, unknown.value.key) == ("key", "nobody")

    assert admin.delete_user("u3").events_deleted == 4
    erasures = admin.erasures()
    assert len(erasures.pending) + len(erasures.completed) == 1
    stats = admin.stats()
    assert stats["store"]["events"] == 76
    assert "shelf_http_requests_total" in admin.metrics()
    assert "/users/{user_id}/recommendations" in admin.openapi()["paths"]
    health = connect().health()
    assert (health.status, health.access) == ("ok", "keys")


def test_the_async_client_round_trips(
    connect_async: Callable[..., AsyncClient], keyed: dict[Scope, str]
) -> None:
    async def scenario() -> None:
        async with connect_async(api_key=keyed[Scope.ADMIN]) as admin:
            assert (await admin.post_items(NEW[:2])).upserted == 2
            assert await admin.get_item("t1") == NEW[0]
            assert (await admin.list_items(category="Optics")).total == 2
            found = await admin.search("telescope", brands=["Orion"], page_size=1)
            assert (found.total, len(found.items), found.items[0].item_id) == (2, 1, "t1")
            ack = await admin.post_events(
                [Event(user_id="a1", item_id="t1", type="purchase", timestamp=1_800_000_000)]
            )
            assert ack.stored == 1
            recs, similar, together, trending = await asyncio.gather(
                admin.recommend("a1", n=2), admin.similar_items("i1", n=2),
                admin.bought_together("i1", n=2), admin.trending(n=2),
            )  # fmt: skip
            assert [len(r.items) for r in (recs, similar, together, trending)] == [2, 2, 2, 2]
            assert (await admin.delete_item("t2")).item_id == "t2"
            with pytest.raises(NotFound):
                await admin.get_item("t2")
            made = await admin.create_key("etl", "ingest")
            assert "etl" in [k.name for k in await admin.list_keys()]
            await admin.revoke_key("etl")
            assert (await admin.delete_user("a1")).events_deleted == 1
            assert (await admin.erasures()).pending or (await admin.erasures()).completed
            assert (await admin.stats())["store"]["items"] == 13
            assert "shelf_items_upserted_total 2.0" in await admin.metrics()
            assert "paths" in await admin.openapi()
            assert (await admin.health()).access == "keys"
        async with connect_async(api_key=made.key) as revoked:
            with pytest.raises(AuthenticationError):
                await revoked.trending()

    asyncio.run(scenario())
