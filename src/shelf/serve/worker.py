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
    # /search answers repeats on the event loop while a new query is ranked on a thread: the
    # loop waits for the interpreter lock up to the switch interval each time it needs it.
    # 0.5 ms instead of 5: Home Depot, Zipf queries, wrk at concurrency 3 / 8, two interleaved
    # runs each (benchmarks/results/route-ab/search-switch-*.json): 365-380 / 573-754 QPS against
    # 234-343 / 550-552, p99 35-36 / 125-127 ms against 38-50 / 125-163.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - search extra not installed
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - recommend extra not installed
        pass


def ready_to_serve(engine: Engine) -> None:
    """The last steps before a process takes requests: exercise search and recommendations
    once (``Engine.warm_up``: what they build on first use is built now, not in a shopper's
    request), then move every object alive (the engine: catalog, indexes, models) out of the
    garbage collector's reach.

    A serving process holds hundreds of thousands of long-lived objects, and requests allocate
    enough that the collector now and then runs a full collection over all of them, stalling
    whichever requests wait (measured once by hand, script not kept: a full collection of the
    demo engine's 300,920 objects took 214 ms). Frozen objects are still freed when their last
    reference goes; only reference cycles among them would stay.
    """
    engine.warm_up()
    gc.collect()
    gc.freeze()


def app() -> FastAPI:
    """Build one worker's engine and app (called by uvicorn in the worker process)."""
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
