#!/usr/bin/env bash
# Where a meta-step's time goes, for the conv4 Fashion-MNIST workload.
#   bench/profile.sh [LEARNER] [SHOTS] [THREADS]      defaults maml 1 1
# 1. The PyTorch reference under torch.profiler: self CPU time per ATen op
#    (the kernels metacat shares with it: convolution, batch norm, ...).
# 2. metacat under `perf record` (Debian linux-perf), when perf is allowed
#    here: samples per shared object (the [JIT] entries are oneDNN's
#    convolution kernels) and the top symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
LEARNER=${1:-maml}
SHOTS=${2:-1}
THREADS=${3:-1}
BIN=${BIN:-build/metacat}
[ -f data/fashion-mnist/manifest.h5 ] || $BIN pack --source fashion-mnist --out data/fashion-mnist --quiet
echo "# reference ($LEARNER, 3-way $SHOTS-shot, meta-batch 4, $THREADS thread(s)): self CPU per op"
OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS /usr/bin/python3 - "$LEARNER" "$SHOTS" "$THREADS" <<'PY'
import runpy, sys, torch
learner, shots, threads = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = ["meta_reference.py", "--workload", "fmnist", "--ways", "3", "--shots", shots, "--queries", "15",
            "--inner-lr", "0.4", "--width", "32", "--learner", learner, "--meta-batch", "4", "--steps", "10",
            "--warmup", "3", "--threads", threads]
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    try:
        runpy.run_path("bench/reference/meta_reference.py", run_name="__main__")
    except SystemExit:
        pass
events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
total = sum(e.self_cpu_time_total for e in events)
for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]:
    print(f"{100 * e.self_cpu_time_total / total:6.2f}%  {e.key}")
PY
if ! command -v perf >/dev/null || ! perf record -o /dev/null true >/dev/null 2>&1; then
  echo "# perf is not available or not permitted here: skipping metacat's profile"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# metacat ($LEARNER, same workload): samples per shared object, then top symbols"
perf record -q -F 1000 -o "$tmp/perf.data" $BIN train --config configs/fashion-mnist.yaml --run-dir "$tmp/run" \
  --set threads="$THREADS" --set learner.name="$LEARNER" --set task.shots="$SHOTS" --set task.queries=15 \
  --set train.meta_batch=4 --set train.steps=40 --set eval.at_end=false --set eval.val_every=0 \
  --set comm.backend=local >/dev/null 2>&1
perf report -q -i "$tmp/perf.data" --no-children --sort dso 2>/dev/null | head -12
perf report -q -i "$tmp/perf.data" --no-children --sort symbol 2>/dev/null | head -15 | cut -c1-110 | sed "s/ *$//"
