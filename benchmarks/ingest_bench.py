"""Ingest benchmark: `shelf import events` of generated events (rows/s, peak RSS) into SQLite
and PostgreSQL, and `POST /events` over HTTP from a second process (acknowledged events/s).

Usage:
    .venv/bin/python benchmarks/ingest_bench.py --events 1000000 \
        [--postgres-url postgresql+psycopg://shelf@127.0.0.1:54329/shelf_bench] \
        [--http-events 50000] --out benchmarks/results/ingest.json

Each import runs as its own `shelf` process; its peak RSS comes from getrusage of the children.
The machine's load average is recorded: the machines are shared, so compare runs made together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SHELF = str(Path(sys.executable).with_name("shelf"))
TYPES = ["view"] * 70 + ["click"] * 15 + ["add_to_cart"] * 10 + ["purchase"] * 5


def generate(folder: Path, n_events: int, n_items: int, n_users: int, seed: int) -> Path:
    rng = random.Random(seed)
    with (folder / "items.csv").open("w") as handle:
        handle.write("item_id,title,category,brand,price\n")
        for i in range(n_items):
            handle.write(f"i{i},Product {i},Tools > Group {i % 50},Brand {i % 300},{i % 500}.99\n")
    events = folder / "events.csv"
    start = 1_700_000_000
    with events.open("w") as handle:
        handle.write("user_id,item_id,type,timestamp,session_id\n")
        for k in range(n_events):
            user = rng.randrange(n_users)
            handle.write(
                f"user-{user},i{rng.randrange(n_items)},{rng.choice(TYPES)},"
                f"{start + k},s{user}-{k // 50}\n"
            )
    return events


def wipe(db_url: str) -> None:
    """Drop shelf's tables in the benchmark database, so every run starts empty."""
    import sqlalchemy as sa

    from shelf.store.sql import metadata

    engine = sa.create_engine(db_url)
    metadata.drop_all(engine)
    engine.dispose()


def run_import(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `shelf` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([SHELF, *args], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: run the biggest last.
    return seconds, max(peak_kb, before) / 1024


def bench_import(label: str, db_url: str | None, folder: Path, n_events: int) -> dict[str, object]:
    data_dir = folder / f"data-{label}"
    env = dict(os.environ, SHELF_DATA_DIR=str(data_dir))
    if db_url:
        env["SHELF_DB_URL"] = db_url
        wipe(db_url)
    run_import(["import", "items", str(folder / "items.csv")], env)
    seconds, peak_mb = run_import(["import", "events", str(folder / "events.csv")], env)
    again, _ = run_import(["import", "events", str(folder / "events.csv")], env)
    return {
        "backend": label,
        "events": n_events,
        "seconds": round(seconds, 2),
        "events_per_s": round(n_events / seconds),
        "peak_rss_mb": round(peak_mb, 1),
        "reimport_all_duplicates_seconds": round(again, 2),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_http(folder: Path, n_events: int, batch: int) -> dict[str, object]:
    data_dir = folder / "data-http"
    port = free_port()
    env = dict(os.environ, SHELF_DATA_DIR=str(data_dir))
    env.pop("SHELF_DB_URL", None)
    subprocess.run([SHELF, "import", "items", str(folder / "items.csv")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [SHELF, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            rng = random.Random(1)
            latencies = []
            acked = 0
            started = time.perf_counter()
            for b in range(n_events // batch):
                events = [
                    {
                        "user_id": f"user-{rng.randrange(10_000)}",
                        "item_id": f"i{rng.randrange(1000)}",
                        "type": "view",
                        "timestamp": 1_800_000_000 + b * batch + k,
                    }
                    for k in range(batch)
                ]
                t = time.perf_counter()
                response = client.post("/events", json={"events": events})
                latencies.append((time.perf_counter() - t) * 1000)
                response.raise_for_status()
                acked += response.json()["stored"]
            seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    return {
        "events": acked,
        "batch": batch,
        "seconds": round(seconds, 2),
        "acked_events_per_s": round(acked / seconds),
        "p50_ms_per_batch": round(latencies[len(latencies) // 2], 2),
        "p99_ms_per_batch": round(latencies[int(len(latencies) * 0.99)], 2),
        "client": "one httpx client, sequential requests",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="A PostgreSQL database for the benchmark: its shelf tables are DROPPED first.",
    )
    parser.add_argument("--http-events", type=int, default=50_000)
    parser.add_argument("--http-batch", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="shelf-bench-"))
    try:
        t = time.perf_counter()
        generate(folder, args.events, args.items, args.users, seed=0)
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s", flush=True)
        results: dict[str, object] = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {
                "cores": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_avg_at_start": os.getloadavg(),
            },
            "data": f"generated: {args.events:,} events, {args.items:,} items, "
            f"{args.users:,} users, CSV",
            "imports": [],
        }
        imports: list[dict[str, object]] = []
        if args.postgres_url:
            imports.append(bench_import("postgresql", args.postgres_url, folder, args.events))
            print(imports[-1], flush=True)
        imports.append(bench_import("sqlite", None, folder, args.events))
        print(imports[-1], flush=True)
        results["imports"] = imports
        if args.http_events:
            results["http"] = bench_http(folder, args.http_events, args.http_batch)
            print(results["http"], flush=True)
        results["machine"]["load_avg_at_end"] = os.getloadavg()  # type: ignore[index]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
