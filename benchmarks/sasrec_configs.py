"""One SASRec configuration on a sequences file under the leave-one-out protocol: the best
validation NDCG@10, its epoch, and the test figures, with per-epoch progress in a log.

    python benchmarks/sasrec_configs.py SEQUENCES NAME 'JSON_PARAMS' [--out-dir DIR]

``JSON_PARAMS`` are SASRec hyperparameters (``"model"`` picks another deep model).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from record import run_header

from shelf.evaluate.recs_protocol import evaluate, leave_one_out
from shelf.formats.benchmarks import read_sequences
from shelf.recommend.registry import build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sequences", type=Path)
    parser.add_argument("name")
    parser.add_argument("params")
    parser.add_argument("--out-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    params = json.loads(args.params)
    users, seqs = read_sequences(args.sequences)
    split = leave_one_out(users, seqs, seed=42)
    model = build(params.pop("model", "sasrec"), **params)
    with (args.out_dir / f"{args.name}.log").open("w") as log:
        model.progress = lambda record: print(json.dumps(record), file=log, flush=True)
        start = time.perf_counter()
        model.fit(split.train, split.validation)
        seconds = time.perf_counter() - start
    test = evaluate(model, split.test, seed=42)
    out = {
        **run_header(),
        "name": args.name,
        "params": params,
        "val_best": model.best_val_ndcg10_,
        "best_epoch": model.best_epoch_,
        "epochs": len(model.history_),
        "seconds": seconds,
        "test_ndcg10": test["ndcg@10"],
        "test_hr10": test["hr@10"],
    }
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
