#!/usr/bin/env bash
# A checkpoint write cut short by the loss of rank 0's host: a 3-host mpirun
# job (tests/multihost/hosts.sh) checkpoints every step; the moment a
# checkpoint's temporary file appears, everything on mc-h1 (rank 0, the
# writer, and its orted) is frozen (SIGSTOP) and, if the write is still
# unfinished, killed (kill -9): the host is gone mid-write. The job must end
# on every host within comm.timeout_s + 10 s; every step-*.h5 left must
# verify (`metacat inspect --verify`); the next run with --resume auto on the
# 3 hosts must resume from the newest of them and complete, with the same
# final parameter bits as an uninterrupted single-process run.
# Exit 0 pass, 1 fail, 77 skipped (the reason printed).
#   bash tests/multihost/checkpoint_test.sh BUILD_DIR
MH_LIMIT=${MH_LIMIT:-150}
source "$(dirname "$0")/lib.sh"
TIMEOUT_S=20
RUN=$D/run
ARGS=("${TRAIN[@]}" --set train.checkpoint_every=1 --set train.keep_checkpoints=3
  --set train.log_every=10 --set comm.timeout_s=$TIMEOUT_S --set train.lock_wait_s=20)

start_job "$D/job.log" "$BIN" "${ARGS[@]}" --set train.steps=1000000 --run-dir "$RUN"
wait_step "$RUN" 20 60 || { bad "training did not start: $(tail -5 "$D/job.log")"; finish; }

# Catch rank 0 inside a checkpoint write (step-N.h5.tmp.PID, not the
# "latest" pointer's): freeze mc-h1 when a temporary file shows, and
# kill it if the file is still there (the write unfinished); else let it go
# on and try the next write (bounded: 20 s).
host0=mc-h1
caught=
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ] && [ -z "$caught" ]; do
  # Builtins only (no fork per poll): a write lasts milliseconds.
  files=("$RUN"/checkpoints/step-*.h5.tmp.*)
  tmp=${files[0]}
  [ -e "$tmp" ] || continue
  pids=$(mh_pids "$host0")
  kill -STOP $pids 2>/dev/null
  if [ -e "$tmp" ]; then caught=$tmp; else kill -CONT $pids 2>/dev/null; fi
done
t0=$(mh_now)
mh_kill_host "$host0"
if [ -n "$caught" ]; then
  ok "killed $host0 (rank 0 and its orted) inside the write of $(basename "$caught")"
else
  bad "no checkpoint write caught in 20 s: $host0 killed between writes, which is not what this test tests"
fi
gone=$(mh_wait_hosts_empty "$t0" $((TIMEOUT_S + 10)))
gone_rc=$?
wait_pid "$MH_JOB" 5
rc=$?
echo "every host's processes ended after: $gone; mpirun exit $rc"
echo "messages:"; grep -E 'ORTE|daemon|node|rank|watchdog|error|fatal' "$D/job.log" | grep -v '^comm:\|^threads:\|^train:' | sed 's/^/  | /'
if [ "$gone_rc" -eq 0 ] && [ "$rc" -ne 124 ]; then
  ok "the job ended on every host $gone after losing $host0 (limit $((TIMEOUT_S + 10)) s)"
else
  bad "the job did not end within $((TIMEOUT_S + 10)) s: $gone; mpirun exit $rc"
fi

# Every checkpoint left verifies; the unfinished write left only its temporary file.
newest=0 bad_files=
for f in "$RUN"/checkpoints/step-*.h5; do
  [ -e "$f" ] || continue
  s=$(basename "$f" .h5)
  s=$((10#${s#step-}))
  if "$BIN" inspect --verify "$f" >"$D/verify.log" 2>&1; then
    [ "$s" -gt "$newest" ] && newest=$s
  else
    bad_files="$bad_files $(basename "$f")"
  fi
done
echo "checkpoints left: $(cd "$RUN/checkpoints" && ls | tr '\n' ' ')"
if [ -z "$bad_files" ] && [ "$newest" -gt 0 ]; then
  ok "every step-*.h5 left verifies (newest: step $newest)"
else
  bad "checkpoints that do not verify:$bad_files (newest verified: $newest)"
fi

# Resume on the 3 hosts (mc-h1 back) and complete 30 steps on.
FINAL=$((newest + 30))
ref=$(reference_params "$FINAL" --set train.checkpoint_every=1)
start_job "$D/resume.log" "$BIN" "${ARGS[@]}" --set train.steps=$FINAL --run-dir "$RUN" --resume auto
wait_pid "$MH_JOB" 90
rc=$?
from=$(grep -m1 '^resume: from' "$D/resume.log")
got=$(params_of "$(ckpt "$RUN" "$FINAL")")
echo "resumed: $from"
grep -E '^warning' "$D/resume.log" | sed 's/^/  | /'
echo "completed to step $FINAL: exit $rc, parameters $got (uninterrupted single process: $ref)"
if [ "$rc" -eq 0 ] && [[ $from == *"step $newest,"* ]] && [ -n "$got" ] && [ "$got" = "$ref" ]; then
  ok "the run resumed from step $newest and completed with the uninterrupted run's parameter bits"
else
  bad "resume: exit $rc; '$from'; parameters '$got' vs '$ref'; log: $(tail -5 "$D/resume.log")"
fi
left=$(mh_wait_hosts_empty "$(mh_now)" 10) && ok "no process left on any host" || bad "processes left: $left"
finish
