"""The app factory of one serving worker: ``shelf serve --workers N`` starts N processes, each
building its own engine (search index, recommenders) from the settings the parent put in its
environment, and all sharing the store. See ``Engine.sync_live`` for how a write made through
one worker reaches the others.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shelf.config import load_settings
from shelf.engine import Engine
from shelf.serve.app import create_app

log = logging.getLogger("shelf.serve")


class NoDelayHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with Nagle's algorithm off on every connection.

    With ``workers > 1`` uvicorn binds the listening socket itself as ``socket(family, type)``,
    protocol number 0, and asyncio only sets TCP_NODELAY on sockets whose protocol is
    IPPROTO_TCP. Every keep-alive response then waited for the client's delayed ACK: 40 ms
    added to each request (measured by hand with an httpx client: a search took 60 ms over a
    reused connection, 20 ms over a fresh one).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


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


def freeze_heap() -> None:
    """Move every object alive now (the engine: catalog, indexes, models) out of the garbage
    collector's reach.

    A serving process holds hundreds of thousands of long-lived objects (676,560 with the
    Home Depot search service). Requests allocate enough that the collector now and then runs
    a full collection over all of them: a stall of hundreds of milliseconds for whichever
    requests are waiting (measured: a full collection of the demo engine's 300,920 objects
    took 214 ms in-process; under load, wrk saw 600 ms answers in bursts). Frozen objects are
    still freed when their last reference goes; only reference cycles among them would stay.
    """
    gc.collect()
    gc.freeze()


def app() -> FastAPI:
    """Build one worker's engine and app (called by uvicorn in the worker process)."""
    serving_threads()
    settings = load_settings()
    engine = Engine(settings)
    try:
        engine.start_services()
        engine.warm_up()
    except BaseException:
        engine.close()
        raise
    freeze_heap()
    log.info("worker ready: %s items indexed", len(engine.search or []))
    return create_app(engine, owns_engine=True)
