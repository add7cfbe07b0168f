#!/usr/bin/env bash
# The whole ctest suite under AddressSanitizer + UndefinedBehaviorSanitizer (CUDA off), in its own
# build directory. Any report aborts the program under test, so its test fails; zero reports is
# the bar. Suppressions (scripts/lsan.supp) are for third-party code only, each with its reason.
#   ASAN_CTEST_ARGS  extra ctest arguments (e.g. -R report)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ASAN_BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}
mkdir -p "$build"

start=$(date +%s)
# -O1 (what ASan's authors advise), with the -g1 of TTAP_SANITIZE: with these sanitizers the store
# writer took 10 s of compiler CPU against 19 s at -O2 -g; the build is most of this script's time
# on two cores.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTAP_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" \
  -DTTAP_ENABLE_CUDA=OFF > "$build/configure.log" || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
built=$(date +%s)

# detect_stack_use_after_return: a pointer to a dead frame is caught too. Leaks are checked.
# Programs the tests start (ttap, the hook test programs) inherit these. verify_asan_link_order=0:
# the hooks tests preload the instrumented libttap_inject into programs that are not instrumented
# (sh) and libm into ttap, so the ASan runtime is not first in their library list; only that check
# is off, not any error detection.
asan="detect_stack_use_after_return=1:detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Third-party leaks only (Open MPI and the libraries it loads), each with its reason in the file.
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
# Open MPI and PMIx keep their plugins loaded, so a leak report's frames in them are named.
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
# The long loops of the many-ranks tests run fewer jobs here (each job is a few processes under
# ASan); every check still runs. `make test` without ASan runs the full counts.
export TTAP_MANY_RANKS_RUNS=${TTAP_MANY_RANKS_RUNS:-3} TTAP_EXIT_LOOP_RUNS=${TTAP_EXIT_LOOP_RUNS:-10}

# Two passes over the suite: the MPI tests (label mpi) unwind every allocation's stack fully
# (fast_unwind_on_malloc=0: Open MPI has no frame pointers, and only a full stack reaches a
# library the suppressions name), which costs too much for the rest. Left out: the tests labelled
# network (the binding's tests again under torch 2.x from PyPI, TensorBoard's reader from PyPI),
# which the plain ctest run of `make test` runs; the binding's own code is tested here by the
# python tests under Debian's torch.
# Both passes run whatever the first one finds, so one run shows every report.
failed=""
echo "asan: the suite without the MPI and network tests"
ASAN_OPTIONS=$asan ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE 'mpi|network' \
  ${ASAN_CTEST_ARGS:-} || failed="$failed the suite,"
echo "asan: the MPI tests"
ASAN_OPTIONS=$asan:fast_unwind_on_malloc=0 ctest --test-dir "$build" --output-on-failure \
  -j "$jobs" -L mpi -LE network ${ASAN_CTEST_ARGS:-} || failed="$failed the MPI tests,"
# The time it took and how loaded the machine was, for the figures in the README.
timing="build $((built - start)) s, tests $(($(date +%s) - built)) s; $(uptime | sed 's/.*load/load/')"
if [ -n "$failed" ]; then
  echo "asan: FAILED:${failed%,} ($timing)" >&2
  exit 1
fi
echo "asan: suite clean, network tests left out ($timing)"
