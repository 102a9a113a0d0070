#!/usr/bin/env bash
# The cost of the arrival check (comm.arrivals: every rank sends rank 0 an
# 8-byte token before each step's all-reduce, and rank 0 waits for all of
# them) against no check, side by side in one run: meta-steps/s of sinusoid
# MAML (meta-batch 8: the shortest step metacat has, so the check's share
# is largest) on 2 and 4 ranks x 1 thread (one machine, shared memory),
# on and off alternated over ROUNDS rounds, best of each kept (the machine
# is shared). Heartbeats (comm.silence_s) run in both: they are off the
# training path.
# Usage: bench/arrivals.sh [ROUNDS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
STEPS=${2:-1000}
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # ranks on|off round
  local dir="$tmp/$1-$2-$3" flag=true
  [ "$2" = off ] && flag=false
  mpirun --oversubscribe -np "$1" "$BIN" train --config configs/sinusoid.yaml --run-dir "$dir" \
    --set train.steps="$STEPS" --set train.meta_batch=8 --set threads=1 --set comm.backend=mpi \
    --set comm.arrivals=$flag --set train.log_every=1000000 --set eval.at_end=false \
    --set eval.val_every=0 --set train.checkpoint_every=0 >/dev/null
  "$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(json.dumps({"ranks": int(sys.argv[2]), "check": sys.argv[3], "steps_per_s": r["step"] / r["time"]}))' \
    "$dir/metrics.jsonl" "$1" "$2"
}

for round in $(seq "$ROUNDS"); do
  for ranks in 2 4; do
    for check in off on; do run "$ranks" "$check" "$round"; done
  done
done >"$tmp/runs.jsonl"

"$PY" - "$tmp/runs.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rows:
    k = (r["ranks"], r["check"])
    best[k] = max(best.get(k, 0), r["steps_per_s"])
print("sinusoid MAML, meta-batch 8, 1 thread per rank; best of %d rounds" % (len(rows) // 4))
print("ranks  off steps/s  on steps/s  on/off  cost per step")
for n in (2, 4):
    off, on = best[(n, "off")], best[(n, "on")]
    print("%5d  %11.1f  %10.1f  %6.3f  %+.1f us" % (n, off, on, on / off, (1 / on - 1 / off) * 1e6))
PY
