#!/usr/bin/env bash
# A host cut off mid-training: the veth link of mc-h2 goes down (its bridge
# end, as when a switch port dies; then its own end, as when its NIC goes
# down) during a 3-host mpirun job (tests/multihost/hosts.sh). The job must
# end on every host, mc-h2 included, within comm.timeout_s + 10 s (never
# hang), with a message naming the lost rank and host. That message is rank
# 0's: it hears every rank's heartbeat (UDP, every 0.5 s) and prints
# "comm: no heartbeat from rank 1 (mc-h2) for 2.x s" once comm.silence_s
# (2 s here) has passed. What ends the job is mpirun's oob TCP keepalive
# (lib.sh: 5 s idle, 3 probes 1 s apart): "ORTE has lost communication with
# a remote daemon ... on node mc-h2". A rank that exits first (the
# watchdog) leaves Open MPI 4.1's mpirun waiting for the lost daemon for
# good, so comm.timeout_s must be longer than the keepalive's detection;
# with Open MPI's default keepalive (MH_DEFAULTS=1) mpirun waits for minutes
# (shown, not asserted).
# Exit 0 pass, 1 fail, 77 skipped (the reason printed).
#   bash tests/multihost/cut_test.sh BUILD_DIR
MH_LIMIT=${MH_LIMIT:-${MH_DEFAULTS:+200}}
MH_LIMIT=${MH_LIMIT:-150}
source "$(dirname "$0")/lib.sh"
TIMEOUT_S=20
LIMIT=$((TIMEOUT_S + 10))

# cut_off NAME LINK_DOWN_COMMAND LINK_UP_COMMAND [MPIRUN...]: train, cut mc-h2
# off at step >= 40, measure until every host is empty, then reconnect it.
cut_off() {
  local name=$1 down=$2 up=$3 t0 gone gone_rc rc secs step
  shift 3
  local launcher=("$@")
  [ ${#launcher[@]} -gt 0 ] || launcher=("${MPIRUN[@]}")
  rm -rf "$D/run-$name"
  "${launcher[@]}" "$BIN" "${TRAIN[@]}" --set train.steps=1000000 --set train.log_every=20 \
    --set comm.timeout_s=$TIMEOUT_S --set comm.silence_s=2 --run-dir "$D/run-$name" >"$D/$name.log" 2>&1 &
  MH_JOB=$!
  if ! wait_step "$D/run-$name" 40 60; then
    bad "$name: training did not start: $(tail -5 "$D/$name.log")"
    return 1
  fi
  step=$(tail -1 "$D/run-$name/metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
  t0=$(mh_now)
  $down
  gone=$(mh_wait_hosts_empty "$t0" "$LIMIT")
  gone_rc=$?
  wait_pid "$MH_JOB" 5
  rc=$?
  secs=$(mh_since "$t0")
  echo "[$name] cut mc-h2 off ($down) after step $step"
  echo "[$name] every host's processes ended after: $gone; mpirun exit $rc ($secs s after the cut)"
  echo "[$name] messages:"
  grep -E 'ORTE|daemon|node|rank|host|watchdog|error|fatal' "$D/$name.log" | grep -v '^comm: mpi\|^threads:\|^train:' | sed 's/^/  | /'
  # Whatever is left (the defaults' case) goes now, and mc-h2 comes back.
  if [ "$rc" -eq 124 ]; then kill -9 "$MH_JOB" 2>/dev/null; wait "$MH_JOB" 2>/dev/null; fi
  for h in $MH_HOSTS; do mh_kill_host "$h"; done
  $up
  CUT_GONE_RC=$gone_rc CUT_RC=$rc CUT_GONE=$gone
  return 0
}

verdict() {  # NAME
  local named orte ranks
  named=$(grep -m1 "^comm: no heartbeat from rank 1 (mc-h2) for" "$D/$1.log")
  orte=$(grep -m1 -A3 'lost communication with a remote daemon' "$D/$1.log" | grep 'on node mc-h2')
  if [ "$CUT_GONE_RC" -eq 0 ] && [ "$CUT_RC" -ne 124 ]; then
    ok "$1: the job ended on every host $CUT_GONE after the cut (limit $LIMIT s)"
  else
    bad "$1: the job did not end within $LIMIT s of the cut: $CUT_GONE; mpirun exit $CUT_RC"
  fi
  if [ -n "$named" ]; then ok "$1: rank 0 names the lost rank and host: $named"; else bad "$1: no line names rank 1 (mc-h2)"; fi
  if [ -n "$orte" ]; then ok "$1: mpirun names the lost host:$orte"; else bad "$1: mpirun's message does not name mc-h2"; fi
  ranks=$(sed -n 's/^placement: .*mc-h2: \([0-9,-]*\).*/\1/p' "$D/$1.log" | head -1)
  if [ "$ranks" = 1 ]; then ok "$1: the placement line agrees: mc-h2: $ranks"; else bad "$1: no placement line names mc-h2's rank (found '$ranks')"; fi
}

cut_off outside "ip link set mc-h2-r down" "ip link set mc-h2-r up" && verdict outside
cut_off inside "ip -n mc-h2 link set mc-h2-e down" "ip -n mc-h2 link set mc-h2-e up" && verdict inside

if [ -n "${MH_DEFAULTS:-}" ]; then
  # OpenMPI's default keepalive (300 s idle): shown, not asserted.
  defaults=()
  for a in "${MPIRUN[@]}"; do
    case $a in oob_tcp_keepalive_*) unset 'defaults[-1]'; skip_value=1; continue ;; esac
    [ -n "${skip_value:-}" ] && { skip_value=; continue; }
    defaults+=("$a")
  done
  cut_off defaults "ip link set mc-h2-r down" "ip link set mc-h2-r up" "${defaults[@]}"
  echo "defaults: every host empty within $LIMIT s: $([ "$CUT_GONE_RC" -eq 0 ] && echo yes || echo "no ($CUT_GONE)"); mpirun exit $CUT_RC"
fi
finish
