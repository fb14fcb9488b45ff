"""The error envelope as exceptions: each status its class, with status, code, message,
details and request id; what the network does wrong; what a caller passes wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shelf import errors
from shelf.client import (
    APIError,
    AsyncClient,
    AuthenticationError,
    BadRequest,
    Call,
    Client,
    Item,
    NotFound,
    PermissionDenied,
    ServerError,
    Timeout,
    TransportError,
    Unavailable,
    UnexpectedResponse,
    ValidationError,
)
from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app
from shelf.serve.keys import Scope

from .conftest import BASE, mocked


def raised(call: Callable[[], Any], kind: type[APIError]) -> APIError:
    with pytest.raises(kind) as caught:
        call()
    error = caught.value
    assert type(error) is kind
    assert error.request_id and len(error.request_id) == 16  # the server's x-request-id
    assert error.request_id in str(error) and error.message in str(error)
    return error


def test_keys_missing_wrong_or_too_low(
    connect: Callable[..., Client], keyed: dict[Scope, str]
) -> None:
    anonymous = raised(connect().stats, AuthenticationError)
    assert (anonymous.status, anonymous.code, anonymous.method, anonymous.path) == (
        401, "unauthorized", "GET", "/stats",
    )  # fmt: skip
    assert "Authorization: Bearer" in anonymous.message
    wrong = raised(connect(api_key="shelf_admin_nosuchky_" + "x" * 43).stats, AuthenticationError)
    assert "unknown, revoked or expired" in wrong.message
    low = raised(connect(api_key=keyed[Scope.SEARCH]).stats, PermissionDenied)
    assert (low.status, low.code) == (403, "forbidden") and "admin" in low.message
    shop = connect(api_key=keyed[Scope.SEARCH])
    bulk = raised(lambda: shop.delete_item("i1"), PermissionDenied)
    assert "ingest" in bulk.message
    assert isinstance(bulk, errors.ShelfError)


def test_validation_errors_name_the_field_and_row(
    connect: Callable[..., Client], keyed: dict[Scope, str]
) -> None:
    client = connect(api_key=keyed[Scope.ADMIN])
    error = raised(lambda: client.search("drill", page_size=1000), ValidationError)
    assert isinstance(error, ValidationError) and isinstance(error, errors.ValidationError)
    assert (error.status, error.code, error.field, error.row) == (422, "validation_error",
                                                                   "page_size", None)  # fmt: skip
    assert "100" in error.reason
    attr = raised(lambda: client.search("x", attributes={"color": [""]}), ValidationError)
    assert isinstance(attr, ValidationError) and attr.field == "attr"

    # A body the client's own types would refuse, sent as it is: the server names the row.
    rows = [{"item_id": "ok", "title": "fine"}, {"item_id": "bad", "title": "x", "price": -1}]
    raw = Call("POST", "/items", lambda r: r.json(), json={"items": rows})
    batch = raised(lambda: client.send(raw), ValidationError)
    assert isinstance(batch, ValidationError)
    assert (batch.row, batch.field) == (2, "price")
    assert [(d.row, d.field) for d in batch.details] == [(2, "price")]
    assert batch.describe().startswith("row 2, field 'price': ")
    with pytest.raises(NotFound):
        client.get_item("ok")  # all or none


def test_not_found_and_unavailable(connect: Callable[..., Client], tmp_path: Path) -> None:
    missing = raised(lambda: connect().get_item("no-such-item"), NotFound)
    assert isinstance(missing, NotFound) and isinstance(missing, errors.NotFoundError)
    assert (missing.kind, missing.key, missing.code) == ("item", "no-such-item", "not_found")
    assert "no-such-item" in missing.message

    bare = Engine(Settings(data_dir=tmp_path / "bare"))  # nothing trained, nothing indexed
    try:
        app = create_app(bare)

        async def ask() -> None:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            async with AsyncClient(BASE, transport=transport) as client:
                with pytest.raises(Unavailable) as down:
                    await client.trending()
                assert isinstance(down.value, errors.ServiceUnavailable)
                assert (down.value.status, down.value.code) == (503, "unavailable")
                assert "shelf train" in down.value.message
                with pytest.raises(Unavailable, match="no search index"):
                    await client.search("drill")
                with pytest.raises(ValidationError) as bad:
                    await client.trending(n=0)
                assert bad.value.field == "n"

        asyncio.run(ask())
    finally:
        bare.close()


def test_statuses_without_the_envelope() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        statuses = {"/health": 502, "/stats": 413, "/keys": 500, "/metrics": 302}
        status = statuses[request.url.path]
        headers = {"location": "https://login.example/"} if status == 302 else {}
        return httpx.Response(status, text="<html>Bad Gateway</html>", headers=headers)

    with mocked(proxy) as client:
        gateway = raised_plain(client.health, ServerError)
        assert (gateway.status, gateway.code, gateway.message) == (
            502, "error", "<html>Bad Gateway</html>",
        )  # fmt: skip
        assert gateway.request_id is None
        assert str(gateway) == "502 error: <html>Bad Gateway</html> (GET /health)"
        assert raised_plain(client.stats, BadRequest).status == 413
        assert raised_plain(client.list_keys, ServerError).status == 500
        with pytest.raises(UnexpectedResponse, match=r"302 to https://login\.example/"):
            client.metrics()


def raised_plain(call: Callable[[], Any], kind: type[APIError]) -> APIError:
    with pytest.raises(kind) as caught:
        call()
    assert type(caught.value) is kind
    return caught.value


def test_a_success_that_is_not_the_answer() -> None:
    answers = {
        "/health": httpx.Response(200, text="<html>captive portal</html>"),
        "/trending": httpx.Response(200, json={"source": "x", "items": [{"item_id": 3}]}),
        "/openapi.json": httpx.Response(200, json=[1, 2]),
    }
    with mocked(lambda r: answers[r.url.path]) as client:
        with pytest.raises(UnexpectedResponse, match="not JSON"):
            client.health()
        with pytest.raises(UnexpectedResponse, match=r"items\.0\.item_id"):
            client.trending()
        with pytest.raises(UnexpectedResponse, match="a JSON list, not an object"):
            client.openapi()


def test_network_failures_are_transport_errors() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            raise httpx.ConnectError("connection refused", request=request)
        raise httpx.ReadTimeout("timed out", request=request)

    with mocked(unreachable, timeout=2.5) as client:
        with pytest.raises(TransportError, match="could not reach shelf") as refused:
            client.health()
        assert type(refused.value) is TransportError
        assert isinstance(refused.value.__cause__, httpx.ConnectError)
        assert "GET http://127.0.0.1/health" in str(refused.value)
        with pytest.raises(Timeout, match=r"no answer within the timeout 2\.5") as late:
            client.search("drill", user_id="secret-user")
        assert "secret-user" not in str(late.value)  # the query string is left out

    async def failing() -> None:
        transport = httpx.MockTransport(unreachable)
        async with AsyncClient(BASE, transport=transport) as client:
            with pytest.raises(TransportError):
                await client.health()
            with pytest.raises(Timeout):
                await client.trending()

    asyncio.run(failing())


def test_arguments_are_checked_before_sending() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"sent {request.url}")

    with mocked(never) as client:
        with pytest.raises(TypeError, match=r"list of strings, not the string 'Bosch'"):
            client.search("drill", brands="Bosch")
        with pytest.raises(TypeError, match=r"attributes\['color'\] takes a list"):
            client.search("drill", attributes={"color": "red"})
        with pytest.raises(TypeError, match="row 2 is a dict, not an Item"):
            client.post_items([Item(item_id="a", title="a"), {"item_id": "b", "title": "b"}])
        with pytest.raises(TypeError, match="not one Item"):
            client.post_items(Item(item_id="a", title="a"))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="items is empty"):
            client.post_items([])
        with pytest.raises(ValueError, match="item_id must be a non-empty string"):
            client.get_item("")
        with pytest.raises(ValueError, match="comma"):
            client.recommend("u1", exclude=["a,b"])
        with pytest.raises(ValueError, match="max_retries"):
            Client(max_retries=-1)


def test_the_key_stays_out_of_the_repr() -> None:
    key = "shelf_admin_abcd1234_" + "s" * 43
    client = Client("http://shop.example:8000", api_key=key)
    try:
        assert repr(client) == "Client('http://shop.example:8000', key='shelf_admin_abcd1234')"
    finally:
        client.close()
