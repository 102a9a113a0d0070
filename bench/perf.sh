#!/usr/bin/env bash
# metacat against the PyTorch reference (bench/reference/meta_reference.py,
# on the torch 2.x of .venv that metacat links), side by side in one
# invocation.
#
#   bench/perf.sh [STEPS_SINUSOID] [STEPS_CONV4]      (defaults 200 and 20)
#   JSON=FILE bench/perf.sh ...                       also append the lines to FILE
#   SECTIONS="matmul speed memory accuracy"           the default: all four
#   SECTIONS=builds BASE_BIN=OTHER/metacat bench/perf.sh   metacat against another
#                                                     build of itself (e.g. LibTorch 1.13)
#
# One JSON line per measurement (lines starting with '#' are commentary):
#   matmul    the machine's float32 matrix-multiply rate (1024x1024, LibTorch
#             and its BLAS), at 1 and 2 threads: the ceiling GFLOP/s compare to.
#   speed     tasks/s of metacat and of both reference formulations (--impl
#             loop and func: torch.func with vmap over tasks) at 1 and 2
#             threads (warm-up steps excluded on every side), the ratios
#             (ratio: against loop, ratio_func: against func), peak RSS, and
#             achieved GFLOP/s (model FLOPs,
#             estimated as below) on: sinusoid MAML/FOMAML (MLP 1-40-40-1,
#             meta-batch 25, K=10, 1 inner step of 0.01) and Fashion-MNIST conv4
#             (width 32) 3-way 1/5-shot MAML/FOMAML/ProtoNet, meta-batch 4/16,
#             15 queries per class.
#   memory    metacat's peak RSS for second-order conv4 MAML at 1, 5 and 10
#             inner steps, with and without learner.recompute.
#   accuracy  the metric both reach after the same meta-steps, each evaluated
#             on fresh test tasks: mean over training seeds (5 sinusoid, 3
#             conv4) with t-based 95% intervals over the seeds.
#
# Model FLOPs per task: forward F per item = 2 x multiply-adds of the linear
# and conv layers; backward counted 2F; second-order MAML's backward through
# the support-set gradient 4F. So MAML F*(7 ns + 3 nq), FOMAML F*(3 ns + 3 nq),
# ProtoNet 3F*(ns + nq), for ns support and nq query items.
set -euo pipefail
cd "$(dirname "$0")/.."
S_STEPS=${1:-200}
C_STEPS=${2:-20}
SECTIONS=${SECTIONS:-matmul speed memory accuracy}
BIN=${BIN:-build/metacat}
PY=${PY:-.venv/bin/python}
REF="$PY bench/reference/meta_reference.py"
[ -x "$BIN" ] || { echo "perf.sh: $BIN not built (bash scripts/build)" >&2; exit 1; }
$PY -c "import torch" 2>/dev/null || { echo "perf.sh: $PY cannot import torch (bash scripts/setup)" >&2; exit 1; }
[ -f data/fashion-mnist/manifest.h5 ] || $BIN pack --source fashion-mnist --out data/fashion-mnist --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
WARM=5

emit() {  # prints a JSON line and appends it to $JSON when set
  echo "$1"
  if [ -n "${JSON:-}" ]; then echo "$1" >>"$JSON"; fi
}

# Model FLOPs per task (see the header): workload learner shots.
flops_per_task() {
  $PY - "$@" <<'PY'
import sys
workload, learner, shots = sys.argv[1], sys.argv[2], int(sys.argv[3])
if workload == "sinusoid":
    f, ns, nq = 2 * (1 * 40 + 40 * 40 + 40 * 1), 10, 10
else:
    w, ways, macs, side, cin = 32, 3, 0, 28, 1
    for _ in range(4):
        macs += side * side * w * cin * 9
        side, cin = side // 2, w
    macs += w * side * side * ways
    f, ns, nq = 2 * macs, ways * shots, ways * 15
print({"maml": f * (7 * ns + 3 * nq), "fomaml": f * (3 * ns + 3 * nq), "protonet": 3 * f * (ns + nq)}[learner])
PY
}

# metacat: tasks/s between the record of step WARM and the last one, peak RSS.
metacat_rate() {  # config steps batch threads extra...
  local cfg=$1 steps=$2 batch=$3 threads=$4
  shift 4
  local dir="$tmp/run-$RANDOM$RANDOM"
  /usr/bin/time -f "%M" -o "$dir.rss" $BIN train --config "$cfg" --run-dir "$dir" --set threads="$threads" \
    --set train.steps=$((steps + WARM)) --set train.log_every=$WARM --set train.meta_batch="$batch" \
    --set eval.at_end=false --set eval.val_every=0 --set comm.backend=local "$@" >/dev/null
  $PY -c "
import json
r = [json.loads(l) for l in open('$dir/metrics.jsonl')]
a, b = r[0], r[-1]
print(round((b['step'] - a['step']) * $batch / (b['time'] - a['time']), 2), round($(cat "$dir.rss")/1024, 1))"
}

