#!/usr/bin/env bash
# Search benchmark on the Home Depot dev queries under shared/benchmarks/PROTOCOL.md ("Search").
# Writes benchmarks/search_homedepot.json; docs/search.md holds the table and the machine.
# Item embeddings are cached in ~/.cache/shelf/embeddings (first run: ~4 min of encoding).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data/homedepot-search}"
OMP_WAIT_POLICY=PASSIVE .venv/bin/shelf eval search \
  --products "$DATA/products.jsonl" \
  --queries "$DATA/queries-dev.tsv" \
  --qrels "$DATA/qrels-dev.tsv" \
  --pipeline ltr --folds 5 --seed 0 --threads 1 \
  --out benchmarks/search_homedepot.json
