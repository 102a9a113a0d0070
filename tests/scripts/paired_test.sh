#!/usr/bin/env bash
# bench/paired.py: the paired difference of two evaluations of the same
# episodes, on small eval.json files whose answers are worked out by hand.
#   tests/scripts/paired_test.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
paired="$here/../../bench/paired.py"
T=$(mktemp -d /tmp/metacat-paired.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
# expect WHAT WANT_RC WANT_OUT_SUBSTRING ARGS...
expect() {
  local what=$1 want=$2 sub=$3 out rc
  shift 3
  out=$(python3 "$paired" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$want" ] && [[ "$out" == *"$sub"* ]]; then
    ok "$what"
  else
    bad "$what: exit $rc (want $want), output: $out"
  fi
}
# result METHOD SHOTS PER_EPISODE_JSON
result() { printf '{"method": "%s", "shots": %s, "metric": "auc", "per_episode": %s}' "$1" "$2" "$3"; }
file() {  # PATH RESULT...
  local p=$1
  shift
  local IFS=,
  printf '{"checkpoints": [], "results": [%s]}\n' "$*" >"$p"
}
ref='[0.6, 0.7, 0.5, 0.8]'
# A - B per episode: 0.02, 0.04, null (skipped), 0.06 -> mean 0.04, sd 0.02,
# interval 1.96 * 0.02 / sqrt(3) = 0.0226.
file "$T/a.json" "$(result maml 0 "$ref")" "$(result maml+metaemb 0 '[0.62, 0.74, null, 0.86]')" \
  "$(result maml+metaemb 5 '[0.5, 0.5, 0.5, 0.5]')"
file "$T/b.json" "$(result maml 0 "$ref")" "$(result maml+metaemb 0 '[0.6, 0.7, 0.9, 0.8]')" \
  "$(result maml+metaemb 5 '[0.5, 0.5, 0.5, 0.5]')"
expect "the difference per episode, nulls skipped" 0 \
  "0-shot: A maml+metaemb - B maml+metaemb, paired over 3 episodes: +0.0400 ± 0.0226 (apart from 0)" \
  "$T/a.json" "$T/b.json" --same maml
expect "a zero difference includes 0" 0 "5-shot: A maml+metaemb - B maml+metaemb, paired over 4 episodes: +0.0000 ± 0.0000 (includes 0)" \
  "$T/a.json" "$T/b.json"
expect "two methods of one file" 0 "0-shot: A maml+metaemb - B maml, paired over 3 episodes: +0.0400 ± 0.0226" \
  "$T/a.json" "$T/a.json" --method-b maml
expect "the other way round" 0 "paired over 3 episodes: -0.0400 ± 0.0226" "$T/b.json" "$T/a.json"
file "$T/other.json" "$(result maml 0 '[0.6, 0.7, 0.5, 0.81]')" "$(result maml+metaemb 0 '[0.6, 0.7, 0.5, 0.8]')"
expect "other episodes are refused with --same" 1 "other.json): maml 0-shot differs" \
  "$T/a.json" "$T/other.json" --same maml
file "$T/short.json" "$(result maml+metaemb 0 '[0.6, 0.7, 0.5]')"
expect "a different episode count is refused" 1 "3 episodes in A, 4 in B" "$T/short.json" "$T/a.json"
printf '{"results": [{"method": "maml", "shots": 0, "mean": 0.6}]}\n' >"$T/old.json"
expect "a file without per_episode is refused" 1 "without per_episode" "$T/old.json" "$T/a.json"
expect "no common method is an error" 1 "no shot count has protonet" "$T/a.json" "$T/b.json" --method protonet
expect "--same needs the reference in B" 1 "no maml at 0-shot to check the episodes by" \
  "$T/a.json" "$T/short.json" --same maml
file "$T/twice.json" "$(result maml 0 "$ref")" "$(result maml 0 "$ref")"
expect "a method twice at one shot count is refused" 1 "0-shot maml appears twice" \
  "$T/twice.json" "$T/a.json" --method maml
file "$T/one.json" "$(result maml+metaemb 0 '[0.6, null, null, null]')"
expect "one episode defined in both is no interval" 1 "fewer than 2 episodes defined in both" \
  "$T/one.json" "$T/b.json"
# warm/cold groups (eval.warm) are kept apart and named.
gresult() { printf '{"method": "%s", "categories": "%s", "shots": %s, "per_episode": %s}' "$@"; }
file "$T/ga.json" "$(gresult maml+metaemb cold 1 '[0.7, 0.7]')" "$(gresult maml+metaemb warm 1 '[0.5, 0.6]')"
file "$T/gb.json" "$(gresult maml+metaemb cold 1 '[0.6, 0.6]')" "$(gresult maml+metaemb warm 1 '[0.5, 0.5]')"
expect "the cold group" 0 "cold 1-shot: A maml+metaemb - B maml+metaemb, paired over 2 episodes: +0.1000 ± 0.0000" \
  "$T/ga.json" "$T/gb.json"
expect "the warm group" 0 "warm 1-shot: A maml+metaemb - B maml+metaemb, paired over 2 episodes: +0.0500 ± 0.0980" \
  "$T/ga.json" "$T/gb.json"
# Several pairs (one per run): each pair's lines, then the mean of the
# runs' differences ± t-interval over the runs. Runs differ by a constant
# 0.01, 0.02, 0.03 per episode: mean 0.02, sd 0.01, t(2) = 4.303, interval
# 4.303 * 0.01 / sqrt(3) = 0.0248.
for k in 1 2 3; do
  file "$T/r$k-a.json" "$(result maml+metaemb 0 "[0.5$k, 0.6$k]")"
  file "$T/r$k-b.json" "$(result maml+metaemb 0 '[0.5, 0.6]')"
done
runs=("$T/r1-a.json" "$T/r1-b.json" "$T/r2-a.json" "$T/r2-b.json" "$T/r3-a.json" "$T/r3-b.json")
expect "each run's line names its file" 0 "r2-a.json 0-shot: A maml+metaemb - B maml+metaemb, paired over 2 episodes: +0.0200" \
  "${runs[@]}"
expect "the runs' differences over the runs" 0 "0-shot: +0.0200 ± 0.0248 over 3 runs, 3 of 3 above 0 (includes 0)" \
  "${runs[@]}"
expect "files not in pairs are refused" 1 "give the files in pairs" "$T/r1-a.json" "$T/r1-b.json" "$T/r2-a.json"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
