"""One English and one Chinese shop with a few months of shoppers, shared by the tests.

Built once per session: the behaviour tests read the same events, as a model would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shelf.synthetic import generate_behaviour, generate_catalog

START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 60
USERS = 500
ITEMS = 2000


@pytest.fixture(scope="session")
def catalog_en() -> list[dict[str, Any]]:
    return generate_catalog(ITEMS, lang="en", seed=7)


@pytest.fixture(scope="session")
def catalog_zh() -> list[dict[str, Any]]:
    return generate_catalog(ITEMS, lang="zh", seed=7)


@pytest.fixture(scope="session")
def events_en(catalog_en: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(generate_behaviour(catalog_en, USERS, seed=7, start=START, days=DAYS))


@pytest.fixture(scope="session")
def events_zh(catalog_zh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(generate_behaviour(catalog_zh, USERS, seed=7, start=START, days=DAYS))
