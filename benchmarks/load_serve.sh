#!/usr/bin/env bash
# Serve a data directory with N workers on 127.0.0.1, drive it with benchmarks/load_bench.py
# from a second process, record the JSON, stop the server.
#
#   benchmarks/load_serve.sh DATA_DIR WORKERS OUT.json [load_bench.py options...]
#
# Home Depot catalog (search and event posting; no behaviour data, so no recommender):
#   shelf --data-dir /tmp/hd import products ../shared/data/homedepot-search/products.jsonl
#   shelf --data-dir /tmp/hd search-train --products ../shared/data/homedepot-search/products.jsonl \
#       --queries ../shared/data/homedepot-search/queries-dev.tsv \
#       --qrels ../shared/data/homedepot-search/qrels-dev.tsv --out /tmp/hd/index/ranker
#   benchmarks/load_serve.sh /tmp/hd 2 benchmarks/results/load-homedepot.json \
#       --queries ../shared/data/homedepot-search/queries-dev.tsv --routes search events
# (every search a distinct query by default: ranking cost, no response-cache hits; add
#  --query-mix zipf for repeated head queries, recorded in load-homedepot-zipf.json)
# Demo catalog (after `shelf --data-dir /tmp/demo demo --no-serve`):
#   benchmarks/load_serve.sh /tmp/demo 2 benchmarks/results/load-scientific.json \
#       --users-from ../shared/data/amazon-scientific/sequences.txt
# The *-wrk.json files of 2026-11-28 add `--client wrk --concurrency 1 8 32 --seconds 10
# --warmup 3` (wrk: `apt-get install wrk`), and `--routes search events` (Home Depot),
# `--routes search --query-mix zipf`, `--routes recommendations events` (demo); the
# *-c2-c4.json files the same with `--concurrency 2 4`. The *-async.json files (async compute
# routes, 12:00 UTC) use `--concurrency 4 6 8 16` (demo recommendations), `3 4 6 8` (Zipf
# search) and `1 8` (file-order search). The *-k100-c$C.json files (100 + 100 search
# candidates, 15:00 UTC) run one level per server start, so no level reads another's cache
# (load_bench.py then advanced its distinct queries by the requests wrk was handed, not the
# ones it sent, so a level re-asked its warm-up's queries: 9-12% cache hits; fixed at 17:10 UTC,
# the *-distinct-c$C.json files after that have none):
#   for c in 3 4 6 8; do benchmarks/load_serve.sh /tmp/hd 2 \
#       benchmarks/results/load-homedepot-wrk-k100-c$c.json --client wrk --concurrency $c \
#       --seconds 10 --warmup 3 --routes search --queries ../shared/data/homedepot-search/queries-dev.tsv; done
# (the Zipf ones add --query-mix zipf, concurrency 3 and 4; the ranker retrained first with
# search-train, above, on the new defaults). The *-distinct-c$C.json files (17:27 UTC) are the
# same loop over concurrency 2 3 4 6 with the fix (*-distinct-first-c{3,4}.json: 17:24 UTC,
# written to /tmp first; *-distinct-final-c{3,4}.json: 18:07 UTC, the final code);
# load-homedepot-wrk-health.json is
# `--routes health --concurrency 2 4` (GET /health: what the HTTP stack alone costs).
# Each file's "command" is exact.
set -euo pipefail
data_dir=$1 workers=$2 out=$3
shift 3
port=${PORT:-8790}
venv=${VENV:-.venv}
log=$(mktemp)
SHELF_RELOAD_SECONDS=0 "$venv/bin/shelf" --data-dir "$data_dir" serve --port "$port" \
    --workers "$workers" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
# every worker must be up: /health answers as soon as one is, so wait for the log lines
for _ in $(seq 600); do
    ready=$(grep -c "Application startup complete" "$log" || true)
    [ "$ready" -ge "$workers" ] && break
    kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
    sleep 1
done
echo "server up with $workers worker(s) on port $port"
"$venv/bin/python" benchmarks/load_bench.py --base "http://127.0.0.1:$port" \
    --server-workers "$workers" --out "$out" "$@"
