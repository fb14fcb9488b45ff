"""How long `shelf demo` takes to answer: from the command's start to the first search and
recommendation answered over HTTP, on a fresh data directory with empty embedding and model
caches (the first start), then again on the same directory (the second start).

    python benchmarks/demo_start.py [--synthetic] [--data PATH] --out OUT.json

Each start is timed until `GET /search?q=...` and `GET /trending` both answer 200 (with the
demo's page key); the deep model's background training is left to run and not waited for.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from record import emit, run_header


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(folder: Path, caches: Path, extra: list[str], timeout: float) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELF_")}
    env.update(SHELF_EMBEDDING_CACHE=str(caches / "embeddings"),
               SHELF_MODEL_CACHE=str(caches / "models"))  # fmt: skip
    command = [sys.executable, "-c", "from shelf.cli import main; main()",
               "--data-dir", str(folder), "demo", "--port", str(port), *extra]  # fmt: skip
    started = time.monotonic()
    log = (folder.parent / f"demo-{port}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        health_s = None
        while time.monotonic() - started < timeout:
            assert process.poll() is None, (folder.parent / f"demo-{port}.log").read_text()
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    health_s = time.monotonic() - started
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert health_s is not None, "no /health in time"
        key = json.loads((folder / "demo-keys.json").read_text())["search"]
        headers = {"Authorization": f"Bearer {key}"}
        search = httpx.get(base + "/search", params={"q": "drill"}, headers=headers, timeout=30)
        trending = httpx.get(base + "/trending", headers=headers, timeout=30)
        answered_s = time.monotonic() - started
        assert search.status_code == 200 and trending.status_code == 200
        return {"health_s": round(health_s, 1), "first_answers_s": round(answered_s, 1),
                "search_hits": len(search.json()["items"])}  # fmt: skip
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    extra = ["--synthetic"] if args.synthetic else []
    if args.data is not None:
        extra += ["--data", str(args.data)]
    root = Path(tempfile.mkdtemp(prefix="shelf-demo-start-"))
    try:
        folder, caches = root / "data", root / "caches"
        first = start(folder, caches, extra, args.timeout)
        second = start(folder, caches, extra, args.timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    doc = {**run_header(), "demo": "synthetic" if args.synthetic else str(args.data or "default"),
           "first_start": first, "second_start": second,
           "goal": "first answer within 60 s (cold caches), 10 s on a second start"}  # fmt: skip
    emit(doc, args.out)


if __name__ == "__main__":
    main()
