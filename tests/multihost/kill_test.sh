#!/usr/bin/env bash
# A host's rank dies mid-training: kill -9 the metacat rank on mc-h2 of a
# 3-host mpirun job (tests/multihost/hosts.sh). The whole job must end on
# every host within comm.timeout_s + 10 s, with a message naming the lost
# rank (1) and its host (mc-h2), and leave no process on any host.
# Exit 0 pass, 1 fail, 77 skipped (the reason printed).
#   bash tests/multihost/kill_test.sh BUILD_DIR
MH_LIMIT=${MH_LIMIT:-120}
source "$(dirname "$0")/lib.sh"
TIMEOUT_S=20

start_job "$D/job.log" "$BIN" "${TRAIN[@]}" --set train.steps=1000000 --set train.log_every=20 \
  --set comm.timeout_s=$TIMEOUT_S --run-dir "$D/run"
wait_step "$D/run" 40 60 || { bad "training did not start: $(tail -5 "$D/job.log")"; finish; }
victims=$(ranks_on mc-h2)
t0=$(mh_now)
kill -9 $victims
gone=$(mh_wait_hosts_empty "$t0" $((TIMEOUT_S + 10)))
gone_rc=$?
wait_pid "$MH_JOB" 10
rc=$?
secs=$(mh_since "$t0")
echo "killed rank process $victims on mc-h2 at step $(tail -1 "$D/run/metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')+"
echo "every host's processes ended after: $gone; mpirun exit $rc after $secs s"
# mpirun's own report names the rank and the host.
msg=$(grep -m1 'rank 1 .*on node mc-h2' "$D/job.log")
echo "message naming the lost rank and host: ${msg:-none}"
echo "all messages:"; grep -E 'rank|node|host:|watchdog|error|fatal' "$D/job.log" | sed 's/^/  | /'
if [ "$gone_rc" -eq 0 ] && [ "$rc" -ne 124 ]; then
  ok "the job ended on every host $gone after the kill (limit $((TIMEOUT_S + 10)) s)"
else
  bad "the job did not end within $((TIMEOUT_S + 10)) s: $gone; mpirun exit $rc"
fi
if [ -n "$msg" ]; then ok "a message names rank 1 and mc-h2"; else bad "no message names rank 1 on mc-h2"; fi
finish
