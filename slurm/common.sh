# Shared body of metacat's sbatch scripts: parse their arguments (parse_args,
# the one parser for all of them), run one `metacat train` job step with
# every task of the allocation, forward the warning signal to it, and
# requeue the job when it checkpointed on that signal (exit 75).
#   parse_args run|sweep SCRIPT [ARGS...]
#   run_metacat RUN_DIR CONFIG RESUME [metacat train options...]
# Environment: METACAT (the binary; default $METACAT_HOME/build/metacat),
# METACAT_LAUNCHER=srun|mpirun (default srun --mpi=pmix: Debian's OpenMPI
# supports PMIx, not PMI2, under Slurm), METACAT_DRY_RUN=1 (print the
# launch command and exit 0 instead of running it).

# usage run|sweep SCRIPT: the usage of train.sbatch and train-gpu.sbatch
# (run) or sweep.sbatch (sweep).
usage() {
  local kind=$1 script=$2
  if [ "$kind" = sweep ]; then
    cat <<EOF
usage: sbatch --array=0-N [sbatch options] slurm/$script \\
         --config FILE --sweep-dir DIR --key KEY --value V0 ... --value VN [options]
   or: sbatch --array=0-N [sbatch options] slurm/$script \\
         CONFIG SWEEP_DIR KEY V0 ... VN [--] [options]
Array task i trains with --set KEY=V_i in the run directory SWEEP_DIR/KEY=V_i.
  --config FILE        YAML config (or the first positional argument)
  --sweep-dir DIR      the parent of the run directories (or the second)
  --key KEY            the config key to sweep (or the third)
  --value V            a value of KEY (repeatable; or the positional arguments after KEY)
EOF
  else
    cat <<EOF
usage: sbatch [sbatch options] slurm/$script --config FILE [--run-dir DIR] [options]
   or: sbatch [sbatch options] slurm/$script CONFIG [RUN_DIR] [options]
  --config FILE        YAML config (or the first positional argument)
  --run-dir DIR        run directory (or the second; default runs/slurm-JOBID)
EOF
  fi
  cat <<EOF
options:
  --set KEY=VALUE      override a config key (repeatable; passed to metacat train --set)
  --resume auto|none|CHECKPOINT
                       passed to metacat train --resume; default auto, so that a
                       requeued job continues from its newest checkpoint
  -h, --help           print this message
Every option also takes the form --option=VALUE. \`--\` ends the positional
arguments. The config keys: metacat train --help-config.
EOF
}

# parse_args run|sweep SCRIPT [ARGS...]: the sbatch scripts' arguments. Sets
# CONFIG and RUN_DIR (run), or CONFIG, SWEEP_DIR, KEY and VALUES (sweep); and
# RESUME and SET_ARGS (`--set KEY=VALUE` for each --set, in order, for
# metacat train). -h/--help prints the
# usage and exits 0. Anything else it does not take (an unknown option, a
# missing value, an extra argument, the same thing given twice) prints what
# is wrong, naming the argument, and the usage to stderr, and exits 1 (user
# error).
parse_args() {
  local kind=$1 script=$2
  shift 2
  local config='' run_dir='' sweep_dir='' key='' resume='' values=() pos=()
  local arg name value ended=0
  SET_ARGS=()
  bad() {
    echo "$script: $1" >&2
    usage "$kind" "$script" >&2
    exit 1
  }
  once() {  # OPTION VALUE_SO_FAR
    [ -z "$2" ] || bad "$1 given twice"
  }
  while [ $# -gt 0 ]; do
    arg=$1
    shift
    case $arg in
      -h|--help) usage "$kind" "$script"; exit 0 ;;
      --)
        [ "$ended" = 0 ] || bad "unexpected argument '--' (a second one)"
        ended=1
        continue ;;
      [!-]*|''|-[0-9.]*)  # positional (a negative number too: sweep values)
        [ "$ended" = 0 ] || bad "unexpected argument '$arg' after '--' (only options may follow it)"
        pos+=("$arg")
        continue ;;
    esac
    name=${arg%%=*}
    case $kind:$name in
      *:--config|*:--set|*:--resume|run:--run-dir|sweep:--sweep-dir|sweep:--key|sweep:--value) ;;
      *) bad "unknown argument '$arg'" ;;
    esac
    if [ "$name" != "$arg" ]; then
      value=${arg#*=}
    elif [ $# -gt 0 ] && { [[ $1 != -* ]] || [[ $1 == -[0-9.]* ]]; }; then
      value=$1
      shift
    else
      value=''
    fi
    [ -n "$value" ] || bad "$name needs a value"
    case $name in
      --config) once "$name" "$config"; config=$value ;;
      --run-dir) once "$name" "$run_dir"; run_dir=$value ;;
      --sweep-dir) once "$name" "$sweep_dir"; sweep_dir=$value ;;
      --key) once "$name" "$key"; key=$value ;;
      --resume) once "$name" "$resume"; resume=$value ;;
      --value) values+=("$value") ;;
      --set)
        [[ $value == [!=]*=* ]] || bad "--set needs KEY=VALUE, got '$value'"
        SET_ARGS+=(--set "$value") ;;
    esac
  done
  # The positional arguments, in order: CONFIG, then RUN_DIR (run) or
  # SWEEP_DIR, KEY and the values (sweep). Each comes from its option or its
  # position, not both.
  twice() {  # WHAT OPTION OPTION_VALUE POSITIONAL_VALUE
    [ -z "$3" ] || [ -z "$4" ] || bad "$1 given twice: '$4' and $2 $3"
  }
  local n=${#pos[@]}
  twice "the config" --config "$config" "${pos[0]-}"
  CONFIG=${config:-${pos[0]-}}
  [ -n "$CONFIG" ] || bad "no config: give --config FILE (or CONFIG)"
  if [ "$kind" = run ]; then
    [ "$n" -le 2 ] || bad "unexpected argument '${pos[2]}'"
    twice "the run directory" --run-dir "$run_dir" "${pos[1]-}"
    RUN_DIR=${run_dir:-${pos[1]-}}
    RUN_DIR=${RUN_DIR:-runs/slurm-${SLURM_JOB_ID:-JOBID}}
  else
    twice "the sweep directory" --sweep-dir "$sweep_dir" "${pos[1]-}"
    twice "the key" --key "$key" "${pos[2]-}"
    SWEEP_DIR=${sweep_dir:-${pos[1]-}}
    KEY=${key:-${pos[2]-}}
    [ -n "$SWEEP_DIR" ] || bad "no sweep directory: give --sweep-dir DIR (or SWEEP_DIR)"
    [ -n "$KEY" ] || bad "no key: give --key KEY (or KEY)"
    [[ $KEY != *=* ]] || bad "--key takes a key, without '=', got '$KEY'"
    [ "$n" -le 3 ] || [ ${#values[@]} -eq 0 ] || bad "values given twice: '${pos[3]}'... and --value ${values[0]}..."
    VALUES=(${values[@]+"${values[@]}"} ${pos[@]+"${pos[@]:3}"})
    [ ${#VALUES[@]} -gt 0 ] || bad "no values: give --value V (repeatable, or V0 V1 ... after KEY)"
  fi
  RESUME=${resume:-auto}
}

run_metacat() {
  local run_dir=$1 config=$2 resume=$3
  shift 3
  local home=${METACAT_HOME:-${SLURM_SUBMIT_DIR:-.}}
  local bin=${METACAT:-$home/build/metacat}
  local threads=${SLURM_CPUS_PER_TASK:-1}
  # Without -n or --ntasks-per-node Slurm sets no SLURM_NTASKS and srun
  # starts one task per node.
  local tasks=${SLURM_NTASKS:-${SLURM_JOB_NUM_NODES:-1}}
  local args=(train --config "$config" --run-dir "$run_dir" --resume "$resume" --set "threads=$threads" "$@")
  local launch=(srun --mpi=pmix --kill-on-bad-exit=1 "$bin" "${args[@]}")
  if [ "${METACAT_LAUNCHER:-srun}" = mpirun ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    launch=(mpirun -np "$tasks" "$bin" "${args[@]}")
  fi
  # A dry run shows what the job would start (tests/slurm/args_test.sh).
  if [ -n "${METACAT_DRY_RUN:-}" ]; then
    local line
    printf -v line '%q ' "${launch[@]}"
    echo "metacat: dry run: ${line% }"
    exit 0
  fi
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  echo "metacat: job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-?}:" \
       "${tasks} tasks x ${threads} threads, run dir ${run_dir}"

  local pid rc
  # The warning signal (--signal=B:USR1@N, or scancel --signal=USR1 --batch)
  # reaches this shell only: pass it to the job step's tasks.
  forward() {
    echo "metacat: $1 received: asking the ranks to checkpoint"
    scancel --signal=USR1 "${SLURM_JOB_ID}" 2>/dev/null || kill -USR1 "$pid" 2>/dev/null
  }
  trap 'forward USR1' USR1
  trap 'forward TERM' TERM

  "${launch[@]}" &
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
