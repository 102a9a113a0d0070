#!/usr/bin/env bash
# New items of new categories: generated id rows against random ones, on
# the same test episodes, over the training seeds of already trained runs.
#
# Every item of a new category is new as a scored item, but a training
# user's click history may name it, so the trained model holds a row for it
# learned as a history entry. A brand-new item has no such row. With
# `baselines.metaemb.replace: unshown` all those rows are replaced, once by
# the generator's rows (rows_as: generated) and once by fresh N(0, 0.1^2)
# rows (rows_as: random, an untrained row), and the two evaluations are
# compared per episode (bench/paired.py, checked to be the same episodes by
# the learner's own identical scores).
#
# RUN...: run directories of the same config and log, one per training
# seed (e.g. bench/catalogue.sh's OUT/test-category-S). It prints each
# run's paired difference per shot count, and over the runs the mean ±
# t-interval of those differences.
#
#   bench/metaemb-vs-random.sh RUN...   EPISODES=500 SHOTS="[0]" OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
EPISODES=${EPISODES:-500}
SHOTS=${SHOTS:-"[0]"}
[ $# -ge 1 ] || { echo "usage: bench/metaemb-vs-random.sh RUN..." >&2; exit 2; }
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
lines=()
for run in "$@"; do
  name=$(basename "$run")
  for how in generated random; do
    f=$out/$name-$how
    [ -f "$f.json" ] || "$BIN" eval --checkpoint "$run" --baseline metaemb \
      --set eval.episodes="$EPISODES" --set "eval.shots=$SHOTS" --set eval.warm=false \
      --set baselines.metaemb.replace=unshown --set baselines.metaemb.rows_as=$how \
      --json "$f.json" >"$f.log" 2>&1 || { echo "eval failed: see $f.log" >&2; exit 1; }
  done
  grep -o "generator of.*" "$out/$name-generated.log" | sed "s/^/# $name: /"
  while IFS= read -r l; do
    echo "$name $l"
    lines+=("$l")
  done < <("$PY" bench/paired.py "$out/$name-generated.json" "$out/$name-random.json" --same maml)
done
printf '%s\n' "${lines[@]}" | "$PY" -c '
import re, statistics, sys
T = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
per = {}
for line in sys.stdin:
    m = re.match(r"(\S+)-shot: .*: ([-+]\d+\.\d+) ", line)
    if m:
        per.setdefault(int(m.group(1)), []).append(float(m.group(2)))
print("\ngenerated - random over the runs (mean ± t-interval over runs):")
for shots, v in sorted(per.items()):
    if len(v) < 2:
        print(f"{shots}-shot: {v[0]:+.4f} (one run)")
        continue
    mean, h = statistics.mean(v), T.get(len(v) - 1, 1.96) * statistics.stdev(v) / len(v) ** 0.5
    where = "apart from 0" if abs(mean) > h else "includes 0"
    above = sum(x > 0 for x in v)
    print(f"{shots}-shot: {mean:+.4f} ± {h:.4f} over {len(v)} runs, {above} of {len(v)} above 0 ({where})")
'
