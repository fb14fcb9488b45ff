"""The app factory of one serving worker: ``shelf serve --workers N`` starts N processes, each
building its own engine (search index, recommenders) from the settings the parent put in its
environment, and all sharing the store. See ``Engine.sync_live`` for how a write made through
one worker reaches the others.
"""

from __future__ import annotations

import gc
import logging
import os
import sys

from fastapi import FastAPI

from shelf.config import load_settings
from shelf.engine import Engine
from shelf.serve.app import create_app
from shelf.threads import cap_threads

log = logging.getLogger("shelf.serve")

SWITCH_INTERVAL_S = 0.0005  # how long a thread may hold the interpreter lock when another waits


def serving_threads() -> None:
    """One compute thread per serving process, and no spinning.

    A request is a few milliseconds of work; parallelism comes from workers, one per core, so
    faiss, torch, onnxruntime and the BLAS behind numpy get one thread each and OpenMP
    threads sleep instead of spin-waiting between requests (they would take CPU from the other
    worker). numpy is loaded before this runs, so its BLAS is capped through threadpoolctl:
    the environment variable would come too late.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # the event loop answers repeats while a new query is ranked on a thread, and waits for
    # the interpreter lock up to the switch interval each time (docs/design.md)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    cap_threads(1)


def ready_to_serve(engine: Engine) -> None:
    """The last steps before a process takes requests: exercise search and recommendations
    once (``Engine.warm_up``: what they build on first use is built now, not in a shopper's
    request), then move every object alive (the engine: catalog, indexes, models) out of the
    garbage collector's reach.

    A serving process holds hundreds of thousands of long-lived objects, and a full collection
    over all of them stalls whichever requests wait (docs/design.md). Frozen objects are still
    freed when their last reference goes; only reference cycles among them would stay.
    """
    engine.warm_up()
    gc.collect()
    gc.freeze()


def app() -> FastAPI:
    """Build one worker's engine and app (called by uvicorn in the worker process)."""
    os.umask(0o077)  # as the CLI: every file written is private
    serving_threads()
    settings = load_settings()
    engine = Engine(settings)
    try:
        engine.start_services()
        ready_to_serve(engine)
    except BaseException:
        engine.close()
        raise
    log.info("worker ready: %s items indexed", len(engine.search or []))
    return create_app(engine, owns_engine=True)
