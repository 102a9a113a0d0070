#!/usr/bin/env bash
# Runs metacat's sbatch scripts on a real single-node Slurm cluster started
# here (tests/slurm/cluster.sh). Exit 77 (CTest: skipped) with the reason
# when Slurm cannot run here.
#   tests/slurm/slurm_test.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?BUILD_DIR}" && pwd)
# Under /tmp itself, not TMPDIR: slurmstepd's socket paths under $D/spool
# must stay within the 107 characters of a Unix socket path.
D=$(mktemp -d /tmp/metacat-slurm.XXXXXX)
# The cluster's directory is kept (for its daemons' logs) only when the test failed.
trap 'rc=$?; "$here/cluster.sh" stop "$D"; case $rc in 0|77) rm -rf "$D" ;; *) echo "kept $D" ;; esac; exit $rc' EXIT
"$here/cluster.sh" start "$D" || exit $?
export SLURM_CONF=$D/slurm.conf OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export METACAT=$build/metacat METACAT_HOME=$root
cd "$D" || exit 1
passed=0 failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
wait_done() {  # JOBID TIMEOUT_S: until the job has COMPLETED (or failed for good)
  for _ in $(seq 1 $(( $2 * 2 ))); do
    case "$(job_state "$1")" in COMPLETED) return 0 ;; FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) return 1 ;; esac
    sleep 0.5
  done
  return 1
}
params_equal() {  # two checkpoint files: identical /params and /optimizer
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
same = all(np.array_equal(a["params"][k][()], b["params"][k][()]) for k in a["params"])
same = same and all(np.array_equal(a["optimizer/exp_avg_sq"][k][()], b["optimizer/exp_avg_sq"][k][()]) for k in a["params"])
sys.exit(0 if same else 1)
PY
}
cfg=$root/configs/sinusoid.yaml

# 1. train.sbatch with 2 tasks, given metacat train's flags, completes and
#    prints its final evaluation (2 and 3 use the positional forms).
if sbatch --wait --parsable -o "$D/a.out" "$root/slurm/train.sbatch" --config "$cfg" --run-dir "$D/run-a" \
     --set train.steps=300 --set=eval.episodes=50 >/dev/null && grep -q "maml .*10-shot  mse" "$D/a.out"; then
  ok "train.sbatch --config --run-dir completes with its evaluation in the job log"
else
  bad "train.sbatch: $(tail -5 "$D/a.out" 2>/dev/null)"
fi

# 2. Preemption: the warning signal makes the job checkpoint, requeue,
#    resume and complete, ending where an uninterrupted run ends.
steps=8000
mpirun --oversubscribe -np 2 "$METACAT" train --config "$cfg" --run-dir "$D/run-ref" \
  --set train.steps=$steps --set eval.at_end=false --set threads=1 --set comm.backend=mpi >/dev/null 2>&1
jid=$(sbatch --parsable -o "$D/b.out" "$root/slurm/train.sbatch" "$cfg" "$D/run-b" \
      --set train.steps=$steps --set eval.at_end=false)
for _ in $(seq 1 120); do [ -s "$D/run-b/metrics.jsonl" ] && break; sleep 0.5; done
scancel --signal=USR1 --batch "$jid"
if wait_done "$jid" 240 && grep -q "restart 1" "$D/b.out" && grep -q "requeueing" "$D/b.out" \
   && params_equal "$D/run-ref/checkpoints/step-0000$steps.h5" "$D/run-b/checkpoints/step-0000$steps.h5"; then
  ok "preempted job checkpointed, requeued (SLURM_RESTART_COUNT=1), resumed, and matches the uninterrupted run bit for bit"
else
  bad "preemption: state $(job_state "$jid"); log: $(grep metacat: "$D/b.out" | tail -6)"
fi

# 3. A sweep of 2 array tasks completes with 2 run directories.
if sbatch --wait --parsable --array=0-1 -o "$D/c-%A_%a.out" "$root/slurm/sweep.sbatch" "$cfg" "$D/sweep" \
     learner.inner_lr 0.01 0.02 -- --set train.steps=100 --set eval.at_end=false >/dev/null \
   && [ -f "$D/sweep/learner.inner_lr=0.01/checkpoints/step-00000100.h5" ] \
   && [ -f "$D/sweep/learner.inner_lr=0.02/checkpoints/step-00000100.h5" ]; then
  ok "sweep.sbatch array of 2 completes with 2 run directories"
else
  bad "sweep: $(ls "$D/sweep" 2>&1; tail -3 "$D"/c-*.out 2>/dev/null)"
fi

# 4. A wrong argument fails the job at once: exit 1, the usage in the job log.
sbatch --wait --parsable -o "$D/d.out" "$root/slurm/train.sbatch" --config "$cfg" --steps 10 >/dev/null
rc=$?
if [ "$rc" -eq 1 ] && grep -q "train.sbatch: unknown argument '--steps'" "$D/d.out" && grep -q "^usage: sbatch" "$D/d.out" \
   && [ ! -e "$D/runs" ]; then
  ok "a wrong argument fails the job with exit 1 and the usage in its log"
else
  bad "wrong argument: sbatch --wait exit $rc; log: $(head -3 "$D/d.out" 2>/dev/null)"
fi

echo "slurm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
