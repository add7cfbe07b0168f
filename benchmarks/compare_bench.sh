#!/usr/bin/env bash
# The run-comparison benchmark: `ttap diff` of two runs of TENSORS x STEPS samples each (default
# 1000 x 1000; target under 2 s) and `ttap ls` over RUNS run directories (default 500; target
# under 1 s), each the best of three, next to a baseline measured here at the same moment: a plain
# sqlite3 scan of the same sample rows of both stores, and a `find` of the same run directories.
# The stores are written by make_compare_runs once and kept in WORKDIR.
# usage: compare_bench.sh [BIN_DIR (default build/bin)] [WORKDIR (default build/compare-bench)]
set -euo pipefail
bin=${1:-build/bin}
work=${2:-build/compare-bench}
tensors=${TENSORS:-1000}
steps=${STEPS:-1000}
runs=${RUNS:-500}

if [ ! -f "$work/diff-$tensors-$steps/b/ttap.db" ]; then
  rm -rf "$work/diff-$tensors-$steps"
  "$bin/make_compare_runs" diff "$work/diff-$tensors-$steps" "$tensors" "$steps"
fi
if [ ! -d "$work/ls-$runs" ]; then
  "$bin/make_compare_runs" ls "$work/ls-$runs" "$runs"
fi
a=$work/diff-$tensors-$steps/a
b=$work/diff-$tensors-$steps/b

# The best of three runs of a command: "WALL CPU" in seconds (CPU = user + system, children
# included), from the run with the least wall time; the command's status must be $1. On a loaded
# machine the wall time waits for the CPUs and the CPU time does not.
best_of_three() {
  local want=$1 best=
  shift
  for _ in 1 2 3; do
    local status times
    # The command's status follows the times on the same line: the substitution is a subshell.
    times=$( { TIMEFORMAT='%R %U %S'; time "$@" > /dev/null 2>&1; } 2>&1; echo " $?")
    times=${times//$'\n'/ }
    status=${times##* }
    if [ "$status" -ne "$want" ]; then
      echo "compare_bench: '$*' exited $status, expected $want" >&2
      exit 1
    fi
    best=$(awk -v t="$times" -v b="$best" 'BEGIN {
      split(t, x, " "); cur = x[1] " " x[2] + x[3]
      if (b == "") { print cur; exit }
      split(b, y, " "); print (x[1] < y[1]) ? cur : b }')
  done
  echo "$best"
}

scan() { for db in "$a/ttap.db" "$b/ttap.db"; do
  sqlite3 "$db" "SELECT count(*), sum(sum_sq), sum(length(hist)) FROM samples"; done; }

# The comparison must find what make_compare_runs planted: tensor TENSORS/2, from step STEPS/2.
verdict=$("$bin/ttap" diff "$a" "$b" | sed -n 's/^verdict   //p' || true)  # exit 1: they differ
case "$verdict" in
  "differ: first at step $((steps / 2)): "*) ;;
  *) echo "compare_bench: unexpected verdict: $verdict" >&2; exit 1 ;;
esac

diff_s=$(best_of_three 1 "$bin/ttap" diff "$a" "$b")
scan_s=$(best_of_three 0 scan)
ls_s=$(best_of_three 0 "$bin/ttap" ls "$work/ls-$runs")
find_s=$(best_of_three 0 find "$work/ls-$runs" -maxdepth 4 -name ttap.db)
listed=$("$bin/ttap" ls "$work/ls-$runs" --format json | grep -c '"dir"')

awk -v d="$diff_s" -v s="$scan_s" -v l="$ls_s" -v f="$find_s" -v t="$tensors" -v n="$steps" \
  -v r="$runs" -v listed="$listed" -v nproc="$(nproc)" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  split(d, D, " "); split(s, S, " "); split(l, L, " "); split(f, F, " ")
  printf "ttap diff, two runs of %d tensors x %d steps: %.3f s wall (target < 2 s), %.3f s CPU; ", t, n, D[1], D[2]
  printf "a sqlite3 scan of the same rows: %.3f s wall, %.3f s CPU (diff / scan wall = %.2f)\n", S[1], S[2], D[1] / S[1]
  printf "ttap ls, %d runs (%d listed): %.3f s wall (target < 1 s), %.3f s CPU; ", r, listed, L[1], L[2]
  printf "find of the same stores: %.3f s wall (ls / find = %.1f)\n", F[1], L[1] / F[1]
  printf "best of 3 each (by wall time); %d CPUs, load average %s when done\n", nproc, load
}'
