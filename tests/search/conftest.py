"""Small in-memory catalogs and a deterministic fake encoder for the search tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest

from shelf.catalog import Item
from shelf.search.config import SearchConfig
from shelf.search.schemas import SearchRequest, SearchResponse
from shelf.search.service import SearchService
from shelf.text.encoder import l2_normalise
from shelf.text.tokenize import Analyzer


class HashingEncoder:
    """Bag of stemmed words hashed into 1024 dimensions: texts sharing words are similar."""

    name = "hashing"
    dim = 1024

    def __init__(self) -> None:
        self.analyzer = Analyzer()

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in self.analyzer.terms(text):
                h = int(hashlib.md5(term.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
        return l2_normalise(out)


# judged queries over CATALOG (relevance 1 = irrelevant .. 3 = exact), for training tests
QUERIES = {
    "q1": "refrigerator",
    "q2": "cordless drill",
    "q3": "door hinge",
    "q4": "samsung tv",
    "q5": "leather sofa",
    "q6": "drill driver",
}
QRELS = {
    "q1": {"1": 3.0, "2": 2.67},
    "q2": {"3": 3.0, "4": 2.33, "5": 2.0},
    "q3": {"7": 3.0, "8": 1.33},
    "q4": {"9": 3.0, "1": 1.0},
    "q5": {"6": 3.0, "10": 2.0},
    "q6": {"4": 3.0, "3": 2.0},
}


CATALOG = [
    (
        "1",
        "Samsung 36 in. French Door Refrigerator",
        "Samsung",
        1999.0,
        "Appliances > Refrigerators",
        {"color": "Stainless"},
    ),
    (
        "2",
        "LG Top Freezer Refrigerator",
        "LG",
        899.0,
        "Appliances > Refrigerators",
        {"color": "White"},
    ),
    ("3", "DEWALT 20V MAX Cordless Drill", "DEWALT", 99.0, "Tools > Drills", {"color": "Yellow"}),
    ("4", "Ryobi 18V Cordless Drill Driver", "Ryobi", 79.0, "Tools > Drills", {"color": "Green"}),
    (
        "5",
        "Milwaukee M18 Cordless Hammer Drill",
        "Milwaukee",
        199.0,
        "Tools > Drills",
        {"color": "Red"},
    ),
    (
        "6",
        "Red Leather Sofa",
        "Ashley",
        899.0,
        "Furniture > Sofas",
        {"color": "Red", "material": "Leather"},
    ),
    ("7", "Everbilt 3 in. Door Hinge", "Everbilt", 3.5, "Hardware > Hinges", {}),
    ("8", "Everbilt Door Stop", "Everbilt", 2.0, "Hardware", {}),
    ("9", "Samsung 55 in. 4K Smart TV", "Samsung", 479.0, "Electronics > TVs", {}),
    (
        "10",
        "Gray Fabric Couch",
        "Ashley",
        650.0,
        "Furniture > Sofas",
        {"color": "Gray", "material": "Fabric"},
    ),
]


def make_items() -> list[Item]:
    return [
        Item(
            item_id=i,
            title=t,
            brand=b,
            price=p,
            category=c,
            attributes=a,
            available=i != "5",
            created_at=1_700_000_000 + int(i) * 86_400,
        )
        for i, t, b, p, c, a in CATALOG
    ]


@pytest.fixture
def items() -> list[Item]:
    return make_items()


@pytest.fixture
def service(items: list[Item]) -> Iterator[SearchService]:
    config = SearchConfig(k_lexical=50, k_dense=50, synonyms=[["sofa", "couch"]])
    svc = SearchService.build(items, config=config, encoder=HashingEncoder(), show_progress=False)
    assert svc.index.speller is not None
    svc.index.speller.min_count = 1  # a tiny catalog: every word counts as known vocabulary
    svc.index.speller._dirty = True
    yield svc


def ask(service: SearchService, query: str, **fields: object) -> SearchResponse:
    """``service.search`` of a request made from ``query`` and ``fields``."""
    return service.search(SearchRequest.checked(query=query, **fields))
