#!/usr/bin/env bash
# Sparse against dense embedding tables (comm.sparse_embeddings), side by
# side in one run: a generated interaction log packed per user with its item
# column hashed into ROWS buckets (so the item table has ROWS + 2 rows of
# 32 floats whatever the log's size), the embedding model (item ids, and
# the click history through a GRU over the same table) meta-trained on 2
# and 4 ranks x 1 thread, dense and sparse alternated. Per step: meta-steps/s
# (the last logged interval), the bytes each rank moves, and peak memory.
# Dense bytes are the ring all-reduce's 2 (N-1)/N x 4 P per rank for the P
# floats of the flat gradient; sparse bytes are the measured allgather
# (sent + received: metrics.jsonl's sparse_bytes_per_step) plus the ring
# all-reduce of the dense parameters. Adam's lazy update is not the dense
# one, so only speed and traffic are compared here (tests/train: exactness).
# Usage: bench/sparse.sh "ROWS..." "RANKS..." [STEPS]
#   e.g. bench/sparse.sh "10000 1000000" "2 4" 6
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"10000 1000000"}
RANKS=${2:-"2 4"}
STEPS=${3:-6}
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=${TMP_DIR:-$(mktemp -d)}
trap 'rm -rf "$tmp"' EXIT
"$BIN" generate --out "$tmp/logs" --users 400 --seed 1 >/dev/null
for rows in $SIZES; do
  sed "s/  item:      {role: item}/  item:      {role: item, hash_buckets: $rows}/" \
    "$tmp/logs/schema-user.yaml" >"$tmp/schema-$rows.yaml"
  "$BIN" pack --source csv --input "$tmp/logs/log.csv" --schema "$tmp/schema-$rows.yaml" \
    --out "$tmp/data-$rows" --quiet >/dev/null
done
half=$((STEPS / 2))
for rows in $SIZES; do
  for n in $RANKS; do
    for mode in dense sparse; do
      dir="$tmp/run-$rows-$n-$mode"
      flag=false
      [ "$mode" = sparse ] && flag=true
      mpirun --oversubscribe -np "$n" "$BIN" train --config configs/catalogue-users.yaml \
        --run-dir "$dir" --set data.path="$tmp/data-$rows" --set threads=1 \
        --set comm.backend=mpi --set comm.sparse_embeddings=$flag --set model.embedding_dim=32 \
        --set train.meta_batch=8 --set train.steps="$STEPS" --set train.log_every="$half" \
        --set eval.at_end=false --set eval.val_every=0 >/dev/null
      "$PY" - "$dir" "$rows" "$n" "$mode" <<'PY'
import json, sys
d, rows, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recs = [json.loads(l) for l in open(d + "/metrics.jsonl") if '"split"' not in l]
last = recs[-1]
cfg = open(d + "/config.yaml").read()
print(json.dumps({"rows": rows, "ranks": n, "mode": mode,
                  "steps_per_s": last["tasks_per_s"] / 8,
                  "sparse_rows": last.get("sparse_rows_per_step", 0),
                  "sparse_bytes": last.get("sparse_bytes_per_step", 0),
                  "peak_rss_mb_all_ranks": last["peak_rss_mb"]}))
PY
    done
  done
done >"$tmp/runs.jsonl"
# Parameter counts: the table (rows + 2) x 32, and the rest from a checkpoint.
"$PY" - "$tmp" "$tmp/runs.jsonl" <<'PY'
import glob, json, sys, h5py
tmp, runs = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])]
print("rows      ranks  mode    steps/s  rows/step  MB/step/rank  peak RSS MB (all ranks)")
for r in runs:
    ck = sorted(glob.glob(f"{tmp}/run-{r['rows']}-{r['ranks']}-{r['mode']}/checkpoints/step-*.h5"))[-1]
    with h5py.File(ck, "r") as f:
        sizes = {k: f["params"][k].size for k in f["params"]}
    total = sum(sizes.values())
    table = sum(v for k, v in sizes.items() if k.startswith("emb."))
    n = r["ranks"]
    ring = lambda p: 2 * (n - 1) / n * 4 * p
    mb = (ring(total) if r["mode"] == "dense" else ring(total - table) + r["sparse_bytes"]) / 1e6
    print(f"{r['rows']:<9} {n:5}  {r['mode']:6}  {r['steps_per_s']:7.2f}  {r['sparse_rows']:9.0f}"
          f"  {mb:12.3f}  {r['peak_rss_mb_all_ranks']:8.0f}")
PY
