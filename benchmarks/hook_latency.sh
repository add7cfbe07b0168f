#!/usr/bin/env bash
# What the hooks cost small messages: MPI_Allreduce latency of 4 B to 4 KB, plain and under
# `ttap run --budget 0` (the hooks preloaded, default settings: reductions under 4096 elements are
# not summarized), as per-size ratios. A ratio near 1.00 is the goal (the README's "within 10%").
# A shared machine moves latency by far more than the hooks cost, so plain and hooked runs are
# interleaved ROUNDS times (the order alternating each round) and each size reports the median of
# the per-round ratios with their range, and the load average around the measurement.
# usage: benchmarks/hook_latency.sh [BUILD_DIR] [ITERS] [REPEATS] [ROUNDS]
set -euo pipefail
build=${1:-build}
iters=${2:-2000}
repeats=${3:-7}
rounds=${4:-9}
ttap=$build/bin/ttap
bench=$build/bin/mpi_latency
[ -x "$ttap" ] && [ -x "$bench" ] || { echo "hook_latency: build ttap and mpi_latency first" >&2; exit 2; }
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpi() { OMPI_MCA_orte_tmpdir_base="$work" mpirun "${root[@]}" --oversubscribe -np 2 "$@"; }
plain() { mpi "$bench" "$iters" "$repeats" > "$work/plain.$1"; }
hooked() {
  rm -rf "$work/run"
  mpi "$ttap" run --budget 0 -o "$work/run" -- "$bench" "$iters" "$repeats" > "$work/hooked.$1" 2> "$work/hooked.err"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then plain "$r"; hooked "$r"; else hooked "$r"; plain "$r"; fi
done
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of $iters calls, best of $repeats per run"
echo "bytes  plain_us  hooked_us  ratio  (median over rounds of hooked / plain in the same round; range)"
python3 - "$work" "$rounds" <<'PY'
import statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def read(kind, r):
    return {int(b): float(us) for b, us in (line.split() for line in open(f"{work}/{kind}.{r}"))}
plain = [read("plain", r) for r in range(1, rounds + 1)]
hooked = [read("hooked", r) for r in range(1, rounds + 1)]
for size in sorted(plain[0]):
    p = [run[size] for run in plain]
    h = [run[size] for run in hooked]
    q = [b / a for a, b in zip(p, h)]
    print(f"{size:5d}  {statistics.median(p):8.3f}  {statistics.median(h):9.3f}  "
          f"{statistics.median(q):5.2f}  ({min(q):.2f}-{max(q):.2f})")
PY
