#!/usr/bin/env bash
# Starts or stops a single-node Slurm cluster (munged, slurmctld, slurmd) in
# DIR, from Debian's packages, without systemd. Clients use SLURM_CONF=DIR/slurm.conf.
#   tests/slurm/cluster.sh start DIR     (exit 77 with a reason when impossible)
#   tests/slurm/cluster.sh stop DIR
set -u
cmd=${1:?start|stop}
DIR=${2:?DIR}
here=$(cd "$(dirname "$0")" && pwd)

stop() {
  for f in slurmd slurmctld munged; do
    [ -f "$DIR/$f.pid" ] && kill "$(cat "$DIR/$f.pid")" 2>/dev/null
  done
  sleep 1
  for f in slurmd slurmctld munged; do
    [ -f "$DIR/$f.pid" ] && kill -9 "$(cat "$DIR/$f.pid")" 2>/dev/null
    rm -f "$DIR/$f.pid"
  done
  return 0
}

if [ "$cmd" = stop ]; then stop; exit 0; fi

for b in munged slurmctld slurmd sbatch srun scontrol; do
  command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
  command -v "$b" >/dev/null 2>&1 || { echo "SKIP: $b not installed (slurm-wlm, munge)"; exit 77; }
done
mkdir -p "$DIR"/{state,spool}
host=$(hostname -s)
# Ports derived from the folder so that parallel clusters do not collide.
base=$(( 20000 + $(echo "$DIR" | cksum | cut -d' ' -f1) % 20000 ))
sed -e "s|@HOST@|$host|g" -e "s|@DIR@|$DIR|g" -e "s|@CPUS@|$(nproc)|g" \
    -e "s|@CTLD_PORT@|$base|g" -e "s|@SLURMD_PORT@|$((base + 1))|g" \
    "$here/slurm.conf.in" > "$DIR/slurm.conf"
export SLURM_CONF=$DIR/slurm.conf

dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge.key"
mkdir -p /run/munge 2>/dev/null
/usr/sbin/munged -f --socket="$DIR/munge.socket" --key-file="$DIR/munge.key" \
  --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge.seed" \
  || { echo "SKIP: munged does not start: $(tail -2 "$DIR/munged.log" 2>/dev/null)"; exit 77; }
/usr/sbin/slurmctld -i -f "$DIR/slurm.conf" || { echo "SKIP: slurmctld does not start"; stop; exit 77; }
/usr/sbin/slurmd -f "$DIR/slurm.conf" || { echo "SKIP: slurmd does not start"; stop; exit 77; }
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o %T 2>/dev/null | head -1)
  case "$state" in idle*|mixed*|allocated*) echo "cluster up: node $host $state"; exit 0 ;; esac
  sleep 0.5
done
echo "SKIP: the node did not become idle: $(tail -3 "$DIR/slurmctld.log" "$DIR/slurmd.log" 2>/dev/null)"
stop
exit 77
