"""A seeded synthetic shop for tests, demos and benchmarks: a believable catalog in English or
Chinese, shoppers' events with learnable tastes and complements, judged queries in the Home
Depot grades, and large Parquet event logs written in flat memory. The same seed gives the
same output; nothing is read from the network or from outside data."""

from shelf.synthetic.behaviour import generate_behaviour
from shelf.synthetic.catalog import generate_catalog
from shelf.synthetic.eventlog import (
    EventLog,
    LogPlan,
    event_chunk,
    iter_event_chunks,
    plan_event_log,
    write_event_log,
)
from shelf.synthetic.queries import JudgedQueries, QuerySpec, generate_judged_queries
from shelf.synthetic.shop import vocabulary
from shelf.synthetic.shoppers import Shopper, draw_shoppers

__all__ = [
    "EventLog",
    "JudgedQueries",
    "LogPlan",
    "QuerySpec",
    "Shopper",
    "draw_shoppers",
    "event_chunk",
    "generate_behaviour",
    "generate_catalog",
    "generate_judged_queries",
    "iter_event_chunks",
    "plan_event_log",
    "vocabulary",
    "write_event_log",
]
