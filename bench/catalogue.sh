#!/usr/bin/env bash
# The catalogue-features table: cold-start users and cold-start categories
# of one generated interaction log (metacat generate), the embedding model
# meta-trained (MAML) against fine-tuning a jointly pre-trained model and
# training from scratch, with the log's true click model (oracle) as the
# ceiling: test AUC at 0/1/5/10 shots on new users / new categories.
#
# Protocol: every hyper-parameter is chosen on the validation tasks only:
# MAML's learner.inner_lr x train.outer_lr (a grid), then the baselines'
# support-set adaptation, on a joint pre-training (finetune:
# baselines.finetune.lr x steps) and from scratch (baselines.scratch.lr x
# steps): each by its mean validation AUC at 1/5/10 shots (300 episodes).
# The chosen settings are trained with SEEDS training seeds and evaluated
# once on the test tasks (EPISODES fixed episodes of QUERIES
# query impressions per shot count, the same for every method), with the
# metaemb baseline (new items' id embeddings from their attributes).
# The joint pre-training of the finetune baseline gets as many steps (of as
# many tasks) as the meta-training: the same data budget.
# The log (GEN): 6000 users, 1000 categories, at least 40 impressions per
# user, so that a category task family has hundreds of training tasks and
# a user episode has room for 30 query impressions next to 10 shots.
# Output: one JSON line per (kind, seed, method, shots) with mean, ci95 and
# the oracle's AUC on the same episodes; then the table over seeds.
#
#   bench/catalogue.sh                      defaults below
#   SEEDS="1 2 3" EPISODES=1000 QUERIES=30 STEPS=1000 KINDS="user category"
#   GEN="--users 6000 --categories 1000 --min-impressions 40" (metacat generate;
#   add "--taste-spread 1.5 --category-spread 1 --exposure-focus 0.3" for a
#   log where a new user's or category's labels tell what its department
#   and exposure do not: bench/README.md, "A log where the labels carry the
#   taste")
#   USER_HISTORY=0 packs the user kind without the history column (new
#   users with no clicks before their support set; bench/catalogue_bound.py
#   measures what the history tells an ideal learner)
#   OUT=DIR keeps the log, the data and every run
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-"1 2 3"}
EPISODES=${EPISODES:-1000}
QUERIES=${QUERIES:-30}
STEPS=${STEPS:-1000}
KINDS=${KINDS:-"user category"}
GEN=${GEN:-"--users 6000 --categories 1000 --min-impressions 40"}
USER_HISTORY=${USER_HISTORY:-1}
GRID_INNER=${GRID_INNER:-"0.01 0.03 0.1 0.3 1"}
GRID_OUTER=${GRID_OUTER:-"0.003 0.01 0.03"}
FT_LR=${FT_LR:-"0.001 0.003 0.01"}
FT_STEPS=${FT_STEPS:-"5 20"}
SCRATCH_LR=${SCRATCH_LR:-"0.01 0.03 0.1"}
SCRATCH_STEPS=${SCRATCH_STEPS:-"20 50"}
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
# An OUT keeps its data and runs for a rerun of the same settings: refuse
# one made with other configs, log, history or step and query counts,
# whose cached runs would be silently reused.
settings=$(cat configs/catalogue-users.yaml configs/catalogue-categories.yaml
  echo "GEN=$GEN USER_HISTORY=$USER_HISTORY STEPS=$STEPS QUERIES=$QUERIES")
if [ -f "$out/settings" ]; then
  if [ "$(cat "$out/settings")" != "$settings" ]; then
    echo "bench/catalogue.sh: $out holds runs of other settings (configs, GEN, USER_HISTORY," \
      "STEPS or QUERIES; see $out/settings): use another OUT" >&2
    exit 1
  fi
else
  printf '%s\n' "$settings" >"$out/settings"
fi
[ -f "$out/logs/log.csv" ] || "$BIN" generate --out "$out/logs" --seed 7 $GEN >/dev/null
for kind in $KINDS; do
  schema=$out/logs/schema-$kind.yaml
  if [ "$kind" = user ] && [ "$USER_HISTORY" = 0 ]; then
    # New users as they arrive: no click history; the support set is all
    # the model learns about them from.
    sed 's/^  history: .*/  history:   {role: ignore}/' "$schema" >"$out/logs/schema-user-nohistory.yaml"
    grep -q 'history:   {role: ignore}' "$out/logs/schema-user-nohistory.yaml"
    schema=$out/logs/schema-user-nohistory.yaml
  fi
  [ -f "$out/$kind/manifest.h5" ] ||
    "$BIN" pack --source csv --input "$out/logs/log.csv" --schema "$schema" \
      --out "$out/$kind" --quiet >/dev/null
