"""`shelf serve --workers 2` through real processes: a socket per worker on one port, a killed
worker replaced, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shelf.serve.supervisor import bind_shared

pytestmark = pytest.mark.integration  # real processes or a browser

SHELF = str(Path(sys.executable).with_name("shelf"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def workers_of(pid: int) -> set[int]:
    """The parent's running worker processes (spawned by multiprocessing; its resource
    tracker, if any, is started differently)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != pid or fields[0] in ("Z", "X"):
            continue
        try:
            if b"spawn_main" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_two_processes_can_listen_on_one_port() -> None:
    port = free_port()
    first, second = bind_shared("127.0.0.1", port), bind_shared("127.0.0.1", port)
    try:
        first.listen()
        second.listen()
        assert first.getsockname() == second.getsockname()
        # a TCP protocol number: the event loop then sets TCP_NODELAY on accepted connections
        assert first.proto == socket.IPPROTO_TCP
    finally:
        first.close()
        second.close()


def test_workers_are_replaced_when_killed_and_stop_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SHELF_DATA_DIR": str(tmp_path), "SHELF_RELOAD_SECONDS": "0"}
    server = subprocess.Popen(
        [SHELF, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: len(workers_of(server.pid)) == 2 and answers(base))
        before = workers_of(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # the parent notices, starts another worker, and the port keeps answering meanwhile
        wait_for(lambda: len(workers_of(server.pid) - (before - {victim})) == 1)
        assert victim not in workers_of(server.pid)
        wait_for(lambda: answers(base))
        assert all(answers(base) for _ in range(20))
        after = workers_of(server.pid)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not any(running(pid) for pid in after)  # no worker outlives the parent
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.stdout is not None
    log = server.stdout.read().decode()
    assert "exited (code -9); starting another" in log
