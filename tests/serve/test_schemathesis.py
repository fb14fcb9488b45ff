"""Property-based API tests: schemathesis generates requests from the OpenAPI schema.

Whatever it sends, the service must answer with a documented status and never a 500. The
store has API keys, so every call carries the admin key and reaches every route.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis
import schemathesis
from schemathesis.checks import positive_data_acceptance

from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app
from shelf.serve.keys import Scope, mint


def _engine_with_services() -> Engine:
    """A small catalog with a search index and a trained model, so every route is live."""
    from shelf.catalog import Event, Item
    from shelf.cli import train_from_store

    engine = Engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="shelf-schemathesis-"))))
    words = ["drill", "paint", "lamp"]
    engine.add_items(
        [
            Item(item_id=str(k), title=f"{words[k % 3]} {k}", brand=f"B{k % 2}", price=k)
            for k in range(12)
        ]
    )
    engine.add_events(
        [
            Event(user_id=f"u{u}", item_id=str((u + s) % 12), type="purchase", timestamp=u * 9 + s)
            for u in range(20)
            for s in range(4)
        ]
    )
    train_from_store(engine, max_epochs=1)
    engine.start_services()
    return engine


ENGINE = _engine_with_services()
ADMIN_KEY, _record = mint("fuzz-admin", Scope.ADMIN, now_ms=0)
ENGINE.store.access.add_key(_record)
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
APP = create_app(ENGINE)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, headers=HEADERS)


@schema.parametrize()
@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_api_never_fails_on_generated_requests(case: schemathesis.Case) -> None:
    excluded = []
    if case.method == "POST" or case.path == "/search":
        # Cross-field rules (a view event needs an item_id, a search event a query) and
        # whitespace-only ids, and price_min <= price_max in /search, are not expressible in the
        # schema: such schema-valid requests are rightly refused with 422, so only this one
        # check is skipped there.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=HEADERS, excluded_checks=excluded)
