"""A serving process's thread settings: one BLAS thread, and a short interpreter-lock switch
interval so that the event loop is not kept waiting behind a ranking thread."""

from __future__ import annotations

import sys

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from shelf.serve.worker import SWITCH_INTERVAL_S, serving_threads


def test_serving_threads_caps_blas_and_shortens_the_switch_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss
    import torch

    before = sys.getswitchinterval()
    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # setdefault would otherwise leak into os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    with threadpool_limits(limits=None):  # restores the test process's BLAS threads after
        try:
            serving_threads()
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
            blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
            assert blas and all(p["num_threads"] == 1 for p in blas)
            assert torch.get_num_threads() == 1 and faiss.omp_get_max_threads() == 1
        finally:
            sys.setswitchinterval(before)
            torch.set_num_threads(torch_threads)
            faiss.omp_set_num_threads(faiss_threads)
