"""The scale curve of `shelf train`'s data stages: sequences built from a Parquet event log
and the counts models (popularity, trending, co-occurrence) fitted, single-node against Ray
with 1 and 2 CPUs, on synthetic logs of growing size.

Usage: ``python benchmarks/scale_bench.py --sizes 100000 1000000 --logs /tmp/scale-logs
--out benchmarks/results/scale.json``. Each log is written once by
``shelf.synthetic.eventlog`` (seed 0, 1M-event partitions, users = events / 50, items =
events / 500). Each run is a fresh process (``run`` subcommand): wall seconds of the
stages (Ray's start-up timed apart), the peak resident memory of that process and all its
children (Ray's processes included; sampled every 0.2 s from /proc), and a SHA-256 over every
array the fitted models save, so equal digests mean identical results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import emit, run_header

CONFIGS = [("local", 0), ("ray", 1), ("ray", 2)]


def descendants_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            continue
    total, stack = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_one(log: Path, engine: str, cpus: int) -> dict[str, Any]:
    """The stages once, in this process (the ``run`` subcommand)."""
    from shelf.recommend.cooccur import ItemCooccurrence
    from shelf.recommend.popularity import Popularity, Trending
    from shelf.train.engines import fit_counts
    from shelf.train.recs import training_data_from_events

    out: dict[str, Any] = {"engine": engine, "cpus": cpus}
    start = time.perf_counter()
    if engine == "ray":
        from shelf.scale.cluster import connect

        session = connect(num_cpus=cpus)
        session.__enter__()
        out["ray_start_s"] = time.perf_counter() - start
    begin = time.perf_counter()
    data, _ = training_data_from_events(log, engine=engine)  # type: ignore[arg-type]
    out["sequences_s"] = time.perf_counter() - begin
    begin = time.perf_counter()
    digest = hashlib.sha256()
    for model in (Popularity(), Trending(), ItemCooccurrence()):
        fitted = fit_counts(model, data, engine)  # type: ignore[arg-type]
        for key, value in sorted(fitted._arrays().items()):
            digest.update(key.encode() + value.dtype.str.encode() + value.tobytes())
    out["counts_s"] = time.perf_counter() - begin
    out["stages_s"] = out["sequences_s"] + out["counts_s"]
    out["users"], out["items"] = data.n_users, data.n_items
    out["digest"] = digest.hexdigest()
    if engine == "ray":
        session.__exit__(None, None, None)
    return out


def measured(log: Path, engine: str, cpus: int) -> dict[str, Any]:
    """One run in a fresh process, with its peak memory (process tree) sampled meanwhile."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "run", str(log), engine, str(cpus)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], descendants_rss(child.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    stdout, _ = child.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with {child.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["peak_rss_mb"] = round(peak[0] / 2**20)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _, _, log, engine, cpus = sys.argv
        print(json.dumps(run_one(Path(log), engine, int(cpus))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--logs", type=Path, default=Path("/tmp/scale-logs"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from shelf.synthetic.eventlog import write_event_log

    doc: dict[str, Any] = {**run_header(), "runs": []}
    for size in args.sizes:
        log = args.logs / f"events-{size}"
        if not log.exists():
            users, items = max(1_000, size // 50), max(1_000, size // 500)
            write_event_log(log, size, n_users=users, n_items=items, seed=0)
        digests = set()
        for engine, cpus in CONFIGS:
            result = {"events": size, **measured(log, engine, cpus)}
            digests.add(result["digest"])
            doc["runs"].append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
        doc.setdefault("identical", {})[str(size)] = len(digests) == 1
    doc["load_avg_after"] = os.getloadavg()
    emit(doc, args.out)


if __name__ == "__main__":
    main()
