#!/usr/bin/env bash
# Three simulated hosts on one machine, for metacat's multi-host fault tests:
# network namespaces mc-h1..mc-h3 (10.77.0.11-13/24), each joined by a veth
# pair to the bridge mc-br77 in the root namespace (10.77.0.1/24). A command
# runs "on" a host through tests/multihost/on.sh, which enters the host's
# network namespace, a private UTS namespace named after the host (so
# gethostname() differs per host) and a private mount namespace. The file
# system is shared by all, as a cluster's shared file system would be.
#   tests/multihost/hosts.sh start DIR   (exit 77 with the reason when impossible)
#   tests/multihost/hosts.sh stop DIR
# or, sourced by a test: mh_start DIR (returns 77 when impossible) ... mh_stop DIR.
# /etc/hosts gets the names mc-h1..3 and mc-root (tagged lines), removed by
# mh_stop.
# One set of hosts at a time on a machine: mh_start waits (bounded) while
# another live test owns them, and removes what a dead one left behind.

MH_HOSTS="mc-h1 mc-h2 mc-h3"
MH_BRIDGE=mc-br77
MH_SUBNET=10.77.0.0/24
MH_ROOT_IP=10.77.0.1
MH_OWNER=/run/lock/metacat-multihost.owner  # "PID START" of the test that owns the hosts
MH_TAG="# metacat-multihost"
MH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mh_addr() { echo "10.77.0.1${1#mc-h}"; }  # mc-h2 -> 10.77.0.12

# The pids of every process in HOST's network namespace (ranks, orted, slurmd...).
mh_pids() { ip netns pids "$1" 2>/dev/null; }

# Kill everything on HOST (kill -9: a host that vanishes), bounded.
mh_kill_host() {
  local i p
  for i in $(seq 1 50); do
    p=$(mh_pids "$1")
    [ -z "$p" ] && return 0
    kill -9 $p 2>/dev/null
    sleep 0.1
  done
  echo "hosts: processes still alive on $1: $(mh_pids "$1")" >&2
  return 1
}

# Remove the namespaces, links and /etc/hosts names (also a dead run's).
mh_teardown() {
  local h
  for h in $MH_HOSTS; do
    ip netns list 2>/dev/null | grep -qw "^$h" || continue
    mh_kill_host "$h"
    ip netns del "$h" 2>/dev/null
  done
  for h in $MH_HOSTS; do ip link del "$h-r" 2>/dev/null; done
  ip link del "$MH_BRIDGE" 2>/dev/null
  # Rewrite in place: /etc/hosts may be a bind mount, which a rename breaks.
  if grep -q "$MH_TAG\$" /etc/hosts 2>/dev/null; then
    local kept
    kept=$(grep -v "$MH_TAG\$" /etc/hosts)
    printf '%s\n' "$kept" > /etc/hosts
  fi
  return 0
}

# Processes the test started in the root namespace carry DIR in their
# command line (mpirun's hostfile, slurm.conf, the run directory): kill them.
mh_kill_dir_procs() {
  local dir=$1 p
  [ -n "$dir" ] || return 0
  for p in $(pgrep -f -- "$dir/"); do
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] || kill -9 "$p" 2>/dev/null
  done
}

mh_skip() { echo "SKIPPED: $*"; return 77; }

# A process as "PID START_TIME" (start time in clock ticks since boot): a
# recycled pid is not the owner.
mh_proc_id() { echo "$1 $(command cut -d' ' -f22 "/proc/$1/stat" 2>/dev/null)"; }

# Take the machine's hosts if no live test owns them (under a short flock,
# so that two starting tests cannot both take them).
mh_take() {  # OWNER_PID
  local owner pid
  owner=$(cat "$MH_OWNER" 2>/dev/null)
  pid=${owner%% *}
  if [ -n "$pid" ] && [ "$pid" != "$1" ] && [ "$(mh_proc_id "$pid")" = "$owner" ]; then return 1; fi
  mh_proc_id "$1" > "$MH_OWNER"
}

# Wait (bounded) for the machine's hosts: one owner at a time.
mh_own() {
  local i
  mkdir -p "$(dirname "$MH_OWNER")"
  for i in $(seq 1 240); do
    { flock -w 10 8 && mh_take $$; } 8>"$MH_OWNER.lock" && return 0
    sleep 0.5
  done
  mh_skip "the simulated hosts stayed busy for 120 s (owner: $(cat "$MH_OWNER" 2>/dev/null))"
}

