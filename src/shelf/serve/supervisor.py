"""``shelf serve --workers N``: N worker processes, each with a listening socket of its own on
the same address (``SO_REUSEPORT``), watched by the parent.

Why not uvicorn's ``workers=N``: with one shared socket, a worker's event loop accepts every
connection waiting when it wakes up, so a client that opens its keep-alive connections at once
often had all of them on one worker (docs/design.md). With a socket per worker, the kernel
spreads new connections over the workers by a hash of the address pair.

The parent restarts a worker that dies (a crash, the out-of-memory killer) and stops
everything on SIGINT or SIGTERM. If workers keep dying (:data:`MAX_DEATHS` within
:data:`DEATH_WINDOW_S`, e.g. a broken setting that fails every start), it gives up and exits
with status 1 instead of restarting forever.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections import deque
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("shelf.serve")
MAX_DEATHS = 5
DEATH_WINDOW_S = 120.0
STOP_GRACE_S = 30.0  # how long a worker may take to finish its requests on shutdown


def bind_shared(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other processes may bind too
    (``SO_REUSEPORT``): the kernel then spreads incoming connections over all of them.

    Made from ``getaddrinfo``, the socket's protocol is IPPROTO_TCP, so the event loop turns
    Nagle's algorithm off on every connection it accepts (uvicorn's own multi-worker socket
    had protocol 0 and needed a protocol subclass for that, gone with it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def run_worker(host: str, port: int) -> None:
    """One worker process: its own socket, then uvicorn over the app factory in
    :mod:`shelf.serve.worker` (settings come from the environment the parent set)."""
    import uvicorn

    sock = bind_shared(host, port)
    config = uvicorn.Config(
        "shelf.serve.worker:app",
        factory=True,
        log_level="info",
        access_log=False,  # every request is logged as one JSON line (shelf.access)
    )
    uvicorn.Server(config).run(sockets=[sock])


def supervise(workers: int, host: str, port: int) -> int:
    """Run ``workers`` worker processes until SIGINT/SIGTERM; returns the exit status."""
    bind_shared(host, port).close()  # fails here, once, if the address is taken
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def start(k: int) -> BaseProcess:
        process = context.Process(target=run_worker, args=(host, port), name=f"shelf-worker-{k}")
        process.start()
        return process

    processes = [start(k) for k in range(workers)]
    deaths: deque[float] = deque()
    status = 0
    try:
        while not stop.wait(0.5):
            for k, process in enumerate(processes):
                if process.is_alive():
                    continue
                now = time.monotonic()
                deaths.append(now)
                while deaths and deaths[0] < now - DEATH_WINDOW_S:
                    deaths.popleft()
                if len(deaths) >= MAX_DEATHS:
                    log.error(
                        "%d worker deaths within %.0f s (last exit code %s): giving up",
                        len(deaths),
                        DEATH_WINDOW_S,
                        process.exitcode,
                    )
                    status = 1
                    stop.set()
                    break
                log.warning("worker %d exited (code %s); starting another", k, process.exitcode)
                processes[k] = start(k)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
