"""The app factory of one serving worker: ``shelf serve --workers N`` starts N processes, each
building its own engine (search index, recommenders) from the settings the parent put in its
environment, and all sharing the store. See ``Engine.sync_live`` for how a write made through
one worker reaches the others.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from shelf.config import load_settings
from shelf.engine import Engine
from shelf.serve.app import create_app

log = logging.getLogger("shelf.serve")


def app() -> FastAPI:
    """Build one worker's engine and app (called by uvicorn in the worker process)."""
    settings = load_settings()
    engine = Engine(settings)
    try:
        engine.start_services()
    except BaseException:
        engine.close()
        raise
    log.info("worker ready: %s items indexed", len(engine.search or []))
    return create_app(engine, owns_engine=True)
