#!/usr/bin/env bash
# Runs a fuzz target (CTest calls this; tests/fuzz/CMakeLists.txt).
#   run.sh replay NAME BINARY BUILD_DIR            replays regressions/NAME and the seed corpus
#   run.sh fuzz   NAME BINARY BUILD_DIR SECONDS    libFuzzer for SECONDS over the seed corpus
# The seed corpus (BUILD_DIR/fuzz-corpus/NAME) is made once per build from
# the project's own files: the configs, the CSV seeds in tests/fuzz/seeds,
# and a dataset, an episode file and a checkpoint that the build's own CLI
# writes from them. A finding is saved under BUILD_DIR/fuzz-findings/NAME/;
# copied into tests/fuzz/regressions/NAME/ it is replayed by every build.
set -euo pipefail
mode=$1 name=$2 bin=$3 build=$(cd "$4" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cli=$build/metacat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp  # the targets' scratch files

corpus=$build/fuzz-corpus/$name
# Made again when the CLI that writes it was rebuilt (its formats may have
# changed); made in a scratch folder and moved into place whole.
if [ -d "$corpus" ] && [ "$cli" -nt "$corpus" ]; then rm -rf "$corpus"; fi
if [ ! -d "$corpus" ]; then
  work=$tmp/make-corpus
  mkdir -p "$work/out"
  case $name in
    config)
      cp "$src"/configs/*.yaml "$work/out/"
      printf 'train.meta_batch=8\n' >"$work/out/set-int"
      printf 'eval.shots=[1, 5]\n' >"$work/out/set-list"
      ;;
    csv) cp "$here"/seeds/*.csv "$here"/seeds/*.tsv "$work/out/" ;;
    schema)
      # A generated log's first rows with each of its two schemas, and a
      # hand-written log for the target's fixed schema.
      "$cli" generate --out "$work/logs" --users 3 --categories 4 --max-items 20 >/dev/null
      head -30 "$work/logs/log.csv" >"$work/head.csv"
      for kind in user category; do
        { cat "$work/logs/schema-$kind.yaml"; printf -- '---\n'; cat "$work/head.csv"; } \
          >"$work/out/log-$kind"
      done
      cp "$here/seeds/schema-log.csv" "$work/out/"
      ;;
    dataset | episodes)
      "$cli" pack --source csv --input "$here/seeds/items.csv" --out "$work/data" --quiet >/dev/null
      if [ "$name" = dataset ]; then
        { printf '\0'; cat "$work/data/manifest.h5"; } >"$work/out/manifest"
        { printf '\1'; cat "$work/data/shard-00000.h5"; } >"$work/out/shard"
      else
        "$cli" episodes --data "$work/data" --split test --shots 1 --queries 1 --count 3 \
          --out "$work/out/test.h5" >/dev/null
        "$cli" episodes --data "$work/data" --split train --shots 2 --queries 2 --count 2 \
          --out "$work/out/train.h5" >/dev/null
      fi
      ;;
    checkpoint)
      "$cli" train --config "$src/configs/sinusoid.yaml" --set train.steps=2 \
        --set eval.at_end=false --run-dir "$work/run" >/dev/null
      cp "$work/run/checkpoints/step-00000002.h5" "$work/out/sinusoid-maml.h5"
      "$cli" train --config "$src/configs/sinusoid.yaml" --set train.steps=1 \
        --set learner.name=metasgd --set eval.at_end=false --run-dir "$work/run2" >/dev/null
      cp "$work/run2/checkpoints/step-00000001.h5" "$work/out/sinusoid-metasgd.h5"
      ;;
    *) echo "run.sh: no fuzz target '$name'"; exit 2 ;;
  esac
  mkdir -p "$build/fuzz-corpus"
  # -T: never into a corpus another test made meanwhile (then keep that one).
  mv -T "$work/out" "$corpus" 2>/dev/null || [ -d "$corpus" ]
fi
regressions=$here/regressions/$name
mkdir -p "$tmp/none"
[ -d "$regressions" ] || regressions=$tmp/none

case $mode in
  replay)
    "$bin" "$regressions" "$corpus"
    ;;
  fuzz)
    seconds=${5:-10}
    findings=$build/fuzz-findings/$name
    mkdir -p "$findings" "$tmp/corpus"
    # The first folder takes the inputs libFuzzer finds; the seeds and the
    # saved regressions are read. -timeout: one input slower than 20 s is a
    # finding too (a hang). -detect_leaks=0: a leak check after every input
    # that allocates more than it frees scans LibTorch's whole heap, and
    # HDF5's free lists make that every input (measured: 140 executions in
    # 10 s instead of 15,000); leaks are checked when the replay tests exit.
    status=0
    "$bin" "$tmp/corpus" "$corpus" "$regressions" -max_total_time="$seconds" -timeout=20 \
      -detect_leaks=0 \
      -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$findings/" \
      >"$tmp/log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log" | tail -1)
    echo "fuzz $name: ${runs:-?} executions in ${seconds} s, $(ls "$tmp/corpus" | wc -l) new corpus inputs, exit $status"
    if [ "$status" != 0 ]; then
      grep -E "ERROR|SUMMARY|==[0-9]+==|uncaught|Test unit written" "$tmp/log" | head -30
      echo "finding saved in $findings; copy it into tests/fuzz/regressions/$name/ to replay it in every build"
      exit 1
    fi
    ;;
  *) echo "run.sh: mode replay or fuzz"; exit 2 ;;
esac
