#!/usr/bin/env bash
# Slurm across the simulated hosts (tests/multihost/hosts.sh): munged and
# slurmctld in the root namespace (slurmctld on 10.77.0.1, host name
# mc-root), one slurmd per host namespace (NodeName = host name, NodeAddr =
# its address; slurm.conf.in). Then:
#  1. a real 3-node `srun --mpi=pmix` job of metacat (3 ranks, one per node)
#     ends with the single-process run's parameter bits;
#  2. a node lost under Slurm: slurm/train.sbatch submitted with --requeue
#     and -N 2-3 runs on 3 nodes; mc-h3's link goes down and everything on it
#     is killed (a node that lost power); Slurm must declare it down, requeue
#     the job, and the job must resume from its newest checkpoint on the 2
#     nodes left (world size 2) and complete, ending with the uninterrupted
#     single-process run's parameter bits (comm.reduction exact).
# The job uses a copy of train.sbatch without its `#SBATCH --ntasks-per-node`
# line: with it, Slurm 22.05 gives `-N 2-3 --ntasks-per-node=1` the minimum
# (2 nodes, NumTasks=2) even when 3 are idle; `-N 2-3 --cpus-per-task=2`
# (a whole node per rank) takes 3 nodes, and 2 when one is down.
# Exit 0 pass, 1 fail, 77 skipped (the reason printed).
#   bash tests/multihost/slurm_test.sh BUILD_DIR
MH_LIMIT=${MH_LIMIT:-240}
source "$(dirname "$0")/lib.sh"
for b in munged slurmctld slurmd sbatch srun scontrol sinfo squeue; do
  command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
  command -v "$b" >/dev/null 2>&1 || { echo "SKIPPED: $b not installed (slurm-wlm, munge)"; exit 77; }
done

# --- the cluster ---------------------------------------------------------
chmod 755 "$D"  # munged wants its socket's folders searchable by all (mktemp: 700)
mkdir -p "$D/state" "$D/node-tmp"
for h in $MH_HOSTS; do mkdir -p "$D/spool/$h" "$D/tmp-$h"; done
# Ports from the folder, above the ephemeral range (and apart from
# tests/slurm/cluster.sh's 20000-39999): parallel clusters do not collide.
base=$((61000 + $(echo "$D" | cksum | cut -d' ' -f1) % 4000))
sed -e "s|@DIR@|$D|g" -e "s|@CTLD_PORT@|$base|g" -e "s|@SLURMD_PORT@|$((base + 1))|g" \
  "$HERE/slurm.conf.in" >"$D/slurm.conf"
export SLURM_CONF=$D/slurm.conf
dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 status=none
chmod 400 "$D/munge.key"
# One munged for all hosts: a socket path reaches it from any network namespace.
munged --socket="$D/munge.socket" --key-file="$D/munge.key" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munge.seed" ||
  { echo "SKIPPED: munged does not start: $(tail -2 "$D/munged.log" 2>/dev/null)"; exit 77; }
unshare --uts sh -c 'hostname mc-root && exec slurmctld -D -i -f "$0"' "$D/slurm.conf" \
  >"$D/slurmctld.out" 2>&1 &
disown $!  # no "Killed" notices when the teardown kills the daemons
# Each slurmd sees $D/tmp-HOST as the TmpFS $D/node-tmp (its mount namespace).
for h in $MH_HOSTS; do
  "$HERE/on.sh" "$h" sh -c 'mount --bind "$0" "$1" && exec slurmd -D -f "$2"' \
    "$D/tmp-$h" "$D/node-tmp" "$D/slurm.conf" >"$D/slurmd-$h.out" 2>&1 &
  disown $!
done
up=
for _ in $(seq 1 60); do
  [ "$(sinfo -h -N -o '%N %T' 2>/dev/null | grep -c ' idle$')" = 3 ] && { up=1; break; }
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "SKIPPED: the 3 nodes did not become idle in 30 s: $(sinfo -h -N -o '%N:%T' 2>&1 | tr '\n' ' ')"
  tail -3 "$D/slurmctld.out" "$D"/slurmd-*.out
  exit 77
fi
echo "slurm: $(sinfo -h -N -o '%N:%T' | tr '\n' ' ')(slurmctld on $MH_ROOT_IP:$base)"
echo "srun --mpi=list: $(srun --mpi=list 2>&1 | sed -n 's/^\t//p' | tr '\n' ' ')"

# MPI between the nodes: TCP on the bridge's network only.
export OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=$MH_SUBNET
export METACAT=$BIN METACAT_HOME=$ROOT
ref40=$(reference_params 40)
ref=$(reference_params 1200)

# --- 1. a 3-node srun --mpi=pmix job ------------------------------------
nodes=$(timeout 30 srun -N3 -n3 hostname 2>&1 | sort | tr '\n' ' ')
echo "srun -N3 -n3 hostname: $nodes"
timeout 90 srun -N3 -n3 --mpi=pmix --kill-on-bad-exit=1 "$BIN" "${TRAIN[@]}" --set train.steps=40 \
  --run-dir "$D/srun-run" >"$D/srun.log" 2>&1
