#!/usr/bin/env bash
# Distributed scaling on the demo workload (conv4 MAML, Fashion-MNIST shards,
# 3-way 5-shot): meta-steps/s and tasks/s at 1 and 2 ranks with 1 thread
# each, the share of a step spent in the all-reduce (and waiting for the
# slowest rank), weak-scaling efficiency (2 tasks per rank per step), and the
# cost-model projection of bench/README.md to 8, 64 and 512 ranks.
# Usage: bench/scaling.sh [STEPS]   (needs data/fashion-mnist: scripts/demo packs it)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-60}
BIN=${BIN:-build/metacat}
[ -f data/fashion-mnist/manifest.h5 ] || $BIN pack --source fashion-mnist --out data/fashion-mnist --quiet
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ranks in 1 2; do
  batch=$((2 * ranks))  # weak scaling: 2 tasks per rank per step
  mpirun --oversubscribe -np $ranks $BIN train --config configs/fashion-mnist.yaml \
    --run-dir "$tmp/r$ranks" --set threads=1 --set train.steps=$STEPS --set train.log_every=$STEPS \
    --set train.meta_batch=$batch --set eval.at_end=false --set comm.backend=mpi >/dev/null
  python3 - "$tmp/r$ranks/metrics.jsonl" $ranks $batch <<'PY'
import json, sys
rec = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ranks, batch = int(sys.argv[2]), int(sys.argv[3])
steps_s = rec["step"] / rec["time"]
print(json.dumps({"bench": "scaling", "ranks": ranks, "threads_per_rank": 1, "meta_batch": batch,
                  "meta_steps_per_s": round(steps_s, 3), "tasks_per_s": round(steps_s * batch, 2),
                  "comm_share": round(rec["comm_s"] / rec["time"], 4)}))
PY
done | tee "$tmp/out.jsonl"
python3 - "$tmp/out.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
one, two = rows[0], rows[1]
print(json.dumps({"bench": "weak_scaling", "ranks": 2,
                  "efficiency": round(two["tasks_per_s"] / (2 * one["tasks_per_s"]), 3)}))
# Cost model (bench/README.md): ring all-reduce of P float32 parameters on n
# ranks: t = 2(n-1)/n * 4P / bandwidth + 2(n-1) * latency.
compute = 1.0 / one["meta_steps_per_s"]  # a rank's compute per step (2 tasks, 1 thread)
for name, params in (("demo conv4", 28_419), ("10M parameters", 10_000_000)):
    for bw_name, bw, lat in (("10GbE", 1.25e9, 10e-6), ("IB-HDR 200Gb", 25e9, 2e-6)):
        for n in (8, 64, 512):
            t = 2 * (n - 1) / n * 4 * params / bw + 2 * (n - 1) * lat
            print(json.dumps({"bench": "comm_model", "model": name, "params": params, "network": bw_name,
                              "ranks": n, "allreduce_ms": round(t * 1e3, 3),
                              "comm_share_projected": round(t / (t + compute), 4)}))
PY
