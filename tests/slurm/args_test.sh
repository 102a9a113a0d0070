#!/usr/bin/env bash
# The sbatch scripts' arguments (slurm/common.sh, parse_args), without a
# cluster or a build: each script runs as the job would, with
# METACAT_DRY_RUN=1, which prints the launch command instead of running it.
#   tests/slurm/args_test.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
T=$(mktemp -d /tmp/metacat-slurm-args.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset METACAT_LAUNCHER SLURM_CPUS_PER_TASK SLURM_NTASKS SLURM_ARRAY_TASK_ID SLURM_SUBMIT_DIR
export METACAT_HOME=$root METACAT=/opt/metacat/metacat METACAT_DRY_RUN=1 SLURM_JOB_ID=123
passed=0 failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
run() {  # SCRIPT ARGS...: sets rc, out (stdout) and err (stderr)
  bash "$root/slurm/$1" "${@:2}" >"$T/out" 2>"$T/err"
  rc=$?
  out=$(cat "$T/out")
  err=$(cat "$T/err")
}
srun_train="metacat: dry run: srun --mpi=pmix --kill-on-bad-exit=1 $METACAT train"
# launches WHAT EXPECTED SCRIPT ARGS...: exit 0 and exactly this launch command
# (printf %q quoting: a\ b is one argument).
launches() {
  local what=$1 expected=$2
  shift 2
  run "$@"
  if [ "$rc" -eq 0 ] && [ "$out" = "$expected" ] && [ -z "$err" ]; then
    ok "$what"
  else
    bad "$what: exit $rc"$'\n'"  expected: $expected"$'\n'"  got:      $out"$'\n'"  stderr: $err"
  fi
}
# refuses WHAT MESSAGE SCRIPT ARGS...: exit 1, nothing launched, MESSAGE (which
# names the argument) and the usage on stderr.
refuses() {
  local what=$1 message=$2
  shift 2
  run "$@"
  if [ "$rc" -eq 1 ] && [ -z "$out" ] && [[ $err == *"$message"* ]] \
     && [[ $err == *"usage: sbatch "*"slurm/$1 "* ]]; then
    ok "$what"
  else
    bad "$what: exit $rc, stdout: $out"$'\n'"  stderr: $err"
  fi
}
mpi="--set threads=1 --set comm.backend=mpi"

# train.sbatch: the flag form, the = form, the positional form, --set and --resume.
launches "flag form --config FILE --run-dir DIR" \
  "$srun_train --config configs/sinusoid.yaml --run-dir runs/x --resume auto $mpi" \
  train.sbatch --config configs/sinusoid.yaml --run-dir runs/x
launches "= form --config=FILE --run-dir=DIR" \
  "$srun_train --config c.yaml --run-dir r --resume auto $mpi" \
  train.sbatch --config=c.yaml --run-dir=r
launches "positional form CONFIG RUN_DIR" \
  "$srun_train --config c.yaml --run-dir r --resume auto $mpi" \
  train.sbatch c.yaml r
launches "positional CONFIG alone: RUN_DIR defaults to runs/slurm-JOBID" \
  "$srun_train --config c.yaml --run-dir runs/slurm-123 --resume auto $mpi" \
  train.sbatch c.yaml
launches "positional CONFIG with --run-dir, options first" \
  "$srun_train --config c.yaml --run-dir r --resume auto $mpi --set a=1" \
  train.sbatch --set a=1 --run-dir r c.yaml
launches "--set and --set= pass through to metacat train --set, in order, one argument each" \
  "$srun_train --config c.yaml --run-dir r --resume auto $mpi --set train.steps=5 --set eval.episodes=50 --set a=x\\ y --set b=c=d" \
  train.sbatch --config c.yaml --run-dir r --set train.steps=5 --set=eval.episodes=50 --set 'a=x y' --set b=c=d
launches "--resume none replaces the default auto" \
  "$srun_train --config c.yaml --run-dir r --resume none $mpi" \
  train.sbatch c.yaml r --resume none
launches "--resume=CHECKPOINT" \
  "$srun_train --config c.yaml --run-dir r --resume r/checkpoints/step-00000100.h5 $mpi" \
  train.sbatch c.yaml r --resume=r/checkpoints/step-00000100.h5
launches "-- before the options" \
  "$srun_train --config c.yaml --run-dir r --resume auto $mpi --set a=1" \
  train.sbatch c.yaml r -- --set a=1
SLURM_CPUS_PER_TASK=4 SLURM_NTASKS=8 METACAT_LAUNCHER=mpirun launches "METACAT_LAUNCHER=mpirun, threads from SLURM_CPUS_PER_TASK" \
  "metacat: dry run: mpirun -np 8 $METACAT train --config c.yaml --run-dir r --resume auto --set threads=4 --set comm.backend=mpi" \
  train.sbatch --config c.yaml --run-dir r
launches "train-gpu.sbatch: the same flags, NCCL backend, training on the GPU" \
  "$srun_train --config c.yaml --run-dir r --resume auto --set threads=1 --set comm.backend=nccl --set device=cuda --set a=1" \
  train-gpu.sbatch --config c.yaml --run-dir=r --set a=1

for h in -h --help; do
  run train.sbatch c.yaml "$h"
  if [ "$rc" -eq 0 ] && [[ $out == "usage: sbatch "*"--config FILE"*"--run-dir DIR"*"--set KEY=VALUE"* ]] && [ -z "$err" ]; then
    ok "$h prints the usage on stdout, exit 0"
  else
    bad "$h: exit $rc, stdout: $out, stderr: $err"
  fi
done

# train.sbatch: anything else is a user error (exit 1) naming the argument.
refuses "unknown option" "train.sbatch: unknown argument '--bogus'" train.sbatch --config c.yaml --bogus x
refuses "unknown option in = form" "unknown argument '--steps=5'" train.sbatch c.yaml --steps=5
refuses "unknown short option" "unknown argument '-x'" train.sbatch c.yaml -x
refuses "option of sweep.sbatch" "unknown argument '--key'" train.sbatch c.yaml --key k
refuses "extra positional argument" "unexpected argument 'extra'" train.sbatch c.yaml r extra
refuses "positional after --" "unexpected argument 'r' after '--'" train.sbatch c.yaml -- r
refuses "positional CONFIG and --config" "the config given twice: 'c.yaml' and --config d.yaml" \
  train.sbatch c.yaml --config d.yaml
refuses "positional RUN_DIR and --run-dir" "the run directory given twice: 'r' and --run-dir s" \
  train.sbatch c.yaml r --run-dir s
refuses "--config twice" "--config given twice" train.sbatch --config c.yaml --config=d.yaml
refuses "--resume twice" "--resume given twice" train.sbatch c.yaml --resume auto --resume none
refuses "missing value at the end" "--run-dir needs a value" train.sbatch c.yaml --run-dir
refuses "missing value before an option" "--config needs a value" train.sbatch --config --run-dir r
refuses "empty = value" "--config needs a value" train.sbatch --config= --run-dir r
refuses "--set without =" "--set needs KEY=VALUE, got 'train.steps'" train.sbatch c.yaml --set train.steps 5
refuses "no config" "no config" train.sbatch --run-dir r
refuses "no arguments" "no config" train.sbatch
refuses "train-gpu.sbatch: the same parser" "train-gpu.sbatch: unknown argument '--bogus'" train-gpu.sbatch c.yaml --bogus

# sweep.sbatch: positional (values up to --) and flag forms.
sweep_expect="$srun_train --config c.yaml --run-dir sw/learner.inner_lr=-0.02 --resume auto $mpi --set learner.inner_lr=-0.02 --set train.steps=5"
SLURM_ARRAY_TASK_ID=1 launches "sweep positional form CONFIG SWEEP_DIR KEY V... -- options (a negative value)" \
  "$sweep_expect" sweep.sbatch c.yaml sw learner.inner_lr 0.01 -0.02 -- --set train.steps=5
SLURM_ARRAY_TASK_ID=1 launches "sweep positional form without --" \
  "$sweep_expect" sweep.sbatch c.yaml sw learner.inner_lr 0.01 -0.02 --set train.steps=5
SLURM_ARRAY_TASK_ID=1 launches "sweep flag form --config --sweep-dir --key --value..." \
  "$sweep_expect" sweep.sbatch --config c.yaml --sweep-dir sw --key learner.inner_lr --value 0.01 --value -0.02 --set train.steps=5
SLURM_ARRAY_TASK_ID=1 launches "sweep = form" \
  "$sweep_expect" sweep.sbatch --config=c.yaml --sweep-dir=sw --key=learner.inner_lr --value=0.01 --value=-0.02 --set=train.steps=5
SLURM_ARRAY_TASK_ID=0 launches "sweep: positional CONFIG SWEEP_DIR with --key and --value" \
  "$srun_train --config c.yaml --run-dir sw/k=1 --resume auto $mpi --set k=1" \
  sweep.sbatch c.yaml sw --key k --value 1
SLURM_ARRAY_TASK_ID=0 refuses "sweep: --run-dir is train.sbatch's" "sweep.sbatch: unknown argument '--run-dir'" \
  sweep.sbatch --config c.yaml --run-dir sw --key k --value 1
SLURM_ARRAY_TASK_ID=0 refuses "sweep: values both positional and --value" "values given twice: '1'... and --value 2" \
  sweep.sbatch c.yaml sw k 1 --value 2
SLURM_ARRAY_TASK_ID=0 refuses "sweep: no values" "no values" sweep.sbatch c.yaml sw k
SLURM_ARRAY_TASK_ID=0 refuses "sweep: no key" "no key" sweep.sbatch --config c.yaml --sweep-dir sw --value 1
SLURM_ARRAY_TASK_ID=0 refuses "sweep: value after --" "unexpected argument '2' after '--'" sweep.sbatch c.yaml sw k 1 -- 2
SLURM_ARRAY_TASK_ID=0 refuses "sweep: unknown option" "unknown argument '--bogus'" sweep.sbatch c.yaml sw k 1 --bogus
SLURM_ARRAY_TASK_ID=2 run sweep.sbatch c.yaml sw k 1 2
if [ "$rc" -eq 1 ] && [ -z "$out" ] && [[ $err == *"array task 2 has no value (2 given)"* ]]; then
  ok "sweep: an array task without a value exits 1"
else
  bad "sweep array task 2 of 2 values: exit $rc, stdout: $out, stderr: $err"
fi

echo "slurm args: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
