#!/usr/bin/env bash
# metacat across three simulated hosts (tests/multihost/hosts.sh) under
# mpirun over TCP: 3 ranks, one per host, exact reduction, 40 steps; the
# final parameters must be the same bits as a single-process run's. Also: a
# world size that does not divide the meta-batch is refused on every host
# with the sizes that work. Exit 0 pass, 1 fail, 77 skipped (the reason printed).
#   bash tests/multihost/mpirun_test.sh BUILD_DIR
MH_LIMIT=${MH_LIMIT:-120}
source "$(dirname "$0")/lib.sh"

# The hosts differ: each answers with its own name from its own namespace.
names=$(for h in $MH_HOSTS; do mh_on "$h" hostname; done | tr '\n' ' ')
if [ "$names" = "mc-h1 mc-h2 mc-h3 " ]; then ok "gethostname() on the hosts: $names"; else bad "host names: '$names'"; fi

ref=$(reference_params 40)
[ -n "$ref" ] || { bad "the single-process reference run failed: $(tail -3 "$D/ref-40.log")"; finish; }

t0=$(mh_now)
start_job "$D/job.log" --display-map "$BIN" "${TRAIN[@]}" --set train.steps=40 --run-dir "$D/run"
wait_pid "$MH_JOB" 90
rc=$?
secs=$(mh_since "$t0")
got=$(params_of "$(ckpt "$D/run" 40)")
# --display-map prints one "Data for node: HOST" block per host with its rank.
map=$(sed -n 's/^ *Data for node: \([^ \t]*\).*/\1/p' "$D/job.log" | tr '\n' ' ')
echo "3 ranks on hosts: $map; mpirun exit $rc after $secs s; $(grep -o '[0-9]* partitions, 3 ranks (mpi)' "$D/job.log")"
echo "parameters: 3 hosts $got, 1 process $ref"
if [ "$rc" -eq 0 ] && [ "$map" = "mc-h1 mc-h2 mc-h3 " ] && [ -n "$got" ] && [ "$got" = "$ref" ]; then
  ok "3 ranks on 3 hosts over TCP end with the single-process run's parameter bits ($got)"
else
  bad "3-host run: exit $rc, parameters '$got' vs '$ref'; log: $(tail -5 "$D/job.log")"
fi
left=$(mh_wait_hosts_empty "$(mh_now)" 10) && ok "no process left on any host" || bad "processes left: $left"

# meta_batch 10 does not divide over 3 ranks: refused at start (exit 1) on
# every host, naming the world sizes that work.
start_job "$D/bad.log" "$BIN" "${TRAIN[@]}" --set train.meta_batch=10 --set train.steps=40 --run-dir "$D/bad"
wait_pid "$MH_JOB" 60
rc=$?
msg=$(grep -m1 'world sizes that work' "$D/bad.log")
echo "meta_batch 10 on 3 ranks: mpirun exit $rc: $msg"
if [ "$rc" -eq 1 ] && [ -n "$msg" ] && [ ! -e "$(ckpt "$D/bad" 40)" ]; then
  ok "a world size that does not divide the meta-batch is refused with exit 1"
else
  bad "meta_batch 10 on 3 ranks: exit $rc; log: $(tail -5 "$D/bad.log")"
fi
finish
