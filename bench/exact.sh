#!/usr/bin/env bash
# The cost of comm.reduction: exact (bit-identical results on any world
# size) against the default float reduction, side by side in one run:
# meta-steps/s of sinusoid MAML (meta-batch 8) and of the demo's conv4 MAML
# (Fashion-MNIST shards, 3-way 5-shot, meta-batch 4), on 1 rank x 2 threads
# and 2 ranks x 1 thread, float and exact alternated over ROUNDS rounds
# (best of each kept: the machine is shared). Also checks what exact
# promises: the final parameters of the 1- and 2-rank exact runs are the
# same bits (a hash of the final checkpoint's parameters); the float runs'
# need not be.
# Usage: bench/exact.sh [ROUNDS]   (needs data/fashion-mnist: scripts/demo packs it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
BIN=${BIN:-build/metacat}
[ -f data/fashion-mnist/manifest.h5 ] || "$BIN" pack --source fashion-mnist --out data/fashion-mnist --quiet
PY=${METACAT_PYTHON:-.venv/bin/python}  # with h5py (scripts/setup)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # workload ranks threads reduction round
  local w=$1 ranks=$2 threads=$3 red=$4 round=$5 dir="$tmp/$1-$2-$4-$5" args
  if [ "$w" = sinusoid ]; then
    args=(--config configs/sinusoid.yaml --set train.steps=400 --set train.meta_batch=8)
  else
    args=(--config configs/fashion-mnist.yaml --set train.steps=30)
  fi
  mpirun --oversubscribe -np "$ranks" "$BIN" train "${args[@]}" --run-dir "$dir" \
    --set threads="$threads" --set comm.reduction="$red" --set comm.backend=mpi \
    --set train.log_every=1000000 --set eval.at_end=false --set eval.val_every=0 >/dev/null
  "$PY" - "$dir" "$w" "$ranks" "$threads" "$red" <<'PY'
import glob, hashlib, json, sys, h5py
d, w, ranks, threads, red = sys.argv[1:]
rec = json.loads(open(d + "/metrics.jsonl").read().splitlines()[-1])
f = h5py.File(sorted(glob.glob(d + "/checkpoints/step-*.h5"))[-1], "r")
h = hashlib.sha256()
for name in f["params"]:  # creation order: the parameters' order
    h.update(f["params"][name][()].tobytes())
print(json.dumps({"workload": w, "ranks": int(ranks), "threads": int(threads), "reduction": red,
                  "meta_steps_per_s": rec["step"] / rec["time"], "params_sha256": h.hexdigest()}))
PY
}

for round in $(seq "$ROUNDS"); do
  for w in sinusoid conv4; do
    for layout in "1 2" "2 1"; do
      for red in float exact; do run $w $layout $red "$round"; done
    done
  done
done >"$tmp/runs.jsonl"

"$PY" - "$tmp/runs.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rows:
    k = (r["workload"], r["ranks"], r["threads"], r["reduction"])
    best[k] = max(best.get(k, 0), r["meta_steps_per_s"])
for w in ("sinusoid", "conv4"):
    for ranks, threads in ((1, 2), (2, 1)):
        f, e = best[(w, ranks, threads, "float")], best[(w, ranks, threads, "exact")]
        print(json.dumps({"bench": "exact_reduction", "workload": w, "ranks": ranks,
                          "threads_per_rank": threads, "float_steps_per_s": round(f, 2),
                          "exact_steps_per_s": round(e, 2), "exact_over_float": round(e / f, 3)}))
    for red in ("float", "exact"):
        sums = {r["params_sha256"] for r in rows if r["workload"] == w and r["reduction"] == red}
        print(json.dumps({"bench": "exact_bits", "workload": w, "reduction": red,
                          "distinct_final_checkpoints_over_1_and_2_ranks": len(sums)}))
PY
