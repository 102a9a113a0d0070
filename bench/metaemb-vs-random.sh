#!/usr/bin/env bash
# New items of new categories: generated id rows against random ones, on
# the same test episodes, over the training seeds of already trained runs.
#
# Every item of a new category is new as a scored item, but a training
# user's click history may name it, so the trained model holds a row for it
# learned as a history entry. A brand-new item has no such row. With
# `baselines.metaemb.replace: unshown` all those rows are replaced, once by
# the generator's rows (rows_as: generated) and once by fresh N(0, 0.1^2)
# rows (rows_as: random, an untrained row drawn from the run's training
# seed; no generator is trained for it), and the two evaluations are
# compared per episode (bench/paired.py, checked to be the same episodes by
# the learner's own identical scores). Every run is evaluated on the same
# test episodes (the config's eval.seed).
#
# RUN...: run directories of the same config and log, one per training
# seed (e.g. bench/catalogue.sh's OUT/test-category-S). It prints each
# run's paired difference per shot count, and over the runs the mean ±
# t-interval of those differences. An OUT that holds a run's evaluations
# for the same EPISODES and SHOTS reuses them.
#
#   bench/metaemb-vs-random.sh RUN...   EPISODES=500 SHOTS="[0]" LEARNER=maml OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/metacat}
PY=${METACAT_PYTHON:-.venv/bin/python}
EPISODES=${EPISODES:-500}
SHOTS=${SHOTS:-"[0]"}
LEARNER=${LEARNER:-maml}  # the runs' learner.name
[ $# -ge 1 ] || { echo "usage: bench/metaemb-vs-random.sh RUN..." >&2; exit 2; }
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
tag=$EPISODES-$(echo "$SHOTS" | tr -cd '0-9,' | tr , -)
lines=()
for run in "$@"; do
  name=$(basename "$run")
  for how in generated random; do
    f=$out/$name-$tag-$how
    [ -f "$f.json" ] || "$BIN" eval --checkpoint "$run" --baseline metaemb \
      --set eval.episodes="$EPISODES" --set "eval.shots=$SHOTS" --set eval.warm=false \
      --set baselines.metaemb.replace=unshown --set baselines.metaemb.rows_as=$how \
      --json "$f.json" >"$f.log" 2>&1 || { echo "eval of $run failed:" >&2; tail -n 5 "$f.log" >&2; exit 1; }
  done
  grep -o "generator of.*" "$out/$name-$tag-generated.log" | sed "s/^/# $name: /" || true
  # Not in a process substitution: a failed check (other episodes) stops here.
  res=$("$PY" bench/paired.py "$out/$name-$tag-generated.json" "$out/$name-$tag-random.json" \
    --method "$LEARNER+metaemb" --same "$LEARNER")
  while IFS= read -r l; do
    echo "$name $l"
    lines+=("$l")
  done <<<"$res"
done
printf '%s\n' "${lines[@]}" | "$PY" -c '
import re, statistics, sys
# Student t, 97.5% quantile, by degrees of freedom (past 10: the value at 10, wider
# than the true one).
T = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
per = {}
for line in sys.stdin:
    m = re.match(r"(?:(\w+) )?(\d+)-shot: .*: ([-+]\d+\.\d+) ", line)
    if not m:
        sys.exit(f"unread line: {line.strip()}")
    key = ((m.group(1) + " ") if m.group(1) else "") + m.group(2) + "-shot"
    per.setdefault((m.group(1) or "", int(m.group(2)), key), []).append(float(m.group(3)))
print("\ngenerated - random over the runs (mean ± t-interval over runs):")
for (_, _, shots), v in sorted(per.items()):
    if len(v) < 2:
        print(f"{shots}: {v[0]:+.4f} (one run)")
        continue
    mean = statistics.mean(v)
    h = T[min(len(v) - 1, len(T)) - 1] * statistics.stdev(v) / len(v) ** 0.5
    where = "apart from 0" if abs(mean) > h else "includes 0"
    above = sum(x > 0 for x in v)
    print(f"{shots}: {mean:+.4f} ± {h:.4f} over {len(v)} runs, {above} of {len(v)} above 0 ({where})")
'
