"""Crash safety: SIGKILL `shelf serve` while clients post events, restart, repeat; then check
that every acknowledged event is stored, and none twice.

Usage:
    .venv/bin/python benchmarks/crash_bench.py --kills 20 --clients 4 \
        --out benchmarks/results/crash.json

Each client posts batches of events with unique `event_id`s and records the ids of every batch
the server acknowledged (HTTP 200). A batch cut off by the kill is unacknowledged: it may or
may not be stored, and a client may retry it after the restart (retries must not duplicate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SHELF = str(Path(sys.executable).with_name("shelf"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SHELF_DATA_DIR=str(data_dir))
    env.pop("SHELF_DB_URL", None)
    return subprocess.Popen(
        [SHELF, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_healthy(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy")


class Client(threading.Thread):
    """Posts batches of uniquely identified events until told to stop."""

    def __init__(self, index: int, base: str, batch: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.base = base
        self.batch = batch
        self.stop = stop
        self.acked: list[str] = []
        self.failed_requests = 0
        self.sequence = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            pending: list[dict[str, object]] | None = None
            while not self.stop.is_set():
                if pending is None:
                    pending = []
                    for _ in range(self.batch):
                        self.sequence += 1
                        pending.append(
                            {
                                "event_id": f"c{self.index}-{self.sequence}",
                                "user_id": f"user-{self.index}",
                                "item_id": f"i{self.sequence % 10}",
                                "type": "view",
                                "timestamp": 1_700_000_000 + self.sequence,
                            }
                        )
                try:
                    response = client.post("/events", json={"events": pending})
                except httpx.TransportError:
                    self.failed_requests += 1
                    time.sleep(0.05)
                    continue  # retry the same batch: idempotent by event_id
                if response.status_code == 200:
                    self.acked.extend(str(e["event_id"]) for e in pending)
                    pending = None
                else:
                    self.failed_requests += 1
                    time.sleep(0.05)


def run(kills: int, clients: int, batch: int, interval: float, data_dir: Path) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SHELF_DATA_DIR=str(data_dir))
    items = data_dir.parent / "crash-items.jsonl"
    items.write_text("".join(json.dumps({"item_id": f"i{k}", "title": f"t{k}"}) + "\n"
                             for k in range(10)))  # fmt: skip
    subprocess.run([SHELF, "import", "items", str(items)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    stop = threading.Event()
    server = start_server(data_dir, port)
    wait_healthy(base)
    workers = [Client(i, base, batch, stop) for i in range(clients)]
    for worker in workers:
        worker.start()
    restarts = []
    try:
        for _ in range(kills):
            time.sleep(interval)
            server.send_signal(signal.SIGKILL)
            server.wait()
            started = time.perf_counter()
            server = start_server(data_dir, port)
            wait_healthy(base)
            restarts.append(time.perf_counter() - started)
        time.sleep(interval)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        server.send_signal(signal.SIGKILL)
        server.wait()
    acked = [event_id for worker in workers for event_id in worker.acked]
    with sqlite3.connect(data_dir / "shelf.db") as db:
        stored = [row[0] for row in db.execute("SELECT event_id FROM events")]
    stored_set = set(stored)
    lost = [e for e in acked if e not in stored_set]
    return {
        "kills": kills,
        "clients": clients,
        "batch": batch,
        "acknowledged_events": len(acked),
        "stored_events": len(stored),
        "lost_acknowledged": len(lost),
        "stored_twice": len(stored) - len(stored_set),
        "failed_requests": sum(w.failed_requests for w in workers),
        "median_restart_s": round(sorted(restarts)[len(restarts) // 2], 2) if restarts else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="Seconds between kills.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shelf-crash-") as tmp:
        result = run(args.kills, args.clients, args.batch, args.interval, Path(tmp) / "data")
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    result["machine"] = {"cores": os.cpu_count(), "platform": platform.platform()}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if result["lost_acknowledged"] or result["stored_twice"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
