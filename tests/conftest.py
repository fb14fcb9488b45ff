"""Shared fixtures: an isolated environment, and the store on every backend.

The store fixtures are parametrised over SQLite and PostgreSQL so that one contract suite runs
against both. PostgreSQL comes from ``SHELF_TEST_POSTGRES_URL`` (``.ci/postgres.sh`` starts one
and exports it). Without it the PostgreSQL cases are skipped, except under CI (``CI`` set), where
they fail: CI must prove both backends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shelf.store import SQLStore, open_store
from shelf.store.schema import metadata

POSTGRES_ENV = "SHELF_TEST_POSTGRES_URL"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SHELF_* setting of the developer's shell leaks into a test (the test URL stays)."""
    for name in list(os.environ):
        if name.startswith("SHELF_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)


def postgres_url() -> str:
    """The test PostgreSQL URL; skips the test (fails it under CI) when there is none."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(
            f"CI is set but {POSTGRES_ENV} is not: CI must run the store contract on PostgreSQL "
            "(source .ci/postgres.sh and call start_postgres first)."
        )
    pytest.skip(
        f"{POSTGRES_ENV} is not set: PostgreSQL cases skipped "
        "(start one with `source .ci/postgres.sh; start_postgres`)."
    )


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[sa.Engine]:
    """One engine for cleaning the test database; the schema is rebuilt once per session."""
    engine = sa.create_engine(postgres_url())
    metadata.drop_all(engine)  # tables of an older schema would survive create_all
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def fresh_postgres(engine: sa.Engine) -> None:
    """Empty every shelf table (the schema was rebuilt when the session started).

    DELETE, not TRUNCATE: on tables this small it is a hundred times faster.
    """
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'shelf.db'}"
    url = postgres_url()
    fresh_postgres(request.getfixturevalue("_postgres_engine"))
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SQLStore]:
    """An empty, open store on each backend; closed after the test."""
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLStore]:
    """An empty SQLite store in the test's directory (for tests that read the file itself)."""
    opened = open_store(f"sqlite:///{tmp_path / 'shelf.db'}")
    yield opened
    opened.close()


def local_client(app: Any, **options: Any) -> TestClient:
    """A test client that calls from and to loopback, as a local shopper or script would
    (shelf without API keys serves loopback only)."""
    return TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000), **options)
