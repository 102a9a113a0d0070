#!/usr/bin/env bash
# Crash sweep: kill -9 at KILLS random moments of a 2-rank run (mpirun, MPI
# backend) that checkpoints every step, so that many kills land inside a
# checkpoint write. Odd kills take the whole job at once (mpirun and both
# ranks: a lost node); even kills take rank 0 alone (the writer), and the
# rest of the job must end by itself. After every kill the newest surviving
# checkpoint must verify (`metacat inspect --verify`) and the next job must
# get the run directory (the dead job's lock is taken over); the run then
# completes with --resume auto and its final parameters must be the same
# bits as an uninterrupted run's (exact resume). Prints how many kills left
# a write unfinished (a temporary checkpoint file behind).
# Usage: crash_sweep.sh BUILD_DIR   (KILLS, SEED in the environment)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/metacat
KILLS=${KILLS:-50}
RANDOM=${SEED:-7}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
job=
cleanup() {
  [ -n "$job" ] && pkill -9 -f -- "--run-dir $tmp/" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

STEPS=100000  # never reached by the killed jobs
args=(train --config "$SRC/configs/sinusoid.yaml" --set threads=1 --set comm.backend=mpi
  --set train.keep_checkpoints=3 --set train.log_every=100000 --set eval.at_end=false
  --set eval.val_every=0 --set train.lock_wait_s=0)
params_of() {  # the parameters' checksum of a checkpoint that verifies (empty if not)
  "$BIN" inspect --verify "$1" 2>/dev/null |
    sed -n 's/^verify: OK (content xxh64 .*; parameters \(.*\))$/\1/p' || true
}

ranks_of() {  # the rank processes of this sweep's run directory
  pgrep -f -- "--run-dir $tmp/run" | while read -r p; do
    if [ "$(cat /proc/$p/comm 2>/dev/null)" = metacat ]; then echo "$p"; fi
  done
  return 0
}
rank0_of() {
  for p in $(ranks_of); do
    if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=0; then echo "$p"; fi
  done
  return 0
}

rank0_kills=0 whole_kills=0 newest_steps=()
for k in $(seq "$KILLS"); do
  # A kill lands between 0.2 s and 3.2 s after the start: during start-up,
  # resume, training and (most often) a checkpoint write.
  ms=$((200 + RANDOM % 3000))
  delay=$((ms / 1000)).$(printf %03d $((ms % 1000)))
  setsid mpirun -np 2 "$BIN" "${args[@]}" --set train.steps=$STEPS --set train.checkpoint_every=1 \
    --run-dir "$tmp/run" --resume auto >"$tmp/job$k.log" 2>&1 &
  job=$!
  disown "$job"  # no "Killed" notices from the shell: the test watches it with kill -0
  sleep "$delay"
  if ((k % 2)); then
    pkill -9 -f -- "--run-dir $tmp/run" || true  # mpirun and both ranks, at once
    whole_kills=$((whole_kills + 1))
  else
    r0=$(rank0_of)
    if [ -n "$r0" ]; then
      kill -9 "$r0" 2>/dev/null || true  # it may have died on its own meanwhile
      rank0_kills=$((rank0_kills + 1))
    else  # rank 0 has not started yet
      pkill -9 -f -- "--run-dir $tmp/run" || true
      whole_kills=$((whole_kills + 1))
    fi
  fi
  # The job must end (mpirun ends the surviving rank) within 60 s.
  end=$((SECONDS + 60))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$job" 2>/dev/null || [ -n "$(ranks_of)" ] || break
    sleep 0.1
  done
  if kill -0 "$job" 2>/dev/null || [ -n "$(ranks_of)" ]; then
    echo "FAIL: kill $k: the job did not end within 60 s of losing rank 0"
    exit 1
  fi
  job=
  newest=$(ls "$tmp/run/checkpoints"/step-*.h5 2>/dev/null | sort | tail -1 || true)
  if [ -n "$newest" ]; then
    if ! "$BIN" inspect --verify "$newest" >"$tmp/verify.log" 2>&1; then
      echo "FAIL: kill $k: the newest surviving checkpoint does not verify:"
      cat "$tmp/verify.log"
      exit 1
    fi
    newest_steps+=("$(basename "$newest" .h5)")
  fi
done

# train.lock_wait_s=0: a job that found the run directory still owned
# would have failed at once, saying so.
if grep -l "is in use by" "$tmp"/job*.log; then
  echo "FAIL: a job was refused the run directory of a dead one (lock not taken over)"
  exit 1
fi
if [ ${#newest_steps[@]} -eq 0 ]; then
  echo "FAIL: no kill left a checkpoint behind (did the jobs start? $(tail -3 "$tmp/job$KILLS.log"))"
  exit 1
fi
# Complete the run from where the kills left it, 50 steps on, and compare it
# with a run that was never interrupted (the outer rate is constant, so
# train.steps does not change what a step computes).
# Every interrupted write leaves its temporary file (named after its pid).
inside_write=$(find "$tmp/run/checkpoints" -name '*.tmp.*' | wc -l)
last=${newest_steps[${#newest_steps[@]}-1]:-step-00000000}
FINAL=$((10#${last#step-} + 50))
mpirun -np 2 "$BIN" "${args[@]}" --set train.steps=$FINAL --run-dir "$tmp/run" --resume auto \
  >"$tmp/final.log" 2>&1 || {
  echo "FAIL: the run did not complete after the kills:"
  tail -20 "$tmp/final.log"
  exit 1
}
mpirun -np 2 "$BIN" "${args[@]}" --set train.steps=$FINAL --run-dir "$tmp/ref" >"$tmp/ref.log" 2>&1 || {
  echo "FAIL: the uninterrupted reference run failed:"
  tail -20 "$tmp/ref.log"
  exit 1
}
got=$(params_of "$tmp/run/checkpoints/step-$(printf %08d $FINAL).h5")
ref=$(params_of "$tmp/ref/checkpoints/step-$(printf %08d $FINAL).h5")
echo "crash sweep: $KILLS kills ($whole_kills whole job, $rank0_kills rank 0 alone), $inside_write left a checkpoint write unfinished; every newest surviving checkpoint verified; the last kill left $last; completed to step $FINAL"
if [ -z "$got" ] || [ "$got" != "$ref" ]; then
  echo "FAIL: the final parameters ($got) differ from the uninterrupted run's ($ref)"
  exit 1
fi
# With many kills, some must have landed inside a write (50 kills: 15 did).
if [ "$KILLS" -ge 20 ] && [ "$inside_write" -eq 0 ]; then
  echo "FAIL: none of $KILLS kills landed inside a checkpoint write: the sweep did not test that"
  exit 1
fi
echo "the completed run's final parameters equal the uninterrupted run's (checksum $ref)"
