#!/usr/bin/env bash
# scripts/lsan-rerun-check: when scripts/test may rerun failed ASan tests.
# tracer-crash.log is a real ctest log (a clean-clone CI run): all of
# comm_test_np4's tests passed, then LeakSanitizer's tracer crashed at exit
# on one rank. The other cases are that log with one thing changed.
#   tests/scripts/lsan_rerun_check_test.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../scripts/lsan-rerun-check"
T=$(mktemp -d /tmp/metacat-lsan-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
# expect WHAT WANT_RC LOG LIST [WANT_OUT]
expect() {
  local what=$1 want=$2 out rc
  out=$("$check" "$3" "$4" 2>&1)
  rc=$?
  if [ "$rc" -eq "$want" ] && { [ $# -lt 5 ] || [ "$out" = "$5" ]; }; then
    ok "$what"
  else
    bad "$what: exit $rc (want $want), output: $out"
  fi
}
real=$here/tracer-crash.log
printf '22:comm_test_np4\n' >"$T/one"
expect "the real tracer crash is rerun" 0 "$real" "$T/one" "comm_test_np4"

# The same block with a failure of any kind in it: no rerun.
after() {  # PATTERN TEXT: the real log with TEXT inserted after the first PATTERN line
  awk -v p="$1" -v t="$2" '{ print } !done && index($0, p) { print t; done = 1 }' "$real"
}
after "Tracer caught signal" "==4660==ERROR: LeakSanitizer: detected memory leaks" >"$T/leak"
expect "a leak report is not rerun" 1 "$T/leak" "$T/one"
after "Tracer caught signal" "[  FAILED  ] rank 2: a test failed on this rank (only rank 0 prints)" >"$T/rank"
expect "another rank's failure is not rerun" 1 "$T/rank" "$T/one"
after "Comm.SharedDecisionsAndBarrier" "../../tests/comm/comm_test.cpp:99: runtime error: signed integer overflow" >"$T/ub"
expect "an undefined-behaviour report is not rerun" 1 "$T/ub" "$T/one"
after "Comm.SharedDecisionsAndBarrier" "==1==ERROR: AddressSanitizer: heap-use-after-free" >"$T/asan"
expect "a memory error is not rerun" 1 "$T/asan" "$T/one"
after "Tracer caught signal" "==1==AddressSanitizer CHECK failed: x" >"$T/check"
expect "a sanitizer's own check failure is not rerun" 1 "$T/check" "$T/one"
after "Tracer caught signal" "==1==ERROR: libFuzzer: deadly signal" >"$T/fuzz"
expect "a fuzzer finding is not rerun" 1 "$T/fuzz" "$T/one"
after "Tracer caught signal" "FAIL: a shell check" >"$T/fail"
expect "a shell test's FAIL: is not rerun" 1 "$T/fail" "$T/one"
sed 's/\*\*\*Failed    8.34 sec/***Exception: SegFault  8.34 sec/' "$real" >"$T/segv"
expect "a test killed by a signal is not rerun" 1 "$T/segv" "$T/one"
sed 's/\*\*\*Failed    8.34 sec/***Timeout 1800.01 sec/' "$real" >"$T/timeout"
expect "a timeout is not rerun" 1 "$T/timeout" "$T/one"
grep -v "Tracer caught signal" "$real" >"$T/nocrash"
expect "a failure without the crash is not rerun" 1 "$T/nocrash" "$T/one"

# A second failed test: rerun only if it too failed by the crash alone. A
# crash in comm_test_np4's block covers nothing of another test's.
printf '21:comm_test_np2\n22:comm_test_np4\n' >"$T/two"
sed 's/comm_test_np2 ....................   Passed    7.22 sec/comm_test_np2 ....................***Failed    7.22 sec\nFAIL: a shell check/' "$real" >"$T/shell"
expect "another test's FAIL: is not rerun" 1 "$T/shell" "$T/two"
sed 's/comm_test_np2 ....................   Passed    7.22 sec/comm_test_np2 ....................***Failed    7.22 sec/' "$real" >"$T/silent"
expect "another test failing without the crash is not rerun" 1 "$T/silent" "$T/two"
printf '22:comm_test_np4\n21:comm_test_np2' >"$T/two-nonl"
expect "a last list line without a newline is checked too" 1 "$T/silent" "$T/two-nonl"
sed 's/comm_test_np2 ....................   Passed    7.22 sec/comm_test_np2 ....................***Failed    7.22 sec\nTracer caught signal 11: addr=0x0 pc=0x1 sp=0x2\n==9==LeakSanitizer has encountered a fatal error./' "$real" >"$T/both"
expect "two tests that both crashed are rerun" 0 "$T/both" "$T/two" "comm_test_np2 comm_test_np4"

: >"$T/empty"
expect "no list of failed tests: no rerun" 1 "$real" "$T/empty"
expect "a missing list: no rerun" 1 "$real" "$T/missing"
expect "a missing log: no rerun" 1 "$T/missing" "$T/one"
"$check" "$real" >/dev/null 2>&1
[ $? -eq 2 ] && ok "a wrong argument count is refused" || bad "a wrong argument count: not exit 2"

echo "lsan_rerun_check_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
