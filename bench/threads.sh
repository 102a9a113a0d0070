#!/usr/bin/env bash
# Meta-steps/s of a config at 1 and 2 intra-op threads, side by side in one
# invocation (the machine is shared: compare the ratio, not the numbers).
# Usage: bench/threads.sh [CONFIG] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/fashion-mnist.yaml}
STEPS=${2:-100}
BIN=${BIN:-build/metacat}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A rate
for threads in 1 2 1 2; do
  out=$("$BIN" train --config "$CONFIG" --run-dir "$tmp/t$threads-$RANDOM" --set threads=$threads \
        --set train.steps=$STEPS --set train.log_every=$STEPS --set eval.at_end=false)
  r=$(echo "$out" | sed -n 's/.*(\([0-9.]*\) steps\/s).*/\1/p')
  rate[$threads]="${rate[$threads]:-} $r"
  echo "{\"bench\":\"threads\",\"config\":\"$CONFIG\",\"steps\":$STEPS,\"threads\":$threads,\"ranks\":1,\"meta_steps_per_s\":$r}"
done
