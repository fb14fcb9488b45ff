"""HTTP load benchmark: drives search, recommendations and event posting against a running
`shelf serve` on 127.0.0.1 from this (second) process, at several concurrency levels.

Usage (server already running, e.g. `shelf serve --port 8000` over a loaded catalog):
    .venv/bin/python benchmarks/load_bench.py --base http://127.0.0.1:8000 \
        --queries ../shared/data/homedepot-search/queries-dev.tsv \
        --concurrency 1 8 32 --seconds 20 --out benchmarks/results/load.json

Which client sends them (``--client``):
  httpx     this process, asyncio + httpx (the default): simple, but on a 2-core machine the
            client's own Python takes a large share of the CPU the server needs;
  wrk       the wrk load generator (Debian package ``wrk``, C, one thread), fed a file of
            requests drawn as below through a Lua script: far less client CPU per request.

Requests are bounded by count and time and go to loopback only. Reports per route and
concurrency: requests, QPS, p50 and p99 latency in ms, errors (non-2xx or transport) and, for
search, the share of answers the server took from its response cache (``X-Cache: hit``).

Which queries are asked (``--query-mix``):
  distinct  every search a query not asked before in the run, warm-ups included (no cache hit
            possible until the query file is used up; a level that uses it up says so with
            ``"queries_wrapped": true``): the cost of ranking itself;
  uniform   drawn uniformly, with replacement, from the query file;
  zipf      drawn with probability proportional to 1 / rank^s over a seeded shuffle of the
            file (``--zipf-s``, default 1.0): a head of popular queries and a long tail, the
            usual shape of a shop's search log. An assumption, not a measured distribution.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

import httpx
from record import run_header

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
        self.next_distinct = 0  # distinct: how many queries the run has sent so far
        self.wrapped = False  # distinct: whether a query has been sent twice
        ranks = range(1, len(self.queries) + 1)
        self.weights = list(itertools.accumulate(1.0 / r**zipf_s for r in ranks))

    def mark(self) -> tuple[int, bool]:
        """Where the distinct mix stands, for :meth:`sent`."""
        return self.next_distinct, self.wrapped

    def sent(self, mark: tuple[int, bool], n: int) -> None:
        """Distinct mix: of the queries drawn since ``mark``, only the first ``n`` were sent
        (wrk is handed more requests than it will send, in order); the next draw follows
        them, so a later warm-up or level asks none of them again."""
        if self.mix == "distinct":
            self.next_distinct = mark[0] + n
            self.wrapped = mark[1] or self.next_distinct > len(self.queries)

    def draw(self, rng: random.Random) -> str:
        if self.mix == "distinct":
            query = self.queries[self.next_distinct % len(self.queries)]
            self.next_distinct += 1
            self.wrapped |= self.next_distinct > len(self.queries)
            return query
        if self.mix == "zipf":
            return rng.choices(self.queries, cum_weights=self.weights)[0]
        return rng.choice(self.queries)


@dataclasses.dataclass
class Workload:
    """What the requests are drawn from: the query mix, catalog item ids (events) and user ids
    (recommendations; empty: unknown users)."""

    queries: QueryMix
    items: list[str]
    users: list[str]


async def drive(
    base: str,
    route: str,
    concurrency: int,
    seconds: float,
    work: Workload,
) -> dict[str, object]:
    rng = random.Random(concurrency)
    latencies: list[float] = []
    errors = 0
    sent = 0
    cache_hits = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors, sent, cache_hits
            while time.perf_counter() < deadline and sent < MAX_REQUESTS_PER_LEVEL:
                method, path, body = draw_request(route, work, rng, sent)
                sent += 1
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body)
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
            {
                "cache_hit_share": round(cache_hits / max(len(latencies), 1), 3),
                **({"queries_wrapped": True} if work.queries.wrapped else {}),
            }
            if route == "search"
            else {}
        ),
    }


# wrk's Lua side: requests are read from a file (method TAB path TAB body) and sent in
# order, cycling; X-Cache hits are counted; done() prints one JSON line for the parent.
WRK_SCRIPT = r"""
local lines = {}
for line in io.lines(os.getenv("SHELF_WRK_REQUESTS")) do lines[#lines + 1] = line end
local at = 0
hits = 0
request = function()
  at = at % #lines + 1
  local method, path, body = lines[at]:match("^(%S+)\t([^\t]+)\t?(.*)$")
  if body == "" then
    return wrk.format(method, path)
  end
  return wrk.format(method, path, {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if headers["x-cache"] == "hit" or headers["X-Cache"] == "hit" then hits = hits + 1 end
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, requests)
  local cache_hits = 0
  for _, thread in ipairs(threads) do cache_hits = cache_hits + thread:get("hits") end
  local e = summary.errors
  io.write(string.format(
    'SHELF_WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "cache_hits": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, cache_hits))
end
"""


def draw_request(
    route: str, work: Workload, rng: random.Random, index: int
) -> tuple[str, str, dict[str, object] | None]:
    """The ``index``-th request of ``route``: method, path with its query string, JSON body."""
    if route == "search":
        return "GET", f"/search?{urlencode({'q': work.queries.draw(rng)})}", None
    if route == "health":  # no work behind it: what the HTTP stack alone costs
        return "GET", "/health", None
    if route == "recommendations":
        user = rng.choice(work.users) if work.users else f"load-user-{rng.randrange(5000)}"
        return "GET", f"/users/{quote(user, safe='')}/recommendations?n=10", None
    event = {
        "user_id": f"load-user-{rng.randrange(5000)}",
        "item_id": rng.choice(work.items),
        "type": "view",
        "timestamp": time.time() + index * 1e-3,  # distinct, so none is a duplicate
    }
    return "POST", "/events", {"events": [event]}


def request_lines(route: str, n: int, work: Workload, rng: random.Random) -> list[str]:
    """``n`` requests of ``route`` as wrk's script reads them (method TAB path TAB body)."""
    lines = []
    for k in range(n):
        method, path, body = draw_request(route, work, rng, k)
        lines.append(f"{method}\t{path}" + ("" if body is None else f"\t{json.dumps(body)}"))
    return lines


def drive_wrk(
    base: str,
    route: str,
    concurrency: int,
    seconds: float,
    work: Workload,
) -> dict[str, object]:
    """One route at one concurrency through wrk (one client thread, ``concurrency``
    connections, each waiting for its answer before the next request)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--client wrk needs the wrk load generator (apt-get install wrk)")
    rng = random.Random(concurrency)
    # more requests than wrk will send in `seconds`; it sends them in order
    mark = work.queries.mark()
    lines = request_lines(route, int(min(MAX_REQUESTS_PER_LEVEL, 2000 * seconds)), work, rng)
    with tempfile.TemporaryDirectory(prefix="shelf-wrk-") as tmp:
        script, requests = Path(tmp, "drive.lua"), Path(tmp, "requests.tsv")
        script.write_text(WRK_SCRIPT)
        requests.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds:g}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                base,
            ],
            env={**os.environ, "SHELF_WRK_REQUESTS": str(requests)},
            capture_output=True,
            text=True,
            check=True,
        )
    found = [line for line in done.stdout.splitlines() if line.startswith("SHELF_WRK ")]
    if not found:
        raise SystemExit(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    summary = json.loads(found[-1].split(" ", 1)[1])
    n = summary["requests"]
    if route == "search":
        work.queries.sent(mark, n)
    return {
        "route": route,
        "concurrency": concurrency,
        "requests": n,
        "qps": round(n / (summary["duration_us"] / 1e6), 1),
        "p50_ms": round(summary["p50_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2),
        "errors": summary["errors"],
        **(
            {
                "cache_hit_share": round(summary["cache_hits"] / max(n, 1), 3),
                **({"queries_wrapped": True} if work.queries.wrapped else {}),
            }
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
    work = Workload(queries, items, users)
    rows = []
    for route in args.routes:
        for level in args.concurrency:
            if args.warmup > 0:  # same route and concurrency, not recorded
                if args.client == "wrk":
                    drive_wrk(args.base, route, level, args.warmup, work)
                else:
                    await drive(args.base, route, level, args.warmup, work)
            if args.client == "wrk":
                row = drive_wrk(args.base, route, level, args.seconds, work)
            else:
                row = await drive(args.base, route, level, args.seconds, work)
            print(row, flush=True)
            rows.append(row)
    return {
        **run_header(),
        "server": {"base": args.base, "workers": args.server_workers, "store": stats.get("stats")},
        "client": "wrk (1 thread)" if args.client == "wrk" else "httpx (asyncio, this process)",
        "warmup_s_per_level": args.warmup,
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
    parser.add_argument("--client", choices=["httpx", "wrk"], default="httpx")
    parser.add_argument("--query-mix", choices=["distinct", "uniform", "zipf"], default="distinct")
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument(
        "--routes",
        nargs="+",
        choices=["search", "recommendations", "events", "health"],
        default=["search", "recommendations", "events"],
        help="health: GET /health, the HTTP stack's own cost per request (a floor).",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="Seconds of the same load before each level, not recorded (first requests "
        "load lazily built parts: the ONNX sessions, caches).",
    )
    parser.add_argument("--server-workers", type=int, default=1, help="Recorded, not set.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
