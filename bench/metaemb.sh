#!/usr/bin/env bash
# New items at 0 shots: the metaemb baseline (id embeddings generated from
# the item's attributes) against the same model with the new items' random
# id rows, on the same test episodes.
#
# Scenario: a generated shop (at least 40 impressions per user), packed per
# user with --new-items SHARE (that share of the items never appears in a
# training task), so test episodes are new users seeing known and new items.
# The embedding model is meta-trained (MAML; inner_lr / outer_lr as chosen
# on validation users by bench/catalogue.sh) with SEEDS training seeds, and
# each run is evaluated once on the test users: maml and maml+metaemb at
# SHOTS, EPISODES fixed episodes, with the paired difference.
#
# GEN adds options to `metacat generate`, e.g. "--brand-in-category 0.7"
# (structure that attributes predict and the model's own rows do not add
# up to; datasets/synthetic_logs.h). An OUT that holds a log already
# keeps it (GEN then changes nothing).
#
# SETS adds options to the training, e.g. SETS="--set model.skip=[brand,shop,tags]":
# an id-heavy model that reads items by their id, category and price only,
# while the generator still reads brand, shop and tags (tables of its own).
#
#   bench/metaemb.sh       SEEDS="1 2 3" EPISODES=1000 SHARE=0.3 GEN= SETS= OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-"1 2 3"}
EPISODES=${EPISODES:-1000}
SHARE=${SHARE:-0.3}
STEPS=${STEPS:-1000}
INNER=${INNER:-0.03}
OUTER=${OUTER:-0.01}
SHOTS=${SHOTS:-"[0,5]"}
GEN=${GEN:-}
SETS=${SETS:-}
read -ra sets <<<"$SETS"  # words, not globs: [brand,shop,tags] stays as written
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
[ -f "$out/logs/log.csv" ] || "$BIN" generate --out "$out/logs" --seed 7 --min-impressions 40 $GEN >/dev/null
[ -f "$out/user/manifest.h5" ] ||
  "$BIN" pack --source csv --input "$out/logs/log.csv" --schema "$out/logs/schema-user.yaml" \
    --out "$out/user" --new-items "$SHARE" --quiet >/dev/null
"$BIN" inspect "$out/user" | sed -n 2p >&2
for seed in $SEEDS; do
  dir=$out/run-$seed
  # --resume auto: a run stopped part-way is completed, a finished one reused.
  "$BIN" train --config configs/catalogue-users.yaml --set data.path="$out/user" \
    --set train.steps="$STEPS" --set learner.inner_lr="$INNER" --set train.outer_lr="$OUTER" \
    --set seed="$seed" --set eval.at_end=false --set eval.val_every=0 "${sets[@]}" --run-dir "$dir" \
    --resume auto >/dev/null
  [ -f "$dir/metaemb.json" ] ||
    "$BIN" eval --checkpoint "$dir" --baseline metaemb --set eval.episodes="$EPISODES" \
      --set "eval.shots=$SHOTS" --set eval.warm=false --set eval.queries=10 \
      --json "$dir/metaemb.json" > "$dir/metaemb.log"
  grep -E "generator|paired over" "$dir/metaemb.log" | sed "s/^/seed $seed: /"
done
"$PY" - "$out" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
rows = {}
for s in seeds:
    for r in json.load(open(f"{out}/run-{s}/metaemb.json"))["results"]:
        rows.setdefault((r["shots"], r["method"]), []).append(r["mean"])
print("\nshots  method         AUC per seed               mean")
for (shots, method), v in sorted(rows.items()):
    print(f"{shots:5}  {method:13}  {' '.join(f'{x:.4f}' for x in v):25}  {sum(v) / len(v):.4f}")
PY
