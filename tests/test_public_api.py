"""The public names of each package: changing one is a decision, so this list changes with it."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "shelf": ["__version__"],
    "shelf.catalog": [
        "CATEGORY_SEPARATORS", "MAX_ID_LENGTH", "AttributeValue", "Event", "EventType", "Item",
        "User", "parse_category_path", "parse_event", "parse_item", "recommender_text",
        "search_text", "split_category_path", "to_utc",
    ],
    "shelf.formats": [
        "FORMATS", "FileFormat", "count_records", "detect_format", "html_to_text",
        "read_google_merchant", "read_item_texts", "read_products", "read_qrels", "read_queries",
        "read_records", "read_sequences", "read_shopify", "read_text_items",
    ],
    "shelf.synthetic": [
        "EventLog", "JudgedQueries", "LogPlan", "QuerySpec", "Shopper", "draw_shoppers",
        "event_chunk", "generate_behaviour", "generate_catalog", "generate_judged_queries",
        "iter_event_chunks", "plan_event_log", "vocabulary", "write_event_log",
    ],
    "shelf.store": ["EventColumns", "SQLStore", "Store", "StoredEvent", "open_store"],
    "shelf.ingest": ["ImportReport", "Pseudonymizer", "import_events", "import_items",
                     "store_events"],
    "shelf.text": ["Analyzer", "CachedEncoder", "Encoder", "MiniLMEncoder", "load_encoder"],
    "shelf.search": ["SearchConfig", "SearchFilters", "SearchHit", "SearchRequest",
                     "SearchResponse", "SearchService", "SortOrder"],
    "shelf.recommend": [
        "RecList", "RecommendService", "Recommendation", "Recommender", "Results",
        "SequenceData", "Validation", "build", "encode_sequences", "known_models", "load",
    ],
    "shelf.engine": ["RECS_ARTIFACT", "Engine"],
    "shelf.serve": ["create_app"],
    "shelf.client": [
        "ROUTES", "APIError", "AsyncClient", "AuthenticationError", "BadRequest", "Call",
        "Client", "Erasure", "Erasures", "ErrorDetail", "Event", "EventsAck", "Health", "Item",
        "ItemDeleted", "ItemPage", "ItemsAck", "KeyCreated", "KeyInfo", "NotFound",
        "PermissionDenied", "RateLimited", "RecItem", "RecList", "SearchHit", "SearchResponse",
        "ServerError", "ShelfError", "Timeout", "TransportError", "Unavailable",
        "UnexpectedResponse", "UserDeleted", "ValidationError",
    ],
    "shelf.cli": ["app", "main", "train_from_store"],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package} lists names it does not have: {missing}"


def test_importing_the_registry_loads_no_torch() -> None:
    """Model modules load when first named, so a CLI or server that only needs counts models
    starts without torch (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = "import sys, shelf.recommend.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
