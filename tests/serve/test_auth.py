"""Access control: the route x scope table, keys, open mode on loopback only, rate limits,
shopper tokens, sign-in for pages, security headers, offline docs, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from typer.testing import CliRunner

from shelf.catalog import Event, Item
from shelf.cli import app as cli_app
from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import auth, create_app, keys
from shelf.serve.auth import PUBLIC_MOUNTS, ROUTE_SCOPES, SEARCH_EVENTS_MAX
from shelf.serve.keys import Scope, mint
from shelf.serve.shoppers import SHOPPER_TOKEN_HEADER, mint_shopper_token

from ..conftest import local_client

SECRET = "shop-secret-for-tests"
EXAMPLE_PATH = {"item_id": "i1", "user_id": "alice", "name": "nobody"}  # path parameters


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(
        data_dir=tmp_path / "data",
        rate_limit_per_key=None,
        rate_limit_per_client=None,
        shopper_token_secret=SECRET,
    )
    opened = Engine(settings)
    opened.add_items([Item(item_id=f"i{k}", title=f"drill {k}") for k in range(6)])
    opened.add_events(
        [
            Event(user_id=f"u{u}", item_id=f"i{(u + s) % 6}", type="view", timestamp=u * 9 + s)
            for u in range(8)
            for s in range(3)
        ]
    )
    yield opened
    opened.close()


@pytest.fixture
def keyed(engine: Engine) -> dict[Scope, str]:
    """One key per scope in the store: from now on the service needs keys."""
    made = {}
    for scope in Scope:
        key, record = mint(f"test-{scope.label}", scope, now_ms=0)
        engine.store.access.add_key(record)
        made[scope] = key
    return made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def routes(routes_of: list[Any]) -> list[tuple[str, str]]:
    """(method, template) of every route, through included routers (none has a prefix)."""
    out = []
    for route in routes_of:
        included = getattr(route, "original_router", None)
        if included is not None:
            out.extend(routes(included.routes))
        elif isinstance(route, APIRoute) or not isinstance(route, Mount):
            out.extend((m, route.path) for m in sorted(getattr(route, "methods", None) or []))
    return out


def test_every_route_declares_its_scope(engine: Engine) -> None:
    app = create_app(engine)
    found = routes(app.routes)
    assert len(found) >= 25
    missing = [r for r in found if r not in ROUTE_SCOPES and r[0] != "HEAD"]
    assert not missing, f"routes without a scope in serve/auth.py ROUTE_SCOPES: {missing}"
    stale = [r for r in ROUTE_SCOPES if r not in found]
    assert not stale, f"ROUTE_SCOPES names routes the app does not have: {stale}"
    mounts = [r.path for r in app.routes if isinstance(r, Mount)]
    assert sorted(mounts) == sorted(PUBLIC_MOUNTS)


def test_every_route_by_every_scope_and_without_a_key(
    engine: Engine, keyed: dict[Scope, str]
) -> None:
    with local_client(create_app(engine), raise_server_exceptions=False) as client:
        for method, template in ROUTE_SCOPES:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: EXAMPLE_PATH[m.group(1)], template)
            required = ROUTE_SCOPES[(method, template)]

            def call(headers: dict[str, str], method: str = method, path: str = path) -> int:
                body = {"events": []} if path == "/events" else {}
                kwargs: dict[str, Any] = {"headers": headers}
                if method == "POST":
                    kwargs["json"] = body
                return client.request(method, path, **kwargs).status_code

            without = call({})
            if required is None:
                assert without not in (401, 403), (method, path, without)
                continue
            assert without == 401, (method, path, without)
            assert call(bearer("shelf_admin_nosuchkey_" + "x" * 43)) == 401, (method, path)
            for scope, key in keyed.items():
                status = call(bearer(key))
                if scope < required:
                    assert status == 403, (method, path, scope, status)
                else:
                    assert status not in (401, 403), (method, path, scope, status)


def test_open_mode_serves_loopback_only(engine: Engine) -> None:
    app = create_app(engine)
    with local_client(app) as client:
        assert client.get("/health").json()["access"] == "open"
        assert client.get("/stats").status_code == 200  # no keys: everything, on loopback
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.2.3", 5000)) as remote:
        assert remote.get("/search", params={"q": "drill"}).status_code == 403
    # a page elsewhere reaching a loopback server through DNS rebinding names another host
    with TestClient(app, base_url="http://evil.example", client=("127.0.0.1", 5000)) as rebound:
        assert rebound.get("/stats").status_code == 403


def test_keys_created_or_revoked_reach_every_worker(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "RELOAD_S", 0.0)  # the next request sees the table as it is
    other = Engine(engine.settings)  # a second worker over the same store
    try:
        with local_client(create_app(engine)) as one, local_client(create_app(other)) as two:
            assert two.get("/health").json()["access"] == "open"
            key, record = mint("ops", Scope.ADMIN, now_ms=0)
            engine.store.access.add_key(record)
            assert two.get("/health").json()["access"] == "keys"
            assert two.get("/stats").status_code == 401
            assert two.get("/stats", headers=bearer(key)).status_code == 200
            assert engine.store.access.revoke_key("ops", 1)
            assert two.get("/stats", headers=bearer(key)).status_code == 401
            assert one.get("/stats", headers=bearer(key)).status_code == 401
            assert two.get("/health").json()["access"] == "keys"  # revoked is not open again
    finally:
        other.close()


def test_keys_are_stored_hashed_and_expire(engine: Engine) -> None:
    key, record = mint("soon", Scope.SEARCH, now_ms=0, expires_days=1)
    engine.store.access.add_key(record)
    stored = engine.store.access.api_keys()
    assert len(stored) == 1 and key not in json.dumps([k.__dict__ for k in stored])
    assert stored[0].digest == keys.digest(key) and key.startswith(stored[0].prefix + "_")
    ring = keys.KeyRing(engine.store)
    assert ring.check(key, now_ms=1000) is not None
    assert ring.check(key, now_ms=86_400_000) is None  # expired
    assert ring.check(key[:-1] + ("A" if key[-1] != "A" else "B"), now_ms=1000) is None


def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_per_key="3/minute")
    engine = Engine(settings)
    try:
        key, record = mint("busy", Scope.SEARCH, now_ms=0)
        engine.store.access.add_key(record)
        with local_client(create_app(engine), raise_server_exceptions=False) as client:
            statuses = [client.get("/trending", headers=bearer(key)).status_code for _ in range(4)]
            assert statuses[:3] != [429] * 3 and statuses[3] == 429
            limited = client.get("/trending", headers=bearer(key))
            assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
            assert limited.json()["error"]["type"] == "rate_limited"
    finally:
        engine.close()


def test_remote_clients_are_limited_per_address(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path, rate_limit_per_client="2/minute"))
    try:
        key, record = mint("page", Scope.SEARCH, now_ms=0)
        engine.store.access.add_key(record)
        app = create_app(engine)
        with TestClient(app, client=("10.0.0.7", 1)) as shopper:
            codes = [shopper.get("/trending", headers=bearer(key)).status_code for _ in range(3)]
        assert codes[-1] == 429
        with TestClient(app, client=("10.0.0.8", 1)) as neighbour:  # another address
            assert neighbour.get("/trending", headers=bearer(key)).status_code != 429
    finally:
        engine.close()


def test_a_search_key_posts_shopper_events_but_not_bulk(
    engine: Engine, keyed: dict[Scope, str]
) -> None:
    def events(n: int) -> dict[str, Any]:
        return {"events": [{"user_id": "s", "item_id": "i1", "type": "view", "timestamp": k}
                           for k in range(n)]}  # fmt: skip

    with local_client(create_app(engine)) as client:
        page = bearer(keyed[Scope.SEARCH])
        assert client.post("/events", json=events(3), headers=page).status_code == 200
        too_many = client.post("/events", json=events(SEARCH_EVENTS_MAX + 1), headers=page)
        assert too_many.status_code == 403 and "ingest" in too_many.json()["error"]["message"]
        bulk = client.post("/events", json=events(SEARCH_EVENTS_MAX + 1),
                           headers=bearer(keyed[Scope.INGEST]))  # fmt: skip
        assert bulk.status_code == 200


def test_history_reasons_need_the_shoppers_token(
    engine: Engine, keyed: dict[Scope, str], tmp_path: Path
) -> None:
    from shelf.cli import train_from_store

    train_from_store(engine, model="cooc")
    engine.start_services(search=False)
    path = "/users/u1/recommendations"
    with local_client(create_app(engine)) as client:
        bare = client.get(path, headers=bearer(keyed[Scope.SEARCH])).json()
        assert bare["source"] == "personal" and bare["items"]
        assert {i["reason"] for i in bare["items"]} == {"picked for you"}
        token = mint_shopper_token(SECRET, "u1")
        shown = client.get(
            path, headers={**bearer(keyed[Scope.SEARCH]), SHOPPER_TOKEN_HEADER: token}
        ).json()
        assert any(i["reason"].startswith("because you viewed") for i in shown["items"])
        other = mint_shopper_token(SECRET, "u2")  # another shopper's token proves nothing here
        hidden = client.get(
            path, headers={**bearer(keyed[Scope.SEARCH]), SHOPPER_TOKEN_HEADER: other}
        ).json()
        assert {i["reason"] for i in hidden["items"]} == {"picked for you"}
        admin = client.get(path, headers=bearer(keyed[Scope.ADMIN])).json()
        assert admin["items"] == shown["items"]
        expired = mint_shopper_token(SECRET, "u1", ttl_s=-10)
        late = client.get(
            path, headers={**bearer(keyed[Scope.SEARCH]), SHOPPER_TOKEN_HEADER: expired}
        ).json()
        assert {i["reason"] for i in late["items"]} == {"picked for you"}


def test_admin_pages_sign_in_with_a_cookie_for_reads_only(
    engine: Engine, keyed: dict[Scope, str]
) -> None:
    with local_client(create_app(engine), raise_server_exceptions=False) as client:
        page = client.get("/admin", headers={"accept": "text/html"})
        assert page.status_code == 401 and 'id="login"' in page.text
        assert client.post("/session", json={"key": "shelf_admin_wrong_x"}).status_code == 401
        assert client.post("/session", json={"key": keyed[Scope.ADMIN]}).status_code == 200
        cookie = client.cookies.get(auth.COOKIE)
        assert cookie == keyed[Scope.ADMIN]
        assert client.get("/admin", headers={"accept": "text/html"}).status_code == 200
        assert client.get("/stats").status_code == 200
        assert client.get("/docs").status_code == 200
        # a cookie never authorises a write: a page elsewhere cannot post as the admin
        assert (
            client.post("/items", json={"items": [{"item_id": "z", "title": "z"}]}).status_code
            == 401
        )


def test_pages_carry_security_headers_and_docs_need_no_cdn(
    engine: Engine, keyed: dict[Scope, str]
) -> None:
    with local_client(create_app(engine)) as client:
        page = client.get("/")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text  # everything runs from /static/app.js
        docs = client.get("/docs", headers=bearer(keyed[Scope.ADMIN]))
        assert docs.status_code == 200 and "cdn." not in docs.text
        asset = re.search(r'src="(/static-offline-docs/[^"]+\.js)"', docs.text)
        assert asset and client.get(asset.group(1)).status_code == 200


def test_cors_allows_only_the_listed_origins(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path, cors_origins=["https://shop.example"]))
    try:
        with local_client(create_app(engine)) as client:
            ok = client.get("/health", headers={"origin": "https://shop.example"})
            assert ok.headers["access-control-allow-origin"] == "https://shop.example"
            other = client.get("/health", headers={"origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        engine.close()


def test_keys_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = runner.invoke(cli_app, [*data, "keys", "create", "--scope", "ingest", "--name", "etl"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("shelf_ingest_")
    listed = runner.invoke(cli_app, [*data, "keys", "list"])
    rows = json.loads(listed.output)
    assert [(r["name"], r["scope"]) for r in rows] == [("etl", "ingest")]
    assert key not in listed.output and "digest" not in rows[0]
    again = runner.invoke(cli_app, [*data, "keys", "create", "--scope", "ingest", "--name", "etl"])
    assert again.exit_code != 0
    assert runner.invoke(cli_app, [*data, "keys", "revoke", "etl"]).exit_code == 0
    assert runner.invoke(cli_app, [*data, "keys", "revoke", "etl"]).exit_code == 1


def test_serving_a_network_without_keys_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2 and "without API keys" in result.output


def test_http_key_routes(engine: Engine, keyed: dict[Scope, str]) -> None:
    with local_client(create_app(engine)) as client:
        admin = bearer(keyed[Scope.ADMIN])
        made = client.post("/keys", json={"name": "web", "scope": "search"}, headers=admin)
        assert made.status_code == 200
        new_key = made.json()["key"]
        names = [k["name"] for k in client.get("/keys", headers=admin).json()["keys"]]
        assert "web" in names and new_key not in client.get("/keys", headers=admin).text
        assert client.delete("/keys/web", headers=admin).status_code == 200
        assert client.delete("/keys/web", headers=admin).status_code == 404
        for days in (True, "7", 0):  # a JSON boolean is not a number of days
            bad = {"name": "odd", "scope": "search", "expires_days": days}
            assert client.post("/keys", json=bad, headers=admin).status_code == 422
        week = {"name": "week", "scope": "search", "expires_days": 7}
        assert client.post("/keys", json=week, headers=admin).json()["info"]["expires_ms"]


def test_the_access_log_names_routes_not_paths(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="shelf.access")
    with local_client(create_app(engine)) as client:
        client.get("/users/alice-raw-id/recommendations")
    lines = [r.getMessage() for r in caplog.records if r.name == "shelf.access"]
    assert lines and all("alice-raw-id" not in line for line in lines)
    assert any("/users/{user_id}/recommendations" in line for line in lines)


@pytest.mark.integration
def test_a_live_server_with_keys_refuses_writes_without_one(tmp_path: Path) -> None:
    """The real socket path: `shelf serve` on a store with keys answers 401 to an anonymous
    write and admits the ingest key."""
    from .test_api import ITEMS, live_server

    data = tmp_path / "live"
    data.mkdir()
    engine = Engine(Settings(data_dir=data))
    key, record = mint("etl", Scope.INGEST, now_ms=0)
    engine.store.access.add_key(record)
    engine.close()
    with live_server(data) as base, httpx.Client(base_url=base, timeout=5, trust_env=False) as http:
        assert http.get("/health").json()["access"] == "keys"
        assert http.post("/items", json={"items": ITEMS}).status_code == 401
        assert http.post("/users", json={}).status_code in (401, 404, 405)
        assert http.get("/stats").status_code == 401
        ok = http.post("/items", json={"items": ITEMS}, headers=bearer(key))
        assert ok.status_code == 200 and ok.json()["upserted"] == len(ITEMS)
