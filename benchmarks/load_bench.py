"""HTTP load benchmark: drives search, recommendations and event posting against a running
`shelf serve` on 127.0.0.1 from this (second) process, at several concurrency levels.

Usage (server already running, e.g. `shelf serve --port 8000` over a loaded catalog):
    .venv/bin/python benchmarks/load_bench.py --base http://127.0.0.1:8000 \
        --queries ../shared/data/homedepot-search/queries-dev.tsv \
        --concurrency 1 8 32 --seconds 20 --out benchmarks/results/load.json

Requests are bounded by count and time and go to loopback only. Reports per route and
concurrency: requests, QPS, p50 and p99 latency in ms, errors (non-2xx or transport) and, for
search, the share of answers the server took from its response cache (``X-Cache: hit``).

Which queries are asked (``--query-mix``):
  distinct  every search a query not asked before in the run (no cache hit possible until the
            query file is used up): the cost of ranking itself;
  uniform   drawn uniformly, with replacement, from the query file;
  zipf      drawn with probability proportional to 1 / rank^s over a seeded shuffle of the
            file (``--zipf-s``, default 1.0): a head of popular queries and a long tail, the
            usual shape of a shop's search log. An assumption, not a measured distribution.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

MAX_REQUESTS_PER_LEVEL = 200_000


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_queries(path: Path | None) -> list[str]:
    if path is None:
        return ["drill", "cordless drill under $100", "paint", "light bulb", "door handle"]
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        return [row["query"] for row in reader if row.get("query")]


def read_users(path: Path | None) -> list[str]:
    """User ids from the first column of a sequences file: users with a history, so the
    recommendation requests run the personal model (unknown users get the cheap trending list)."""
    if path is None:
        return []
    with path.open() as handle:
        return [line.split(maxsplit=1)[0] for line in handle if line.strip()]


async def sample_ids(client: httpx.AsyncClient, n: int) -> list[str]:
    response = await client.get("/items", params={"limit": min(n, 200)})
    response.raise_for_status()
    return [item["item_id"] for item in response.json()["items"]]


class QueryMix:
    """The next query to ask, by ``--query-mix`` (see the module docstring)."""

    def __init__(self, queries: list[str], mix: str, zipf_s: float, seed: int = 0) -> None:
        self.queries = list(queries)
        random.Random(seed).shuffle(self.queries)
        self.mix = mix
        self.next_distinct = 0
        ranks = range(1, len(self.queries) + 1)
        self.weights = list(itertools.accumulate(1.0 / r**zipf_s for r in ranks))

    def draw(self, rng: random.Random) -> str:
        if self.mix == "distinct":
            query = self.queries[self.next_distinct % len(self.queries)]
            self.next_distinct += 1
            return query
        if self.mix == "zipf":
            return rng.choices(self.queries, cum_weights=self.weights)[0]
        return rng.choice(self.queries)


async def drive(
    base: str,
    route: str,
    concurrency: int,
    seconds: float,
    queries: QueryMix,
    items: list[str],
    users: list[str],
) -> dict[str, object]:
    rng = random.Random(concurrency)
    latencies: list[float] = []
    errors = 0
    sent = 0
    cache_hits = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def request() -> tuple[str, str, dict[str, object] | None, dict[str, object] | None]:
        if route == "search":
            return "GET", "/search", {"q": queries.draw(rng)}, None
        if route == "recommendations":
            user = rng.choice(users) if users else f"load-user-{rng.randrange(5000)}"
            return "GET", f"/users/{user}/recommendations", {"n": 10}, None
        event = {
            "user_id": f"load-user-{rng.randrange(5000)}",
            "item_id": rng.choice(items),
            "type": "view",
            "timestamp": time.time(),
        }
        return "POST", "/events", None, {"events": [event]}

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors, sent, cache_hits
            while time.perf_counter() < deadline and sent < MAX_REQUESTS_PER_LEVEL:
                method, path, params, body = request()
                sent += 1
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, params=params, json=body)
                    ok = response.status_code < 300
                    cache_hits += response.headers.get("x-cache") == "hit"
                except httpx.TransportError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "route": route,
        "concurrency": concurrency,
        "requests": len(latencies),
        "qps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "errors": errors,
        **(
            {"cache_hit_share": round(cache_hits / max(len(latencies), 1), 3)}
            if route == "search"
            else {}
        ),
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    host = urlparse(args.base).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise SystemExit("load tests only target loopback addresses")
    queries = QueryMix(read_queries(args.queries), args.query_mix, args.zipf_s)
    users = read_users(args.users_from)
    async with httpx.AsyncClient(base_url=args.base, timeout=30) as client:
        items = await sample_ids(client, 200)
        stats = (await client.get("/stats")).json()
    rows = []
    for route in args.routes:
        for level in args.concurrency:
            row = await drive(args.base, route, level, args.seconds, queries, items, users)
            print(row, flush=True)
            rows.append(row)
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg": os.getloadavg(),
        },
        "server": {"base": args.base, "workers": args.server_workers, "store": stats.get("stats")},
        "users": "from " + str(args.users_from) if users else "unknown users (trending answers)",
        "query_mix": args.query_mix
        + (
            f" (s={args.zipf_s}, {len(queries.queries)} queries)"
            if args.query_mix == "zipf"
            else ""
        ),
        "results": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--queries", type=Path, default=None)
    parser.add_argument(
        "--users-from", type=Path, default=None, help="sequences.txt whose users to ask for."
    )
    parser.add_argument("--query-mix", choices=["distinct", "uniform", "zipf"], default="distinct")
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--routes", nargs="+", default=["search", "recommendations", "events"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--server-workers", type=int, default=1, help="Recorded, not set.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
