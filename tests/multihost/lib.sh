# Shared by tests/multihost/*_test.sh (sourced; the test's arguments: BUILD_DIR).
# Bounds the whole test (re-run under `timeout`), skips (77) with the reason
# when it cannot run, starts the simulated hosts (hosts.sh) in a fresh folder
# $D on the shared file system, and tears everything down on exit, whatever
# happens. Sets ROOT (the repository), BIN (metacat), D, HOSTFILE, MPIRUN
# (mpirun across mc-h1..3 over TCP) and TRAIN (metacat train's common
# arguments: the sinusoid config, exact reduction, meta-batch 6).
# MH_LIMIT: the test's time limit in seconds (set before sourcing).
# MH_KEEP=1 keeps $D for a post-mortem.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MH_TEST=$(basename "$0" .sh)

# A bound on the whole test: timeout signals the test's whole process group,
# the TERM trap below fails the test (exit 1, kept by --preserve-status) and
# the EXIT trap removes the hosts; -k is the last resort (exit 137; the next
# run removes what is left).
if [ -z "${MH_BOUNDED:-}" ]; then
  MH_BOUNDED=1 exec timeout --preserve-status -k 20 "${MH_LIMIT:-170}" bash "$0" "$@"
fi

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" 2>/dev/null && pwd) || { echo "SKIPPED: no build folder '$1'"; exit 77; }
BIN=$BUILD/metacat
[ -x "$BIN" ] || { echo "SKIPPED: $BIN is not built"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIPPED: mpirun not installed (openmpi-bin)"; exit 77; }
source "$HERE/hosts.sh"

D=$(mktemp -d /tmp/metacat-mh.XXXXXX)
mh_cleanup() {
  mh_stop "$D"
  if [ -n "${MH_KEEP:-}" ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap mh_cleanup EXIT
trap 'echo "FAIL: $MH_TEST interrupted or over its ${MH_LIMIT:-170} s limit"; exit 1' INT TERM HUP
mh_start "$D" || exit 77

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
HOSTFILE=$D/hostfile
for h in $MH_HOSTS; do echo "$h slots=1"; done > "$HOSTFILE"
# mpirun in the root namespace starts one orted per host through the agent
# (no ssh), all from mpirun itself (no tree spawn); MPI over TCP only (no
# shared memory between "hosts"), on the bridge's network only. Every host
# is really the same 2 cores: no binding (each orted would bind its rank to
# "its" core 0). The oob keepalive lets mpirun and the orteds notice a
# silent host within ~8 s (5 s idle, 3 probes 1 s apart); OpenMPI's default
# (300 s idle) leaves a cut-off host's job hanging (cut_test.sh).
MPIRUN=(mpirun --hostfile "$HOSTFILE" -np 3 --oversubscribe --bind-to none
  --mca plm_rsh_agent "$HERE/rsh-agent.sh" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self --mca btl_tcp_if_include "$MH_SUBNET" --mca oob_tcp_if_include "$MH_SUBNET"
  --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3)
TRAIN=(train --config "$ROOT/configs/sinusoid.yaml" --set threads=1 --set comm.backend=mpi
  --set comm.reduction=exact --set train.meta_batch=6 --set eval.at_end=false)

passed=0 failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "$MH_TEST: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}

# The parameters' hash of a checkpoint that verifies (empty otherwise).
params_of() {
  "$BIN" inspect --verify "$1" 2>/dev/null | sed -n 's/^verify: OK (content xxh64 .*; parameters \(.*\))$/\1/p'
}
ckpt() { printf '%s/checkpoints/step-%08d.h5' "$1" "$2"; }

# The parameters of a single-process run of TRAIN for STEPS steps (the
# reference every multi-host run must equal, bit for bit).
reference_params() {  # STEPS [--set ...]
  local steps=$1
  shift
  timeout 60 "$BIN" "${TRAIN[@]}" --set comm.backend=local --set train.steps="$steps" "$@" \
    --run-dir "$D/ref-$steps" >"$D/ref-$steps.log" 2>&1 || { tail -3 "$D/ref-$steps.log" >&2; return 1; }
  params_of "$(ckpt "$D/ref-$steps" "$steps")"
}

# Start mpirun in the background (its output in LOG); MH_JOB is its pid.
start_job() {  # LOG ARGS...
  local log=$1
  shift
  "${MPIRUN[@]}" "$@" >"$log" 2>&1 &
  MH_JOB=$!
}

# Wait up to T seconds for pid P to end; its exit status, or 124.
wait_pid() {  # P T
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
  return 124
}

# Wait up to T seconds until RUN_DIR's metrics show step >= S (training runs).
wait_step() {  # RUN_DIR S T
  local s end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    s=$(tail -1 "$1/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
    [ -n "$s" ] && [ "$s" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# The pids of metacat ranks on HOST.
ranks_on() {
  local p
  for p in $(mh_pids "$1"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = metacat ] && echo "$p"
  done
}