done
config() {  # KIND (user | category)
  if [ "$1" = category ]; then
    echo configs/catalogue-categories.yaml
  else
    echo configs/catalogue-users.yaml
  fi
}
common() {  # KIND
  echo --config "$(config "$1")" --set "data.path=$out/$1" --set train.steps="$STEPS" \
    --set task.queries="$QUERIES" --set eval.queries="$QUERIES" --set eval.val_episodes=300
}
mean_auc() {  # EVAL_JSON METHOD: its AUC averaged over the shot counts
  "$PY" -c 'import json,sys
v=[r["mean"] for r in json.load(open(sys.argv[1]))["results"] if r["method"]==sys.argv[2]]
print(sum(v)/len(v))' "$1" "$2"
}
better() { "$PY" -c "import sys; sys.exit(0 if $1 > $2 else 1)"; }
val=(--set eval.split=val --set "eval.shots=[1,5,10]" --set eval.episodes=300 --set eval.warm=false)
for kind in $KINDS; do
  # 1. The grid, on validation tasks (seed 100: not a test seed).
  best="" best_v=-1
  for a in $GRID_INNER; do
    for b in $GRID_OUTER; do
      dir=$out/grid-$kind-$a-$b
      grep -q '"split"' "$dir/metrics.jsonl" 2>/dev/null ||
        "$BIN" train $(common "$kind") --set seed=100 --set learner.inner_lr="$a" \
          --set train.outer_lr="$b" --set eval.at_end=false --set eval.val_every="$STEPS" \
          --run-dir "$dir" --resume auto >/dev/null
      [ -f "$dir/val.json" ] || "$BIN" eval --checkpoint "$dir" "${val[@]}" --json "$dir/val.json" >/dev/null
      v=$(mean_auc "$dir/val.json" maml)
      echo "# $kind grid inner_lr $a outer_lr $b: validation auc (1/5/10 shots) $v" >&2
      if better "$v" "$best_v"; then best="$a $b" best_v=$v; fi
    done
  done
  if [ -z "$best" ]; then echo "# $kind: no MAML setting has a validation AUC" >&2; exit 1; fi
  set -- $best
  echo "# $kind: chose inner_lr $1 outer_lr $2 (validation auc $best_v)" >&2
  # 1b. The baselines' adaptation on validation tasks: a joint pre-training
  # (as the finetune baseline makes one: learner finetune, the run's Adam
  # rate) at seed 100, and scratch (evaluated next to the chosen MAML run).
  ft=$out/ft-$kind-$2
  "$BIN" train $(common "$kind") --set seed=100 --set learner.name=finetune \
      --set learner.inner_params=dense --set learner.inner_loss=mean \
      --set train.steps="$STEPS" \
      --set train.outer_lr="$2" --set eval.at_end=false --set eval.val_every=0 --run-dir "$ft" \
      --resume auto >/dev/null
  ft_best="" ft_v=-1
  for a in $FT_LR; do
    for b in $FT_STEPS; do
      f=$ft/val-$a-$b.json
      [ -f "$f" ] || "$BIN" eval --checkpoint "$ft" "${val[@]}" --set baselines.finetune.lr="$a" \
        --set baselines.finetune.steps="$b" --json "$f" >/dev/null
      v=$(mean_auc "$f" finetune)
      echo "# $kind finetune lr $a steps $b: validation auc (1/5/10 shots) $v" >&2
      if better "$v" "$ft_v"; then ft_best="$a $b" ft_v=$v; fi
    done
  done
  sc_best="" sc_v=-1
  for a in $SCRATCH_LR; do
    for b in $SCRATCH_STEPS; do
      f=$out/grid-$kind-$1-$2/scratch-$a-$b.json
      [ -f "$f" ] || "$BIN" eval --checkpoint "$out/grid-$kind-$1-$2" "${val[@]}" --baseline scratch \
        --set baselines.scratch.lr="$a" --set baselines.scratch.steps="$b" --json "$f" >/dev/null
      v=$(mean_auc "$f" scratch)
      echo "# $kind scratch lr $a steps $b: validation auc (1/5/10 shots) $v" >&2
      if better "$v" "$sc_v"; then sc_best="$a $b" sc_v=$v; fi
    done
  done
  if [ -z "$ft_best" ] || [ -z "$sc_best" ]; then
    echo "# $kind: no finetune or scratch setting has a validation AUC; see $ft" >&2
    exit 1
  fi
  set -- $best $ft_best $sc_best
  echo "# $kind: chose finetune lr $3 steps $4, scratch lr $5 steps $6" >&2
  # 2. The chosen setting over training seeds, evaluated once on the test tasks.
  for seed in $SEEDS; do
    dir=$out/test-$kind-$seed
    [ -f "$dir/eval.json" ] ||
      "$BIN" train $(common "$kind") --set seed="$seed" --set learner.inner_lr="$1" \
        --set train.outer_lr="$2" --set baselines.finetune.lr="$3" \
        --set baselines.finetune.steps="$4" --set baselines.finetune.pretrain_steps="$STEPS" \
        --set baselines.scratch.lr="$5" \
        --set baselines.scratch.steps="$6" --set eval.episodes="$EPISODES" --set eval.warm=false \
        --set eval.val_every=0 --run-dir "$dir" --resume auto >/dev/null
    "$PY" bench/catalogue_table.py rows "$dir/eval.json" "$kind" "$seed"
  done
done | tee "$out/results.jsonl"
"$PY" bench/catalogue_table.py "$out/results.jsonl"
