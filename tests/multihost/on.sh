#!/bin/sh
# Runs a command "on" a simulated host (tests/multihost/hosts.sh): in the
# host's network namespace, a private UTS namespace whose host name is the
# host's (so that gethostname() names it) and a private mount namespace (a
# mount made there, like slurm_test.sh's per-node TmpFS, stays on that host).
# /sys stays the machine's (`ip netns exec` would mount a fresh sysfs and
# hide /sys/fs/cgroup, which slurmd needs).
#   tests/multihost/on.sh mc-h2|10.77.0.12 CMD [ARGS...]
host=${1:?HOST}
shift
case $host in
  10.77.0.1[0-9]) host=mc-h${host#10.77.0.1} ;;
esac
exec nsenter --net="/run/netns/$host" unshare --uts --mount -- sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
