"""What the compute routes share: the engine, brought up to date with the other workers.

``/search`` and the recommendation routes are ``async`` and compute on the event loop: their
work is CPU-bound Python, so a thread pool gives a worker no parallelism (the GIL) and costs
each request a handoff (docs/design.md). Parallelism comes from the worker processes.

What may block for long stays off the loop: indexing items that other workers wrote (the text
encoder runs on each new item) goes to the thread pool, at most once per ``ITEM_SYNC_SECONDS``.
The event tail is applied inline; it is a bounded read of the store.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shelf.engine import Engine


async def caught_up(request: Request) -> Engine:
    """The app's engine, after indexing other workers' new items if a look is due."""
    engine: Engine = request.app.state.engine
    if engine.items_sync_due():
        await run_in_threadpool(engine.sync_items)
    return engine
