"""Fit time, artifact size, load time and erasure time of the counts models (pop, trending,
cooc) on a ``sequences.txt``; the numbers are in docs/recommendations.md ("Erasure").

Usage: ``python benchmarks/counts_models.py [--sequences PATH] [--repeat 3]``. Prints one JSON
line per model: best-of-``repeat`` fit seconds, artifact bytes, load seconds, and the seconds
``forget_users`` takes for 1 and for 10 users (absent before exact erasure existed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from shelf.formats import read_sequences
from shelf.recommend.data import encode_sequences
from shelf.recommend.registry import build, load

BEAUTY = "../shared/data/amazon-beauty/sequences.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", default=BEAUTY)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    users, seqs = read_sequences(args.sequences)
    data = encode_sequences(users, seqs)
    print(json.dumps({"machine": platform.node(), "load": os.getloadavg()[0],
                      "users": data.n_users, "items": data.n_items,
                      "events": sum(len(s) for s in data.sequences)}))  # fmt: skip
    for name in ("pop", "trending", "cooc"):
        fits = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            model = build(name).fit(data)
            fits.append(time.perf_counter() - start)
        out = {"model": name, "fit_s": round(min(fits), 3)}
        with tempfile.TemporaryDirectory() as tmp:
            root = model.save(Path(tmp) / name)
            out["artifact_bytes"] = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
            start = time.perf_counter()
            load(root)
            out["load_s"] = round(time.perf_counter() - start, 3)
        if hasattr(model, "forget_users"):
            for k, gone in (("forget1_s", users[:1]), ("forget10_s", users[1:11])):
                start = time.perf_counter()
                model.forget_users(gone)
                out[k] = round(time.perf_counter() - start, 3)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