rc=$?
got=$(params_of "$(ckpt "$D/srun-run" 40)")
echo "srun --mpi=pmix, 3 nodes: exit $rc; $(grep -o '3 ranks (mpi)' "$D/srun.log"); parameters $got (1 process: $ref40)"
if [ "$nodes" = "mc-h1 mc-h2 mc-h3 " ] && [ "$rc" -eq 0 ] && [ -n "$got" ] && [ "$got" = "$ref40" ]; then
  ok "a 3-node srun --mpi=pmix job ends with the single-process run's parameter bits"
else
  bad "3-node srun: exit $rc; parameters '$got' vs '$ref40'; $(tail -5 "$D/srun.log")"
fi

# --- 2. a node lost: requeue and resume on the 2 nodes left --------------
grep -v '^#SBATCH --ntasks-per-node' "$ROOT/slurm/train.sbatch" >"$D/train.sbatch"
RUN=$D/run
# comm.timeout_s well above Slurm's detection (SlurmdTimeout 5 s: ~15 s): the
# job must be requeued by Slurm before the watchdog fails it (exit 3).
jid=$(sbatch --parsable --requeue -N 2-3 --cpus-per-task=2 -o "$D/job.out" "$D/train.sbatch" \
  --config "$ROOT/configs/sinusoid.yaml" --run-dir "$RUN" --set threads=1 --set train.meta_batch=6 \
  --set comm.reduction=exact --set train.steps=1200 --set train.checkpoint_every=50 \
  --set train.log_every=50 --set comm.timeout_s=60 --set eval.at_end=false)
job() { scontrol show job "$jid" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
wait_step "$RUN" 100 60 || { bad "the job did not train: $(job JobState); $(tail -5 "$D/job.out")"; finish; }
first_nodes=$(job NodeList)
t0=$(mh_now)
ip link set mc-h3-r down
mh_kill_host mc-h3
echo "job $jid on $first_nodes: mc-h3 cut off and killed at step $(tail -1 "$RUN/metrics.jsonl" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')+"
t_down='' t_requeued='' t_gone='' t_rerun='' t_done='' state=''
for _ in $(seq 1 240); do
  state=$(job JobState)
  [ -z "$t_down" ] && sinfo -h -n mc-h3 -o %T | grep -q '^down' && t_down=$(mh_since "$t0")
  [ -z "$t_requeued" ] && [ "$(job Restarts)" -ge 1 ] 2>/dev/null && t_requeued=$(mh_since "$t0")
  if [ -n "$t_requeued" ] && [ -z "$t_gone" ] && [ -z "$(ranks_on mc-h1)$(ranks_on mc-h2)" ]; then
    t_gone=$(mh_since "$t0")
  fi
  [ -n "$t_requeued" ] && [ -z "$t_rerun" ] && [ "$state" = RUNNING ] && t_rerun=$(mh_since "$t0")
  case $state in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) t_done=$(mh_since "$t0"); break ;; esac
  sleep 0.5
done
echo "after the cut: mc-h3 down at ${t_down:-never} s; requeued at ${t_requeued:-never} s;" \
  "the old ranks gone at ${t_gone:-never} s; running again at ${t_rerun:-never} s on $(job NodeList);" \
  "$state at ${t_done:-never} s; restarts $(job Restarts)"
echo "messages:"
grep -E 'restart|Node failure|NODE FAILURE|resume:|ranks \(mpi\)|finished|watchdog|error' "$D/job.out" | sed 's/^/  | /'
grep -E "mc-h3|JobId=$jid " "$D/slurmctld.log" | grep -E 'not responding|requeue|Requeu' | sed 's/^/  | slurmctld.log: /'
from=$(grep '^resume: from' "$D/job.out" | tail -1)
got=$(params_of "$(ckpt "$RUN" 1200)")
echo "final parameters: $got (uninterrupted single process: $ref)"
if [ "$first_nodes" = "mc-h[1-3]" ] && [ "$state" = COMPLETED ] && [ "$(job Restarts)" = 1 ] &&
   grep -q "restart 1 on mc-h\[1-2\]" "$D/job.out" && [[ $from == *"saved by 3 ranks"* ]] &&
   grep -q '2 ranks (mpi)' "$D/job.out"; then
  ok "node lost: requeued, $from, on 2 nodes (world size 2), completed"
else
  bad "node lost: first on '$first_nodes', $state, restarts $(job Restarts); '$from'; $(tail -5 "$D/job.out")"
fi
if [ -n "$got" ] && [ "$got" = "$ref" ]; then
  ok "the resumed run ends with the uninterrupted single-process run's parameter bits"
else
  bad "final parameters '$got' differ from the uninterrupted run's '$ref'"
fi
left=$(for h in mc-h1 mc-h2; do for p in $(mh_pids "$h"); do
  c=$(cat "/proc/$p/comm" 2>/dev/null); [ "$c" != slurmd ] && echo "$h:$c"; done; done | tr '\n' ' ')
[ -z "$left" ] && ok "nothing of the job is left on mc-h1 and mc-h2 (only their slurmd)" || bad "left: $left"
finish
