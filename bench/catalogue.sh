#!/usr/bin/env bash
# The catalogue-features table: cold-start users and cold-start categories
# of one generated interaction log (metacat generate), the embedding model
# meta-trained (MAML) against fine-tuning a jointly pre-trained model and
# training from scratch, with the log's true click model (oracle) as the
# ceiling: test AUC at 0/1/5/10 shots on new users / new categories.
#
# Protocol: hyper-parameters are chosen on the validation tasks only (a
# grid over learner.inner_lr x train.outer_lr, best validation AUC at the
# end of training), then the chosen setting is trained with SEEDS training
# seeds and evaluated once on the test tasks (EPISODES fixed episodes of
# QUERIES query impressions per shot count, the same for every method).
# Output: one JSON line per (kind, seed, method, shots) with mean, ci95 and
# the oracle's AUC on the same episodes; then the table over seeds.
#
#   bench/catalogue.sh                      defaults below
#   SEEDS="1 2 3" EPISODES=1000 QUERIES=20 STEPS=1000 KINDS="user category"
#   OUT=DIR keeps the log, the data and every run
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-"1 2 3"}
EPISODES=${EPISODES:-1000}
QUERIES=${QUERIES:-20}
STEPS=${STEPS:-1000}
KINDS=${KINDS:-"user category"}
GRID_INNER=${GRID_INNER:-"0.03 0.1 0.3"}
GRID_OUTER=${GRID_OUTER:-"0.001 0.003"}
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
[ -f "$out/logs/log.csv" ] || "$BIN" generate --out "$out/logs" --seed 7 >/dev/null
for kind in $KINDS; do
  [ -f "$out/$kind/manifest.h5" ] ||
    "$BIN" pack --source csv --input "$out/logs/log.csv" --schema "$out/logs/schema-$kind.yaml" \
      --out "$out/$kind" --quiet >/dev/null
done
common() {  # KIND (user | category)
  local config=configs/catalogue-users.yaml
  [ "$1" = category ] && config=configs/catalogue-categories.yaml
  echo --config "$config" --set "data.path=$out/$1" --set train.steps="$STEPS" \
    --set task.queries="$QUERIES" --set eval.queries="$QUERIES" --set eval.val_episodes=300
}
best_auc() {  # RUN_DIR: the validation AUC at the end of training
  "$PY" -c 'import json,sys
v=[json.loads(l) for l in open(sys.argv[1]+"/metrics.jsonl") if "\"split\"" in l]
print(v[-1]["metrics"]["auc"])' "$1"
}
for kind in $KINDS; do
  # 1. The grid, on validation tasks (seed 100: not a test seed).
  best="" best_v=-1
  for a in $GRID_INNER; do
    for b in $GRID_OUTER; do
      dir=$out/grid-$kind-$a-$b
      [ -f "$dir/metrics.jsonl" ] ||
        "$BIN" train $(common "$kind") --set seed=100 --set learner.inner_lr="$a" \
          --set train.outer_lr="$b" --set eval.at_end=false --set eval.val_every="$STEPS" \
          --run-dir "$dir" >/dev/null
      v=$(best_auc "$dir")
      echo "# $kind grid inner_lr $a outer_lr $b: validation auc $v" >&2
      if "$PY" -c "import sys; sys.exit(0 if $v > $best_v else 1)"; then best="$a $b" best_v=$v; fi
    done
  done
  set -- $best
  echo "# $kind: chose inner_lr $1 outer_lr $2 (validation auc $best_v)" >&2
  # 2. The chosen setting over training seeds, evaluated once on the test tasks.
  for seed in $SEEDS; do
    dir=$out/test-$kind-$seed
    [ -f "$dir/eval.json" ] ||
      "$BIN" train $(common "$kind") --set seed="$seed" --set learner.inner_lr="$1" \
        --set train.outer_lr="$2" --set eval.episodes="$EPISODES" --set eval.warm=false \
        --set eval.val_every=0 --run-dir "$dir" >/dev/null
    "$PY" - "$dir/eval.json" "$kind" "$seed" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
oracle = {r["shots"]: r["mean"] for r in res if r["method"] == "oracle"}
for r in res:
    print(json.dumps({"kind": sys.argv[2], "seed": int(sys.argv[3]), "method": r["method"],
                      "shots": r["shots"], "auc": r["mean"], "ci95": r["ci95"],
                      "coverage@10": r["metrics"].get("coverage@10"),
                      "oracle_auc": oracle.get(r["shots"])}))
PY
  done
done | tee "$out/results.jsonl"
"$PY" - "$out/results.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\nkind      method     shots  AUC mean over seeds  (per-seed means)   gap to oracle")
keys = sorted({(r["kind"], r["method"], r["shots"]) for r in rows})
for kind, method, shots in keys:
    rs = [r for r in rows if (r["kind"], r["method"], r["shots"]) == (kind, method, shots)]
    m = sum(r["auc"] for r in rs) / len(rs)
    o = sum(r["oracle_auc"] for r in rs) / len(rs)
    per = " ".join(f"{r['auc']:.4f}±{r['ci95']:.4f}" for r in rs)
    print(f"{kind:9} {method:10} {shots:5}  {m:.4f}   ({per})   {o - m:+.4f}")
PY