workload_args() {  # workload shots -> sets cfg, ref_args, mc_args
  if [ "$1" = sinusoid ]; then
    cfg=configs/sinusoid.yaml
    ref_args="--workload sinusoid --shots 10 --queries 10 --inner-lr 0.01"
    mc_args=(--set learner.inner_lr=0.01 --set learner.inner_steps=1 --set learner.eval_inner_steps=1)
  else
    cfg=configs/fashion-mnist.yaml
    ref_args="--workload fmnist --ways 3 --shots $2 --queries 15 --inner-lr 0.4 --width 32"
    mc_args=(--set task.shots="$2" --set task.queries=15 --set learner.inner_lr=0.4
             --set learner.inner_steps=1 --set learner.eval_inner_steps=1)
  fi
}

declare -A MATMUL
section_matmul() {
  for threads in 1 2; do
    line=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads $PY - "$threads" <<'PY'
import json, sys, time, torch
t = int(sys.argv[1]); torch.set_num_threads(t)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
for _ in range(3): a @ b
best = 0.0
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(10): a @ b
    best = max(best, 10 * 2 * 1024 ** 3 / (time.perf_counter() - t0) / 1e9)
print(json.dumps({"bench": "matmul", "threads": t, "n": 1024, "dtype": "float32", "gflops": round(best, 1)}))
PY
)
    emit "$line"
    MATMUL[$threads]=$($PY -c "import json,sys; print(json.loads(sys.argv[1])['gflops'])" "$line")
  done
}

compare() {  # workload learner shots batch steps threads
  local workload=$1 learner=$2 shots=$3 batch=$4 steps=$5 threads=$6
  workload_args "$workload" "$shots"
  read -r mc mc_rss < <(metacat_rate "$cfg" "$steps" "$batch" "$threads" --set learner.name="$learner" "${mc_args[@]}")
  # torch.set_num_threads does not reach OpenBLAS: its pool is sized here.
  local ref_lines=""
  for impl in loop func; do
    ref_lines+="$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads $REF $ref_args --learner "$learner" \
      --impl $impl --meta-batch "$batch" --steps "$steps" --warmup $WARM --threads "$threads" 2>/dev/null)"$'\n'
  done
  emit "$($PY - "$ref_lines" "$mc" "$mc_rss" "$workload" "$learner" "$shots" "$batch" "$threads" \
      "$(flops_per_task "$workload" "$learner" "$shots")" "${MATMUL[$threads]:-0}" <<'PY'
import json, sys
loop, func = [json.loads(l) for l in sys.argv[1].split("\n") if l.strip()]
mc, mc_rss = float(sys.argv[2]), float(sys.argv[3])
flops, peak = float(sys.argv[9]), float(sys.argv[10])
print(json.dumps({"bench": "perf", "workload": sys.argv[4], "learner": sys.argv[5], "shots": int(sys.argv[6]),
                  "meta_batch": int(sys.argv[7]), "threads": int(sys.argv[8]), "torch": loop["torch"],
                  "metacat_tasks_per_s": mc, "pytorch_tasks_per_s": loop["tasks_per_s"],
                  "torch_func_tasks_per_s": func["tasks_per_s"],
                  "ratio": round(mc / loop["tasks_per_s"], 2), "ratio_func": round(mc / func["tasks_per_s"], 2),
                  "metacat_gflops": round(mc * flops / 1e9, 2), "pytorch_gflops": round(loop["tasks_per_s"] * flops / 1e9, 2),
                  "matmul_gflops": peak, "gflop_per_task": round(flops / 1e9, 4),
                  "metacat_peak_rss_mb": mc_rss, "pytorch_peak_rss_mb": loop["peak_rss_mb"],
                  "torch_func_peak_rss_mb": func["peak_rss_mb"]}))
PY
)"
}

section_speed() {
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
}

# metacat against another build of itself (BASE_BIN, e.g. one built against
# Debian's LibTorch 1.13: BUILD_DIR=build-1.13 scripts/build
# -DMETACAT_TORCH=system), alternating the two binaries on every workload.
section_builds() {
  [ -x "${BASE_BIN:-}" ] || { echo "perf.sh: SECTIONS=builds needs BASE_BIN=path/to/other/metacat" >&2; exit 1; }
  for threads in 1 2; do
    for spec in "sinusoid maml 10 25 $S_STEPS" "sinusoid fomaml 10 25 $S_STEPS" \
                "fmnist maml 1 4 $C_STEPS" "fmnist maml 5 16 $C_STEPS" "fmnist fomaml 5 16 $C_STEPS" \
                "fmnist protonet 1 4 $C_STEPS" "fmnist protonet 5 16 $C_STEPS"; do
      read -r workload learner shots batch steps <<<"$spec"
      workload_args "$workload" "$shots"
      read -r base _ < <(BIN=$BASE_BIN metacat_rate "$cfg" "$steps" "$batch" "$threads" --set learner.name="$learner" "${mc_args[@]}")
      read -r mine _ < <(metacat_rate "$cfg" "$steps" "$batch" "$threads" --set learner.name="$learner" "${mc_args[@]}")
      emit "{\"bench\": \"builds\", \"workload\": \"$workload\", \"learner\": \"$learner\", \"shots\": $shots, \"meta_batch\": $batch, \"threads\": $threads, \"tasks_per_s\": $mine, \"base_tasks_per_s\": $base, \"ratio\": $($PY -c "print(round($mine / $base, 3))")}"
    done
  done
}

