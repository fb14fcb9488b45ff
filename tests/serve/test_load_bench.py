"""The load benchmark's query mix: in the distinct mix no query is asked twice in a run, even
though wrk is handed more requests than it sends."""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def load_bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("load_bench", None)
    return importlib.import_module("load_bench")


def test_distinct_queries_follow_the_ones_sent_and_say_when_they_wrap(load_bench: Any) -> None:
    mix = load_bench.QueryMix([f"q{i}" for i in range(10)], "distinct", 1.0)
    rng = random.Random(0)
    mark = mix.mark()
    drawn = [mix.draw(rng) for _ in range(12)]
    assert len(set(drawn)) == 10 and mix.wrapped
    mix.sent(mark, 3)  # only the first 3 went out
    assert mix.draw(rng) == drawn[3]
    assert not mix.wrapped
    for _ in range(6):
        mix.draw(rng)
    assert mix.next_distinct == 10 and not mix.wrapped
    mix.draw(rng)
    assert mix.wrapped


def test_a_wrk_level_uses_up_only_the_queries_wrk_sent(
    load_bench: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[list[str]] = []

    def fake_wrk(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        requests = Path(kwargs["env"]["SHELF_WRK_REQUESTS"]).read_text().splitlines()
        handed.append(requests)
        out = (
            'SHELF_WRK {"requests": 5, "duration_us": 1000000, "p50_us": 2000, '
            '"p99_us": 9000, "errors": 0, "cache_hits": 0}\n'
        )
        return subprocess.CompletedProcess(args, 0, out, "")

    monkeypatch.setattr(load_bench.shutil, "which", lambda _name: "/usr/bin/wrk")
    monkeypatch.setattr(load_bench.subprocess, "run", fake_wrk)
    queries = load_bench.QueryMix([f"query {i}" for i in range(100)], "distinct", 1.0)
    work = load_bench.Workload(queries, ["item-1"], [])
    warm = load_bench.drive_wrk("http://127.0.0.1:1", "search", 2, 0.1, work)
    row = load_bench.drive_wrk("http://127.0.0.1:1", "search", 2, 0.1, work)
    # each run was handed 200 lines (wrapping the 100 queries) but sent 5 of them
    assert len(handed[0]) == 200 and len(handed[1]) == 200
    assert handed[1][:5] == handed[0][5:10]
    assert queries.next_distinct == 10
    assert row["qps"] == 5.0 and row["p99_ms"] == 9.0
    assert "queries_wrapped" not in row and "queries_wrapped" not in warm
