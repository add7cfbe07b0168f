#!/usr/bin/env bash
# The fuzz harnesses of tests/fuzz (libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer, built
# with clang in their own directory). Each harness first replays its checked-in corpus (seeds and
# every input that once crashed: the regression tests), then runs fresh inputs for its share of
# the time. Any crash, sanitizer report, leak or hang (an input over FUZZ_TIMEOUT seconds) fails
# the run and leaves the input in $build/artifacts/.
#   FUZZ_SECONDS  fresh-input seconds per harness (default 6; `make fuzz` passes more)
#   FUZZ_HARNESSES  which harnesses (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc)}
seconds=${FUZZ_SECONDS:-6}
timeout_s=${FUZZ_TIMEOUT:-20}
read -r -a harnesses <<< "${FUZZ_HARNESSES:-fuzz_npy fuzz_safetensors fuzz_raw fuzz_options fuzz_store}"
mkdir -p "$build"

if ! command -v clang++ > /dev/null; then
  echo "fuzz: clang++ not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTTAP_FUZZ=ON -DTTAP_ENABLE_CUDA=OFF -DTTAP_BUILD_TESTS=OFF > "$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target "${harnesses[@]}"

mkdir -p "$build/artifacts"
start=$(date +%s)
for h in "${harnesses[@]}"; do
  corpus=tests/fuzz/corpus/${h#fuzz_}
  # New inputs go to a scratch corpus in the build directory; the checked-in one is only read.
  fresh="$build/corpus/${h#fuzz_}"
  mkdir -p "$fresh"
  log="$build/$h.log"
  # detect_leaks: a reader that leaks on a bad input is a defect too.
  if ! ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$build/bin/$h" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" \
    "$fresh" "$corpus" > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $h FAILED (input in $build/artifacts/; add it to $corpus once fixed)" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  seeds=$(ls "$corpus" | wc -l)
  echo "fuzz: $h ok: $seeds corpus inputs replayed, $runs inputs run in total (${seconds} s fresh)"
done
echo "fuzz: all harnesses clean ($(($(date +%s) - start)) s)"
