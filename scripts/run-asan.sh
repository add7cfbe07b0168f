#!/usr/bin/env bash
# The whole ctest suite under AddressSanitizer + UndefinedBehaviorSanitizer (CUDA off), in its own
# build directory. Any report aborts the program under test, so its test fails; zero reports is
# the bar. There are no suppressions; any added must be for third-party code, with its reason.
#   ASAN_CTEST_ARGS  extra ctest arguments (e.g. -R report)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ASAN_BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}
mkdir -p "$build"

start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTAP_SANITIZE=ON \
  -DTTAP_ENABLE_CUDA=OFF > "$build/configure.log" || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
built=$(date +%s)

# detect_stack_use_after_return: a pointer to a dead frame is caught too. Leaks are checked.
# Programs the tests start (ttap, the hook test programs) inherit these. verify_asan_link_order=0:
# the hooks tests preload the instrumented libttap_inject into programs that are not instrumented
# (sh) and libm into ttap, so the ASan runtime is not first in their library list; only that check
# is off, not any error detection.
export ASAN_OPTIONS="detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" --output-on-failure -j "$jobs" ${ASAN_CTEST_ARGS:-}
echo "asan: whole suite clean (build $((built - start)) s, tests $(($(date +%s) - built)) s)"
