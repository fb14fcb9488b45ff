"""Product search: lexical and semantic retrieval, query understanding, learned re-ranking.

The stages, one module each: ``understand`` (price, brand, attributes, spelling, synonyms),
``index`` (what a catalog is indexed into), ``candidates`` and ``vectors`` (retrieval and
features), ``rank`` (rankers), ``explain`` (reasons), ``filters`` (filters, facets, sorting);
``service`` is the facade, ``schemas`` what it is asked and answers, ``persist`` the index
on disk.
"""

from shelf.search.config import SearchConfig
from shelf.search.filters import SearchFilters, SortOrder
from shelf.search.schemas import SearchHit, SearchRequest, SearchResponse
from shelf.search.service import SearchService

__all__ = [
    "SearchConfig",
    "SearchFilters",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "SearchService",
    "SortOrder",
]
