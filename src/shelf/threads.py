"""Thread caps for the numeric libraries: one place that knows how to ask numpy's BLAS,
faiss (OpenMP) and torch for at most ``n`` threads each."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def cap_threads(n: int) -> None:
    """At most ``n`` threads for numpy's BLAS, faiss and torch (those installed).

    Latency is per request and parallelism comes from processes, so more threads per process
    only contend for the cores.
    """
    threadpool_limits(n, user_api="blas")
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:  # pragma: no cover - search extra not installed
        pass
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover - recommend extra not installed
        pass


def one_faiss_thread() -> None:
    """One OpenMP thread for faiss in the calling thread: OpenMP's count is per thread, so a
    new thread would otherwise search with every core's worth (for one query, all but one
    wait)."""
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - search extra not installed
        pass
