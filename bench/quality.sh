#!/usr/bin/env bash
# Test quality of every learner over several training seeds: each learner
# is meta-trained SEEDS times (seed 1..SEEDS) and evaluated on the same fixed
# test episodes; the table gives the mean over seeds with a t-based 95%
# interval over the seeds (one run's own interval only covers its episodes).
#
# Usage: bench/quality.sh [fashion-mnist|preference] [extra --set arguments...]
#   SEEDS=3 LEARNERS="maml protonet ..." STEPS=N (default: the config's)
#   OUT=DIR keeps the runs; JSON=FILE keeps the JSON lines.
# Baselines: finetune (its own joint pre-training per seed), scratch and,
# on the preference catalogue, the true click model's scores (oracle): the
# last two have no training seed and are shown with their episodes' CI.
# fashion-mnist runs the demo's config (configs/fashion-mnist-demo.yaml,
# chosen on validation classes: bench/README.md, "Learning quality") for
# every learner; preference runs configs/preference.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD=${1:-fashion-mnist}
shift || true
BIN=${BIN:-build/metacat}
SEEDS=${SEEDS:-3}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
case "$WORKLOAD" in
  fashion-mnist)
    CONFIG=configs/fashion-mnist-demo.yaml
    LEARNERS=${LEARNERS:-"maml protonet finetune protomaml fomaml anil metasgd reptile"}
    [ -f data/fashion-mnist/manifest.h5 ] || "$BIN" pack --source fashion-mnist --out data/fashion-mnist
    ;;
  preference)
    CONFIG=configs/preference.yaml
    LEARNERS=${LEARNERS:-"maml fomaml anil metasgd reptile protonet finetune"}
    ;;
  *) echo "usage: bench/quality.sh [fashion-mnist|preference] [--set ...]" >&2; exit 2 ;;
esac
steps=()
[ -n "${STEPS:-}" ] && steps=(--set train.steps="$STEPS")

settings() {  # learner -> extra --set arguments
  local s=""
  if [ "$WORKLOAD" = fashion-mnist ]; then
    # The demo config's MAML++ options belong to gradient learners; ANIL
    # does not adapt the body (no per-step batch norm), Meta-SGD has rates
    # of its own.
    case "$1" in
      reptile | protonet | finetune) s="--set learner.per_step_rates=false --set learner.per_step_bn=false --set learner.multi_step_loss=false" ;;
      # ANIL: no per-step batch norm (the body is not adapted); FOMAML: first
      # order gives the support steps' batch norm no meta-gradient.
      anil | fomaml) s="--set learner.per_step_bn=false" ;;
      metasgd) s="--set learner.per_step_rates=false" ;;
    esac
    # The demo's embedding normalisation is ProtoNet's alone.
    [ "$1" = protonet ] || s="$s --set learner.embedding_norm=none"
  else
    # The descriptor start is the preference workload's own (configs/preference.yaml).
    case "$1" in protonet | reptile | finetune) s="--set learner.descriptor_init=false" ;; esac
  fi
  # Reptile's update is an SGD step of size epsilon on theta - theta'.
  [ "$1" = reptile ] && s="$s --set train.optimizer=sgd --set train.outer_lr=0.5 --set learner.inner_steps=5 --set learner.inner_lr=0.05 --set learner.eval_inner_steps=5"
  echo "$s"
}

for learner in $LEARNERS; do
  for seed in $(seq 1 "$SEEDS"); do
    dir="$out/$learner-s$seed"
    [ -f "$dir/eval.json" ] && continue
    baselines="[]"
    # Baselines without a training seed, once: scratch, and on the synthetic
    # catalogue the true click model (oracle).
    if [ "$learner" = finetune ] && [ "$seed" = 1 ]; then
      baselines="[scratch]"
      [ "$WORKLOAD" = preference ] && baselines="[scratch, oracle]"
    fi
    # shellcheck disable=SC2046
    "$BIN" train --config "$CONFIG" --run-dir "$dir" --set learner.name="$learner" \
      --set seed="$seed" --set eval.baselines="$baselines" --set eval.learners=[] \
      --set train.log_every=1000000 \
      $(settings "$learner") "${steps[@]}" "$@" > "$out/$learner-s$seed.log" 2>&1 ||
      { echo "quality: $learner seed $seed failed, see $out/$learner-s$seed.log" >&2; exit 1; }
  done
done

python3 - "$out" "$WORKLOAD" "$SEEDS" $LEARNERS <<'EOF' | tee ${JSON:+"$JSON"}
import glob, json, math, os, statistics, sys
out, workload, seeds, learners = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
# two-sided 95% Student t quantiles, by degrees of freedom
T = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
rows = {}  # (method, group, shots) -> list of (mean, ci95) over seeds
metric = None
for learner in learners:
    for s in range(1, seeds + 1):
        for r in json.load(open(os.path.join(out, f"{learner}-s{s}", "eval.json")))["results"]:
            metric = r["metric"]
            key = (r["method"], r.get("categories", ""), r["shots"])
            rows.setdefault(key, []).append((r["mean"], r["ci95"]))
table = []
for (method, group, shots), v in rows.items():
    means = [m for m, _ in v]
    mean = statistics.mean(means)
    if len(means) > 1:
        half = T.get(len(means) - 1, 1.96) * statistics.stdev(means) / math.sqrt(len(means))
        basis = "seeds"
    else:  # scratch: no training seed; its episodes' interval
        half, basis = v[0][1], "episodes"
    line = {"bench": "quality", "workload": workload, "method": method, "shots": shots,
            metric: round(mean, 4), "ci95": round(half, 4), "ci_over": basis,
            "seeds": len(means), "per_seed": [round(m, 4) for m in means]}
    if group:
        line["categories"] = group
    print(json.dumps(line))
    table.append((group, shots, method, mean, half, basis, len(means)))
print()
print(f"| categories | shots | method | {metric} (mean over seeds ± t 95%) | seeds |")
print("| --- | --- | --- | --- | --- |")
for group, shots, method, mean, half, basis, n in sorted(table, key=lambda t: (t[0], t[1], -t[3])):
    note = "" if basis == "seeds" else " (episodes' CI)"
    print(f"| {group or '-'} | {shots} | {method} | {mean:.4f} ± {half:.4f}{note} | {n} |")
EOF
