#!/bin/sh
# mpirun's launch agent for the simulated hosts (--mca plm_rsh_agent): called
# like ssh, `rsh-agent.sh [OPTIONS] HOST COMMAND...`, it runs COMMAND (one
# shell command line, as ssh would) on HOST through on.sh instead of ssh.
while [ $# -gt 0 ]; do
  case $1 in
    -*) shift ;;  # ssh options mpirun may add (none expected)
    *) break ;;
  esac
done
host=${1:?HOST}
shift
[ -n "$MC_AGENT_LOG" ] && echo "agent: $host: $*" >> "$MC_AGENT_LOG"
exec "$(dirname "$0")/on.sh" "$host" /bin/sh -c "$*"
