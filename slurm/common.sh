# Shared body of metacat's sbatch scripts: run one `metacat train` job step
# with every task of the allocation, forward the warning signal to it, and
# requeue the job when it checkpointed on that signal (exit 75).
#   run_metacat RUN_DIR CONFIG [metacat train options...]
# Environment: METACAT (the binary; default $METACAT_HOME/build/metacat),
# METACAT_LAUNCHER=srun|mpirun (default srun --mpi=pmix: Debian's OpenMPI
# supports PMIx, not PMI2, under Slurm).
run_metacat() {
  local run_dir=$1 config=$2
  shift 2
  local home=${METACAT_HOME:-${SLURM_SUBMIT_DIR:-.}}
  local bin=${METACAT:-$home/build/metacat}
  local threads=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  echo "metacat: job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-?}:" \
       "${SLURM_NTASKS:-1} tasks x ${threads} threads, run dir ${run_dir}"

  local pid rc
  # The warning signal (--signal=B:USR1@N, or scancel --signal=USR1 --batch)
  # reaches this shell only: pass it to the job step's tasks.
  forward() {
    echo "metacat: $1 received: asking the ranks to checkpoint"
    scancel --signal=USR1 "${SLURM_JOB_ID}" 2>/dev/null || kill -USR1 "$pid" 2>/dev/null
  }
  trap 'forward USR1' USR1
  trap 'forward TERM' TERM

  local args=(train --config "$config" --run-dir "$run_dir" --resume auto --set "threads=$threads" "$@")
  if [ "${METACAT_LAUNCHER:-srun}" = mpirun ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    mpirun -np "${SLURM_NTASKS:-1}" "$bin" "${args[@]}" &
  else
    srun --mpi=pmix --kill-on-bad-exit=1 "$bin" "${args[@]}" &
  fi
  pid=$!
  # `wait` returns early (128+signal) when a trapped signal arrives: wait
  # again until the step's own exit status is collected.
  while :; do
    wait "$pid"
    rc=$?
    [ "$rc" -gt 128 ] || break
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid" 2>/dev/null
    r=$?
    [ "$r" -ne 127 ] && rc=$r  # 127: already collected, rc is its status
    break
  done
  if [ "$rc" -eq 75 ]; then
    # Everything this job must leave is written before the requeue: Slurm
    # kills the batch script promptly after it.
    echo "metacat: checkpointed on the signal (exit 75): requeueing job ${SLURM_JOB_ID}"
    scontrol requeue "${SLURM_JOB_ID}"
    sleep 60  # killed by the requeue
    exit 0
  fi
  echo "metacat: finished with exit code $rc"
  return "$rc"
}
