#!/usr/bin/env bash
# ThreadSanitizer run of the kernel tests on small sizes: the SIMT emulator tells TSan about its
# fibers and barriers, so a shared-memory race in a kernel is reported like a race between threads.
# Builds in its own directory (different compiler flags), then:
#   1. the fused kernel's tests on small inputs must be race-free (any report fails the run);
#   2. the emulator's own TSan tests (racy kernels reported, correct ones not);
#   3. the fused kernel with a barrier removed must be reported (a test of the test tool).
# TSAN_REPEAT=N runs checks 1 and 2 N times (a race that shows one run in several must not pass).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TSAN_BUILD_DIR:-build-tsan}
jobs=${JOBS:-$(nproc)}
mkdir -p "$build"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTAP_SIMT_TSAN=ON \
  -DTTAP_ENABLE_CUDA=OFF > "$build/configure.log" || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target test_fused_stats test_fused_stats_broken test_sample_ring test_simt test_simt_tsan

repeat=${TSAN_REPEAT:-1}
for ((round = 1; round <= repeat; ++round)); do
  [ "$repeat" -gt 1 ] && echo "tsan: round $round of $repeat"
  echo "tsan: fused kernel tests, small sizes"
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$build/bin/test_fused_stats" \
    --gtest_filter='FusedStats.RandomData*:FusedStats.Traps*:FusedStats.Bf16*:FusedStats.Reproducible*' \
    --gtest_brief=1
  echo "tsan: sample ring tests"
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$build/bin/test_sample_ring" --gtest_brief=1

  echo "tsan: emulator tests"
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$build/bin/test_simt" --gtest_brief=1 --gtest_filter='-*Benchmark*:*Death*'
done
# Its racy kernels print TSan reports by design; the test itself checks their count.
"$build/bin/test_simt_tsan" --gtest_brief=1 > "$build/simt_tsan.log" 2>&1 || { cat "$build/simt_tsan.log"; exit 1; }
grep -E "tests? from .* ran|PASSED" "$build/simt_tsan.log"

echo "tsan: the fused kernel without its histogram barrier must be reported"
set +e
TSAN_OPTIONS="exitcode=66" "$build/bin/test_fused_stats_broken" > "$build/broken.log" 2>&1
rc=$?
set -e
if [ "$rc" -ne 66 ] || ! grep -q "ThreadSanitizer: data race" "$build/broken.log"; then
  echo "tsan: FAILED: the broken kernel was not reported (exit $rc)" >&2
  exit 1
fi
echo "tsan: broken kernel reported as a data race, as it must be"
echo "tsan: all checks passed"