mh_start() {
  local dir=${1:?DIR} h a err
  [ "$(id -u)" = 0 ] || { mh_skip "needs root (network namespaces)"; return 77; }
  for b in ip unshare nsenter timeout pgrep flock; do
    command -v "$b" >/dev/null 2>&1 || { mh_skip "$b not installed (iproute2, util-linux, procps)"; return 77; }
  done
  # Probe: can this machine make a namespace, a bridge and a UTS namespace?
  if ! err=$(ip netns add mc-probe-$$ 2>&1); then
    mh_skip "cannot create a network namespace (no CAP_NET_ADMIN?): $err"; return 77
  fi
  err=$(ip netns exec mc-probe-$$ unshare --uts sh -c 'hostname mc-probe' 2>&1)
  local rc=$?
  ip netns del mc-probe-$$ 2>/dev/null
  [ $rc -eq 0 ] || { mh_skip "cannot enter a namespace with its own host name: $err"; return 77; }
  mh_own || return 77
  mh_teardown  # leftovers of an earlier run that died
  mkdir -p "$dir"
  if ip route show | grep -v "$MH_BRIDGE" | grep -q '^10\.77\.0\.'; then
    mh_skip "10.77.0.0/24 is already routed here: $(ip route show | grep '^10\.77\.0\.')"; return 77
  fi
  if ! err=$({ ip link add "$MH_BRIDGE" type bridge &&
               ip addr add "$MH_ROOT_IP/24" dev "$MH_BRIDGE" &&
               ip link set "$MH_BRIDGE" up; } 2>&1); then
    mh_teardown; rm -f "$MH_OWNER"
    mh_skip "cannot create a bridge: $err"; return 77
  fi
  for h in $MH_HOSTS; do
    a=$(mh_addr "$h")
    if ! err=$({ ip netns add "$h" &&
                 ip link add "$h-r" type veth peer name "$h-e" &&
                 ip link set "$h-r" master "$MH_BRIDGE" && ip link set "$h-r" up &&
                 ip link set "$h-e" netns "$h" &&
                 ip -n "$h" addr add "$a/24" dev "$h-e" &&
                 ip -n "$h" link set "$h-e" up && ip -n "$h" link set lo up; } 2>&1); then
      mh_teardown; rm -f "$MH_OWNER"
      mh_skip "cannot set up host $h: $err"; return 77
    fi
  done
  # Names for mpirun's hostfile and Slurm; removed by mh_stop.
  [ -z "$(tail -c1 /etc/hosts)" ] || echo >> /etc/hosts  # a last line without its newline
  { for h in $MH_HOSTS; do echo "$(mh_addr "$h") $h $MH_TAG"; done
    echo "$MH_ROOT_IP mc-root $MH_TAG"; } >> /etc/hosts
  # Every host reaches the root over the bridge: a connection to a closed
  # port is refused at once when the address answers (no ping needed).
  for h in $MH_HOSTS; do
    err=$(timeout 5 ip netns exec "$h" bash -c "echo > /dev/tcp/$MH_ROOT_IP/9" 2>&1)
    if [[ $err != *refused* ]]; then
      mh_stop "$dir"; mh_skip "host $h cannot reach $MH_ROOT_IP over the bridge: ${err:-timed out}"; return 77
    fi
  done
  echo "$MH_HOSTS" > "$dir/hosts.up"
  echo "hosts: $(for h in $MH_HOSTS; do printf '%s=%s ' "$h" "$(mh_addr "$h")"; done)root=$MH_ROOT_IP on $MH_BRIDGE"
  return 0
}

mh_stop() {
  local dir=${1:-}
  mh_kill_dir_procs "$dir"
  mh_teardown
  mh_kill_dir_procs "$dir"  # anything that forked meanwhile
  rm -f "$dir/hosts.up"
  [ "$(cat "$MH_OWNER" 2>/dev/null)" = "$(mh_proc_id $$)" ] && rm -f "$MH_OWNER"
  return 0
}

# Run CMD on HOST (a name mc-hN or its address) and wait for it.
mh_on() { "$MH_HERE/on.sh" "$@"; }

# Seconds since the epoch, with decimals.
mh_now() { date +%s.%N; }
mh_since() { awk -v a="$1" -v b="$(mh_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Wait up to T seconds until no process is left on any host; prints the
# seconds taken (from START, "N.N s"), or "never (...)" and returns 1.
mh_wait_hosts_empty() {  # START T
  local start=$1 t=$2 h left
  # Elapsed time from START, not a count of polls (each poll takes time too).
  while awk -v a="$start" -v b="$(mh_now)" -v t="$t" 'BEGIN { exit !(b - a < t) }'; do
    left=
    for h in $MH_HOSTS; do [ -n "$(mh_pids "$h")" ] && left="$left $h"; done
    [ -z "$left" ] && { echo "$(mh_since "$start") s"; return 0; }
    sleep 0.1
  done
  left=
  for h in $MH_HOSTS; do [ -n "$(mh_pids "$h")" ] && left="$left $h"; done
  [ -z "$left" ] && { echo "$(mh_since "$start") s"; return 0; }
  echo "never (still running on:$left)"
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    start) mh_start "${2:?DIR}"; rc=$?
           # As a command the owner is this shell, which ends now: hand the
           # hosts to the caller's shell so that a later start waits for it.
           [ $rc -eq 0 ] && mh_proc_id "$PPID" > "$MH_OWNER"
           exit $rc ;;
    stop) mh_stop "${2:-}"; rm -f "$MH_OWNER" "$MH_OWNER.lock"; exit 0 ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
  esac
fi
