#!/usr/bin/env bash
# Methods of finished catalogue runs trained again with changed settings,
# against the runs' other methods, on the runs' own test episodes:
#   FT_SET       each RUN's finetune pre-training (RUN/baselines/finetune,
#                as `metacat train` made it for its finetune baseline) is
#                trained again from its record (config.yaml) with these
#                overrides and evaluated with `metacat eval --checkpoint`
#                (the record's eval.* settings: RUN's episodes);
#   LEARNER_SET  each RUN's learner is trained again from RUN/config.yaml
#                with these overrides and evaluated at the end of training
#                (without baselines); its rows replace RUN's learner rows,
#                and RUN's learner+metaemb rows (made from the old
#                learner) are left out.
# Every other row is RUN's eval.json. Then bench/catalogue_table.py prints
# the table over the runs (training seeds) and the learner against both
# baselines.
#
# With FT_SET, before any changed setting runs, the first RUN's
# pre-training is trained again unchanged; the script refuses to go on
# unless that reproduces RUN's finetune rows bit for bit. (No such check
# for LEARNER_SET: the learner's run is its training's own evaluation.)
# FT_SET overrides keys of the pre-training run itself (a finetune
# learner's run): data.*, train.*, model.*; baselines.finetune.* keys mean
# nothing there and are refused. Runs are kept in OUT under names with a
# digest of RUN's full path and of the overrides; remove OUT after
# rebuilding metacat.
#
#   FT_SET="--set data.id_dropout=0.3" OUT=DIR bench/retrain.sh RUN...
#   (RUN: a run directory of bench/catalogue.sh, e.g. OUT/test-category-1)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
FT_SET=${FT_SET:-}
LEARNER_SET=${LEARNER_SET:-}
[ $# -ge 1 ] || { echo "usage: FT_SET=\"--set KEY=VALUE ...\" LEARNER_SET=\"...\" OUT=DIR $0 RUN..." >&2; exit 2; }
[ -n "${OUT:-}" ] || { echo "$0: set OUT (it keeps the pre-trainings)" >&2; exit 2; }
case "$FT_SET" in *baselines.finetune.*)
  echo "$0: FT_SET sets keys of the pre-training run itself (data.*, train.*, ...); its" \
       "baselines.finetune.* keys mean nothing there" >&2
  exit 2 ;;
esac
mkdir -p "$OUT"
rows() { "$PY" bench/catalogue_table.py rows "$@"; }  # EVAL_JSON KIND SEED [selection]
digest() { printf '%s' "$1" | md5sum | cut -c1-8; }
name() { echo "$(basename "$1")-$(digest "$(realpath "$1")")"; }  # RUN's name in OUT
# One pre-training and its evaluation: RUN TAG OVERRIDES...
again() {
  local run=$1 tag=$2
  shift 2
  local rec=$run/baselines/finetune/config.yaml dir
  dir=$OUT/$(name "$run")-$tag
  [ -f "$rec" ] || { echo "$0: $run has no finetune pre-training ($rec)" >&2; exit 1; }
  # Its evaluation is written last: without it, training resumes or completes.
  if [ ! -f "$dir.json" ]; then
    "$BIN" train --config "$rec" "$@" --set eval.at_end=false --set eval.val_every=0 \
      --run-dir "$dir" --resume auto >"$dir.train.log" 2>&1 ||
      { echo "$0: pre-training failed, see $dir.train.log" >&2; exit 1; }
    "$BIN" eval --checkpoint "$dir" --json "$dir.json" >"$dir.eval.log" 2>&1 ||
      { echo "$0: evaluation failed, see $dir.eval.log" >&2; exit 1; }
  fi
  echo "$dir.json"
}
# The check: the first run's own pre-training, unchanged, gives its rows.
if [ -n "$FT_SET" ]; then
  first=$1
  got=$(again "$first" same)
  mine=$(rows "$got" k 0 --oracle-from "$first/eval.json" --only finetune)
  theirs=$(rows "$first/eval.json" k 0 --only finetune)
  if [ -z "$theirs" ] || [ "$mine" != "$theirs" ]; then
    echo "$0: $first's pre-training, trained again unchanged, does not reproduce its finetune" \
         "rows ($got against $first/eval.json); not comparing" >&2
    exit 1
  fi
  echo "# $first: its pre-training again reproduces its finetune rows bit for bit" >&2
fi
# The learner again: RUN OVERRIDES... (prints its eval.json)
learner_again() {
  local run=$1 dir
  shift
  dir=$OUT/$(name "$run")-learner-$(digest "$*")
  [ -f "$dir/eval.json" ] ||
    "$BIN" train --config "$run/config.yaml" "$@" --set "eval.baselines=[]" --set "eval.learners=[]" \
      --set eval.val_every=0 \
      --run-dir "$dir" --resume auto >"$dir.log" 2>&1 ||
    { echo "$0: the learner's run failed, see $dir.log" >&2; exit 1; }
  echo "$dir/eval.json"
}
for run in "$@"; do
  seed=$(sed -n 's/^seed: //p' "$run/config.yaml")
  kind=$(basename "$(sed -n 's/^  path: //p' "$run/config.yaml" | head -1)")
  if [ -n "$LEARNER_SET" ]; then
    # shellcheck disable=SC2086 # a list of words
    l=$(learner_again "$run" $LEARNER_SET)
    rows "$l" "$kind" "$seed" --oracle-from "$run/eval.json" --learner
    rows "$run/eval.json" "$kind" "$seed" --only scratch,oracle
  else
    rows "$run/eval.json" "$kind" "$seed" --without finetune
  fi
  if [ -n "$FT_SET" ]; then
    # shellcheck disable=SC2086 # a list of words
    f=$(again "$run" "ft-$(digest "$FT_SET")" $FT_SET)
    rows "$f" "$kind" "$seed" --oracle-from "$run/eval.json" --only finetune
  else
    rows "$run/eval.json" "$kind" "$seed" --only finetune
  fi
done >"$OUT/results.jsonl"
echo "# finetune pre-training with: ${FT_SET:-(unchanged)}; learner with: ${LEARNER_SET:-(unchanged)}" >&2
"$PY" bench/catalogue_table.py "$OUT/results.jsonl"
