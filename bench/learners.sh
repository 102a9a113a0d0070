#!/usr/bin/env bash
# Test accuracy of every learner on one config (default: the demo), each on
# the same fixed evaluation episodes. Prints one JSON line per (learner, shots).
# Usage: bench/learners.sh [CONFIG] [extra --set arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/fashion-mnist.yaml}
shift || true
BIN=${BIN:-build/metacat}
LEARNERS=${LEARNERS:-maml fomaml reptile anil metasgd protonet}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
for learner in $LEARNERS; do
  extra=()
  # Reptile's update is an SGD step of size epsilon on theta - theta'.
  [ "$learner" = reptile ] && extra=(--set train.optimizer=sgd --set train.outer_lr=0.5 --set learner.inner_steps=5 --set learner.inner_lr=0.05 --set learner.eval_inner_steps=5)
  "$BIN" train --config "$CONFIG" --run-dir "$out/$learner" --set learner.name=$learner \
    --set eval.baselines=[] "${extra[@]}" "$@" > "$out/$learner.log"
  python3 -c "
import json,sys
for r in json.load(open('$out/$learner/eval.json'))['results']:
    print(json.dumps({'bench':'learners','config':'$CONFIG','learner':r['method'],**({'categories':r['categories']} if 'categories' in r else {}),'shots':r['shots'],r['metric']:round(r['mean'],4),'ci95':round(r['ci95'],4),'episodes':r['episodes']}))"
done
