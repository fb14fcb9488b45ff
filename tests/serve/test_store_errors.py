"""A store failure is answered with a fixed message; its SQL and parameters go to the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app
from shelf.serve.errors import STORE_FAILED

from ..conftest import local_client
from .test_api import ITEMS, error_of


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine(Settings(data_dir=tmp_path / "data"))
    yield opened
    opened.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with local_client(create_app(engine), raise_server_exceptions=False) as test_client:
        assert test_client.post("/items", json={"items": ITEMS}).status_code == 200
        yield test_client


def test_a_store_failure_answers_a_fixed_message_and_logs_the_sql(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.store.engine.begin() as conn:  # the table goes: every write of items fails
        conn.execute(sa.text("ALTER TABLE items RENAME TO items_elsewhere"))
    secret = "Private title of another client"
    with caplog.at_level(logging.ERROR, logger="shelf.serve"):
        post = client.post("/items", json={"items": [{"item_id": "n1", "title": secret}]})
        read = client.get("/items/d1")
    for response in (post, read):
        error = error_of(response, 503, "unavailable")
        assert error["message"] == STORE_FAILED and error["details"] == []
        for leak in ("INSERT", "SELECT", "items", "SQL", secret, "sqlite"):
            assert leak not in response.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "INSERT INTO items" in logged and secret in logged  # for whoever runs the server
