"""The client cannot fall behind the server: every route has a method on both clients, the
two clients agree, the answer models have the server's fields, and the import stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from shelf.client import AsyncClient, Client, models
from shelf.client.calls import ROUTES
from shelf.search.filters import SortOrder
from shelf.search.schemas import SearchHit, SearchResponse
from shelf.serve import routes_access, routes_recs, schemas
from shelf.serve.auth import ROUTE_SCOPES
from shelf.serve.keys import Scope

# Routes a browser uses, not a program: the shop's pages, the admin page, the API docs and
# the sign-in form that sets a cookie.
PAGES = {
    ("GET", "/"), ("GET", "/product/{item_id}"), ("GET", "/for-you"), ("GET", "/admin"),
    ("GET", "/docs"), ("GET", "/redoc"), ("POST", "/session"),
}  # fmt: skip


def test_every_route_has_a_method_on_both_clients() -> None:
    wanted = set(ROUTE_SCOPES) - PAGES
    missing = sorted(wanted - set(ROUTES))
    assert not missing, f"routes without a client method (shelf/client/calls.py): {missing}"
    stale = sorted(set(ROUTES) - set(ROUTE_SCOPES))
    assert not stale, f"client methods for routes the server does not have: {stale}"
    assert not PAGES - set(ROUTE_SCOPES), "a page listed here is no longer a route"
    for build in ROUTES.values():
        for client in (Client, AsyncClient):
            method = getattr(client, build.__name__, None)
            assert method is not None, f"{client.__name__} has no {build.__name__}"
            assert method.__wrapped__ is build, f"{client.__name__}.{build.__name__}"


def test_both_clients_have_the_same_methods_and_parameters() -> None:
    public = {name for name in vars(Client) if not name.startswith("_") and name not in ("close",)}
    assert {n for n in vars(AsyncClient) if not n.startswith("_")} - {"aclose"} == public
    for name in sorted(public - {"send"}):
        sync, both = inspect.signature(getattr(Client, name)), getattr(AsyncClient, name)
        assert inspect.iscoroutinefunction(both), name
        assert sync.parameters == inspect.signature(both).parameters, name


SAME_FIELDS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (models.Health, schemas.Health),
    (models.SearchResponse, SearchResponse),
    (models.SearchHit, SearchHit),
    (models.RecList, routes_recs.RecListOut),
    (models.RecItem, routes_recs.RecItemOut),
    (models.ItemPage, schemas.ItemPageOut),
    (models.ItemOut, schemas.ItemOut),
    (models.ItemsAck, schemas.ItemsAck),
    (models.EventsAck, schemas.EventsAck),
    (models.ItemDeleted, schemas.ItemDeleted),
    (models.UserDeleted, schemas.UserDeleted),
    (models.Stats, schemas.Stats),
    (models.KeyInfo, routes_access.KeyOut),
    (models.KeyCreated, routes_access.KeyCreated),
    (models.KeyList, routes_access.KeyList),
    (models.Erasure, routes_access.ErasureOut),
    (models.Erasures, routes_access.ErasureList),
]


@pytest.mark.parametrize(("ours", "theirs"), SAME_FIELDS, ids=lambda m: m.__name__)
def test_answer_models_have_the_servers_fields(
    ours: type[BaseModel], theirs: type[BaseModel]
) -> None:
    def shape(model: type[BaseModel]) -> dict[str, bool]:
        return {n: f.is_required() for n, f in model.model_fields.items() if n != "ok"}

    assert shape(ours) == shape(theirs)


def test_the_literals_are_the_servers_choices() -> None:
    assert set(typing.get_args(models.SortOrder)) == {s.value for s in SortOrder}
    assert set(typing.get_args(models.KeyScope)) == {s.label for s in Scope}


def test_importing_the_client_loads_neither_server_nor_search() -> None:
    code = (
        "import sys, shelf.client; print(sorted(m for m in ('numpy', 'fastapi', 'sqlalchemy', "
        "'torch', 'shelf.serve', 'shelf.search', 'shelf.engine') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_method_is_in_the_client_docs() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
    missing = [b.__name__ for b in ROUTES.values() if f"| `{b.__name__}(" not in page]
    assert not missing, f"methods missing from docs/client.md: {missing}"
