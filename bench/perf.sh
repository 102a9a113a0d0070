#!/usr/bin/env bash
# metacat against the PyTorch reference (bench/reference/meta_reference.py,
# Debian's python3-torch), side by side in one invocation, at 1 and 2
# threads: tasks/s of each (3 warm-up steps excluded on both sides) and
# their ratio, peak RSS. One JSON line per
# (workload, learner, threads); lines starting with '#' are commentary.
#   bench/perf.sh [STEPS_SINUSOID] [STEPS_CONV4]
set -euo pipefail
cd "$(dirname "$0")/.."
S_STEPS=${1:-200}
C_STEPS=${2:-20}
BIN=${BIN:-build/metacat}
REF="/usr/bin/python3 bench/reference/meta_reference.py"
[ -f data/fashion-mnist/manifest.h5 ] || $BIN pack --source fashion-mnist --out data/fashion-mnist --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

metacat_rate() {  # config steps batch threads extra... -> tasks/s over the whole run
  local cfg=$1 steps=$2 batch=$3 threads=$4
  shift 4
  local dir="$tmp/run-$RANDOM$RANDOM"
  # Warm-up steps are run first and left out, as the reference does: the
  # rate is taken between the records of step WARMUP and step WARMUP+steps.
  local warm=3
  /usr/bin/time -f "%M" -o "$dir.rss" $BIN train --config "$cfg" --run-dir "$dir" --set threads="$threads" \
    --set train.steps=$((steps + warm)) --set train.log_every=1 --set train.meta_batch="$batch" \
    --set eval.at_end=false --set comm.backend=local "$@" >/dev/null
  python3 -c "
import json
r = [json.loads(l) for l in open('$dir/metrics.jsonl')]
a, b = r[$warm - 1], r[-1]
print(round((b['step'] - a['step']) * $batch / (b['time'] - a['time']), 2), round($(cat "$dir.rss")/1024, 1))"
}

compare() {  # workload learner shots batch steps threads
  local workload=$1 learner=$2 shots=$3 batch=$4 steps=$5 threads=$6
  local cfg ref_args mc_args=()
  if [ "$workload" = sinusoid ]; then
    cfg=configs/sinusoid.yaml
    ref_args="--workload sinusoid --shots 10 --queries 10 --inner-lr 0.01"
    mc_args=(--set learner.inner_lr=0.01 --set learner.inner_steps=1)
  else
    cfg=configs/fashion-mnist.yaml
    ref_args="--workload fmnist --ways 3 --shots $shots --queries 15 --inner-lr 0.4 --width 32"
    mc_args=(--set task.shots="$shots" --set task.queries=15)
  fi
  read -r mc mc_rss < <(metacat_rate "$cfg" "$steps" "$batch" "$threads" --set learner.name="$learner" "${mc_args[@]}")
  ref_line=$($REF $ref_args --learner "$learner" --meta-batch "$batch" --steps "$steps" --threads "$threads" 2>/dev/null)
  python3 - "$ref_line" "$mc" "$mc_rss" "$workload" "$learner" "$shots" "$batch" "$threads" <<'PY'
import json, sys
ref = json.loads(sys.argv[1])
mc, mc_rss = float(sys.argv[2]), float(sys.argv[3])
print(json.dumps({"bench": "perf", "workload": sys.argv[4], "learner": sys.argv[5], "shots": int(sys.argv[6]),
                  "meta_batch": int(sys.argv[7]), "threads": int(sys.argv[8]),
                  "metacat_tasks_per_s": mc, "pytorch_tasks_per_s": ref["tasks_per_s"],
                  "ratio": round(mc / ref["tasks_per_s"], 2),
                  "metacat_peak_rss_mb": mc_rss, "pytorch_peak_rss_mb": ref["peak_rss_mb"]}))
PY
}

for threads in 1 2; do
  compare sinusoid maml 10 25 "$S_STEPS" "$threads"
  compare sinusoid fomaml 10 25 "$S_STEPS" "$threads"
  for shots in 1 5; do
    for batch in 4 16; do
      for learner in maml fomaml protonet; do
        compare fmnist "$learner" "$shots" "$batch" "$C_STEPS" "$threads"
      done
    done
  done
done
