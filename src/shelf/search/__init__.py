"""Product search: lexical and semantic retrieval, query understanding, learned re-ranking."""

from shelf.search.filters import SearchFilters, SortOrder
from shelf.search.service import SearchConfig, SearchHit, SearchResponse, SearchService

__all__ = [
    "SearchConfig",
    "SearchFilters",
    "SearchHit",
    "SearchResponse",
    "SearchService",
    "SortOrder",
]
