#!/usr/bin/env bash
# What the hooks cost small messages: MPI_Allreduce latency of 4 B to 4 KB, plain and under
# `ttap run --budget 0` (the hooks preloaded, default settings: reductions under 4096 elements are
# not summarized), in the same invocation, as per-size ratios. A ratio near 1.00 is the goal (the
# README's "within 10%").
# usage: benchmarks/hook_latency.sh [BUILD_DIR] [ITERS] [REPEATS]
set -euo pipefail
build=${1:-build}
iters=${2:-2000}
repeats=${3:-7}
ttap=$build/bin/ttap
bench=$build/bin/mpi_latency
[ -x "$ttap" ] && [ -x "$bench" ] || { echo "hook_latency: build ttap and mpi_latency first" >&2; exit 2; }
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi() { OMPI_MCA_orte_tmpdir_base="$work" mpirun "${root[@]}" --oversubscribe -np 2 "$@"; }
mpi "$bench" "$iters" "$repeats" > "$work/plain"
mpi "$ttap" run --budget 0 -o "$work/run" -- "$bench" "$iters" "$repeats" > "$work/hooked" 2> "$work/hooked.err"
mpi "$bench" "$iters" "$repeats" > "$work/plain2"
echo "bytes  plain_us  hooked_us  ratio   (plain = the better of two plain runs around the hooked one)"
paste "$work/plain" "$work/plain2" "$work/hooked" | while read -r bytes a _ b _ h; do
  p=$(awk -v a="$a" -v b="$b" 'BEGIN { print (a < b ? a : b) }')
  awk -v n="$bytes" -v p="$p" -v h="$h" 'BEGIN { printf "%5d  %8.3f  %9.3f  %5.2f\n", n, p, h, h / p }'
done