section_memory() {
  echo "# second-order conv4 MAML, 3-way 5-shot, meta-batch 4, 1 thread: peak RSS against inner steps"
  local dir="$tmp/mem-base"
  /usr/bin/time -f "%M" -o "$dir.rss" $BIN train --config configs/fashion-mnist.yaml --run-dir "$dir" \
    --set threads=1 --set train.steps=0 --set eval.at_end=false --set eval.val_every=0 --set comm.backend=local >/dev/null
  local base
  base=$(( $(cat "$dir.rss") / 1024 ))
  # per_task: one task's graph alive at a time; batched: all 4 at once.
  for loop in per_task batched; do
    for recompute in false true; do
      for k in 1 5 10; do
        read -r _ rss < <(metacat_rate configs/fashion-mnist.yaml 3 4 1 --set learner.name=maml --set task.shots=5 \
          --set task.queries=15 --set learner.inner_steps=$k --set learner.recompute=$recompute \
          --set learner.inner_loop=$loop)
        emit "{\"bench\": \"memory\", \"learner\": \"maml\", \"inner_loop\": \"$loop\", \"inner_steps\": $k, \"recompute\": $recompute, \"peak_rss_mb\": $rss, \"idle_rss_mb\": $base}"
      done
    done
  done
}

# Both sides train for the same meta-steps from SEEDS seeds each, then
# evaluate on fresh test tasks. A single run's CI covers only the evaluation
# episodes, not the training seed, so the comparison is between the means
# over seeds, with t-based 95% intervals over the seeds.
accuracy() {  # workload learner shots batch steps episodes seeds
  local workload=$1 learner=$2 shots=$3 batch=$4 steps=$5 episodes=$6 seeds=$7
  workload_args "$workload" "$shots"
  local eq=15 mc_vals="" ref_vals=""
  [ "$workload" = sinusoid ] && eq=50
  for seed in $(seq 1 "$seeds"); do
    local dir="$tmp/acc-$RANDOM$RANDOM"
    $BIN train --config "$cfg" --run-dir "$dir" --set threads=2 --set seed="$seed" --set train.steps="$steps" \
      --set train.meta_batch="$batch" --set learner.name="$learner" --set train.outer_lr=0.001 --set eval.val_every=0 \
      --set comm.backend=local --set eval.episodes="$episodes" --set "eval.shots=[$shots]" --set eval.queries=$eq \
      --set eval.baselines=[] "${mc_args[@]}" >/dev/null
    mc_vals+="$($PY -c "import json; print(json.load(open('$dir/eval.json'))['results'][0]['mean'])") "
    ref_vals+="$(OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 $REF $ref_args --learner "$learner" --meta-batch "$batch" \
      --steps "$steps" --warmup 0 --threads 2 --seed "$seed" --eval-episodes "$episodes" --eval-queries $eq 2>/dev/null |
      $PY -c "import json, sys; print(json.load(sys.stdin)['eval_mean'])") "
  done
  emit "$($PY - "$workload" "$learner" "$shots" "$steps" "$episodes" "$mc_vals" "$ref_vals" <<'PY'
import json, math, sys
t95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 8: 2.365, 10: 2.262}
def summary(text):
    v = [float(x) for x in text.split()]
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return v, m, t95.get(len(v), 1.96) * sd / math.sqrt(len(v))
mv, mm, mc = summary(sys.argv[6])
rv, rm, rc = summary(sys.argv[7])
print(json.dumps({"bench": "accuracy", "workload": sys.argv[1], "learner": sys.argv[2], "shots": int(sys.argv[3]),
                  "meta_steps": int(sys.argv[4]), "eval_episodes": int(sys.argv[5]),
                  "metric": "mse" if sys.argv[1] == "sinusoid" else "accuracy", "seeds": len(mv),
                  "metacat": round(mm, 4), "metacat_ci95": round(mc, 4), "pytorch": round(rm, 4), "pytorch_ci95": round(rc, 4),
                  "intervals_overlap": abs(mm - rm) <= mc + rc,
                  "metacat_per_seed": [round(x, 4) for x in mv], "pytorch_per_seed": [round(x, 4) for x in rv]}))
PY
)"
}

section_accuracy() {
  accuracy sinusoid maml 10 25 1000 300 5
  accuracy sinusoid fomaml 10 25 1000 300 5
  accuracy fmnist maml 1 4 200 300 3
  accuracy fmnist protonet 1 4 200 300 3
}

for s in $SECTIONS; do "section_$s"; done
