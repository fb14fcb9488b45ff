"""One English and one Chinese shop, shared by the tests."""

from __future__ import annotations

from typing import Any

import pytest

from shelf.synthetic import generate_catalog

ITEMS = 2000


@pytest.fixture(scope="session")
def catalog_en() -> list[dict[str, Any]]:
    return generate_catalog(ITEMS, lang="en", seed=7)


@pytest.fixture(scope="session")
def catalog_zh() -> list[dict[str, Any]]:
    return generate_catalog(ITEMS, lang="zh", seed=7)
