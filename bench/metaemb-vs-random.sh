#!/usr/bin/env bash
# New items of new categories: generated id rows against random ones, on
# the same test episodes, over the training seeds of already trained runs.
#
# Every item of a new category is new as a scored item, but a training
# user's click history may name it, so the trained model holds a row for it
# learned as a history entry. A brand-new item has no such row. With
# `baselines.metaemb.replace: unshown` all those rows are replaced, once by
# the generator's rows (rows_as: generated) and once by fresh N(0, 0.1^2)
# rows (rows_as: random, an untrained row drawn from the run's training
# seed; no generator is trained for it), and the two evaluations are
# compared per episode (bench/paired.py, checked to be the same episodes by
# the learner's own identical scores). Every run is evaluated on the same
# test episodes (the config's eval.seed).
#
# RUN...: run directories of the same config and log, one per training
# seed (e.g. bench/catalogue.sh's OUT/test-category-S). It prints each
# run's paired difference per shot count, and over the runs the mean ±
# t-interval of those differences. An OUT that holds a run's evaluations
# for the same EPISODES and SHOTS reuses them.
#
#   bench/metaemb-vs-random.sh RUN...   EPISODES=500 SHOTS="[0]" LEARNER=maml OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
EPISODES=${EPISODES:-500}
SHOTS=${SHOTS:-"[0]"}
LEARNER=${LEARNER:-maml}  # the runs' learner.name
[ $# -ge 1 ] || { echo "usage: bench/metaemb-vs-random.sh RUN..." >&2; exit 2; }
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
tag=$EPISODES-$(echo "$SHOTS" | tr -cd '0-9,' | tr , -)
pairs=()
for run in "$@"; do
  name=$(basename "$run")
  for how in generated random; do
    f=$out/$name-$tag-$how
    [ -f "$f.json" ] || "$BIN" eval --checkpoint "$run" --baseline metaemb \
      --set eval.episodes="$EPISODES" --set "eval.shots=$SHOTS" --set eval.warm=false \
      --set baselines.metaemb.replace=unshown --set baselines.metaemb.rows_as=$how \
      --json "$f.json" >"$f.log" 2>&1 || { echo "eval of $run failed:" >&2; tail -n 5 "$f.log" >&2; exit 1; }
  done
  grep -o "generator of.*" "$out/$name-$tag-generated.log" | sed "s/^/# $name: /" || true
  pairs+=("$out/$name-$tag-generated.json" "$out/$name-$tag-random.json")
done
# Each run's generated - random, paired per episode (checked to be the same
# episodes), then over the runs.
"$PY" bench/paired.py "${pairs[@]}" --method "$LEARNER+metaemb" --same "$LEARNER"
