#!/usr/bin/env bash
# Longer fuzzing runs than the test suite's (10 s per target): every target
# of tests/fuzz for SECONDS (default 300) in the checking build
# (build-asan: clang, ASan + UBSan, libFuzzer; scripts/test builds it).
# Prints each target's executions, new corpus inputs and findings; a finding
# is saved under build-asan/fuzz-findings/NAME/ (copy it into
# tests/fuzz/regressions/NAME/ to replay it in every build).
# Usage: bench/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config csv schema dataset episodes checkpoint)
build=${BUILD_DIR:-build-asan}
[ -x "$build/tests/fuzz/config_fuzz" ] || { echo "bench/fuzz.sh: no fuzz targets in $build (scripts/test builds them)"; exit 1; }
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
export LSAN_OPTIONS=suppressions=$(pwd)/tests/sanitizers/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
  bash tests/fuzz/run.sh fuzz "$t" "$build/tests/fuzz/${t}_fuzz" "$build" "$SECONDS_EACH" || failed=1
done
exit $failed
