"""A seeded synthetic shop for tests, demos and benchmarks: a believable catalog in English or
Chinese, shoppers' events with learnable tastes and complements, and judged queries in the
Home Depot grades. The same seed gives the same output; nothing is read from the network or
from outside data."""

from shelf.synthetic.behaviour import generate_behaviour
from shelf.synthetic.catalog import generate_catalog
from shelf.synthetic.queries import JudgedQueries, QuerySpec, generate_judged_queries
from shelf.synthetic.shop import vocabulary
from shelf.synthetic.shoppers import Shopper, draw_shoppers

__all__ = [
    "JudgedQueries",
    "QuerySpec",
    "Shopper",
    "draw_shoppers",
    "generate_behaviour",
    "generate_catalog",
    "generate_judged_queries",
    "vocabulary",
]
