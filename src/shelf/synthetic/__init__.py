"""A seeded synthetic shop for tests, demos and benchmarks: a believable catalog in English or
Chinese and judged queries in the Home Depot grades. The same seed gives the same output;
nothing is read from the network or from outside data."""

from shelf.synthetic.catalog import generate_catalog
from shelf.synthetic.queries import JudgedQueries, QuerySpec, generate_judged_queries
from shelf.synthetic.shop import vocabulary

__all__ = [
    "JudgedQueries",
    "QuerySpec",
    "generate_catalog",
    "generate_judged_queries",
    "vocabulary",
]
