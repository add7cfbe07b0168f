#!/usr/bin/env bash
# The group over MPI end to end: four ranks of group_mpi_program (the C API with
# ttap_set_group(s, "mpi", &comm)) write one store; its samples, per-rank rows and alerts are
# checked with `ttap sql`, and the collectives each rank made are counted.
# usage: test_group_mpi.sh CHECK PROGRAM MPIRUN TTAP
set -euo pipefail
check=$1
program=$2
mpirun=$3
ttap=$4

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset TTAP_RUN_DIR TTAP_EVERY TTAP_BUDGET TTAP_BACKEND TTAP_REPLICATED TTAP_SHARDED LD_PRELOAD

fail() {
  echo "FAIL ($check): $*" >&2
  echo "--- output" >&2
  cat "$work/out" >&2 || true
  echo "--- alerts" >&2
  query "select rank, step, type, tensor, message from alerts_v order by time" >&2 || true
  exit 1
}

# Every rank's store file at once (each rank writes its own; rank 0 the group's rows).
query() { "$ttap" sql "$work/run" "$1"; }

expect() {  # SQL, expected output
  local got
  got=$(query "$1")
  [ "$got" = "$2" ] || fail "query: $1"$'\n'"got:"$'\n'"$got"$'\n'"want:"$'\n'"$2"
}

run_ranks() {
  local root=()
  [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  # Its own session directory: two mpiruns starting at once race on the shared default one.
  OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_single_copy_mechanism=none \
    "$mpirun" "${root[@]}" --oversubscribe -np 4 "$program" "$work/run" "$@" \
    > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; fail "mpirun failed"; }
}

# Every rank made exactly two all-reduces and one all-gather per group sample between the two
# flushes of the program (the header-and-maxima reduction, the sums, the per-rank gather).
check_counts() {
  local lines
  lines=$(grep -c '^rank ' "$work/out") || true
  [ "$lines" = 4 ] || fail "expected 4 count lines, got $lines"
  while read -r _ rank _ allreduce _ allgather _ samples; do
    [ "$samples" -gt 0 ] || fail "rank $rank: no samples in the counted span"
    [ "$allreduce" = $((2 * samples)) ] ||
      fail "rank $rank: $allreduce all-reduces for $samples samples (want $((2 * samples)))"
    [ "$allgather" = "$samples" ] ||
      fail "rank $rank: $allgather all-gathers for $samples samples (want $samples)"
  done < <(grep '^rank ' "$work/out")
}

# The merged l2 of the gradient equals the l2 of the four ranks' gradients concatenated, and the
# merged l2 of the replicated gradient the l2 of one replica (computed by the program from the
# data, in long double), to 1e-6 relative.
check_global_l2() {
  local n=0
  while read -r _ step tensor want; do
    got=$(query "select l2 from samples_v where tensor = '$tensor' and step = $step")
    [ -n "$got" ] || fail "no merged sample of $tensor at step $step"
    python3 -c "import sys; g, w = float('$got'), float('$want'); sys.exit(abs(g - w) > 1e-6 * w)" ||
      fail "step $step: merged l2 $got, l2 of the concatenated data $want"
    n=$((n + 1))
  done < <(grep '^l2 ' "$work/out")
  [ "$n" -ge 6 ] || fail "only $n l2 references"
}

case "$check" in
clean)
  # Identical replicas, rank-dependent gradients, a replicated gradient (ttap_set_role), a
  # tensor-parallel shard that differs by rank (declared sharded=*.shard): no alert at all.
  run_ranks 16 sharded_differs count_from=5
  expect "select count(*) from alerts" "0"
  # One store for the group: only rank 0 writes samples; every rank recorded its group place.
  expect "select rank, count(*) from samples group by rank" "0|64"
  expect "select group_kind, group_size, group_rank from run_info order by group_rank" \
    $'mpi|4|0\nmpi|4|1\nmpi|4|2\nmpi|4|3'
  expect "select count(*) from ranks_v" "256"
  expect "select count(distinct fingerprint) from ranks_v where tensor = 'layer.weight'" "1"
  expect "select count(distinct fingerprint) from ranks_v where tensor = 'layer.weight.shard'" "0"
  # The replicated gradient: fingerprinted on every rank, one fingerprint per step.
  expect "select count(*), sum(n) from (select count(distinct fingerprint) as n from ranks_v
            where tensor = 'layer.bias.grad' and fingerprint is not null group by step)" "16|16"
  expect "select count(*) from samples_v where tensor = 'layer.bias.grad' and count != 1200" "0"
  expect "select count(*) from ranks_v where tensor = 'layer.weight.grad' and fingerprint is null" \
    "64"
  # Each rank's own l2 is its part: the four squares add up to the merged one.
  expect "select count(*) from samples_v as s where s.tensor = 'layer.weight.grad' and abs(s.l2 * s.l2 -
            (select sum(r.l2 * r.l2) from ranks_v as r where r.tensor = s.tensor and r.step = s.step))
            > 1e-9 * s.l2 * s.l2" "0"
  # Replicas (the parameter by its kind, the gradient by ttap_set_role) merge as one replica:
  # its count and l2, not four times the count and twice the l2.
  expect "select count(*) from samples_v where tensor = 'layer.weight' and count != 3000" "0"
  check_global_l2
  check_counts
  # ttap report merges the ranks: the per-rank section lists the four.
  "$ttap" report "$work/run" > "$work/report.txt" || fail "ttap report failed"
  grep -q '^ranks ' "$work/report.txt" || fail "no ranks section in the report"$'\n'"$(cat "$work/report.txt")"
  ;;
faults)
  # One flipped bit in rank 3's copy of the replicated parameter at step 5, one in rank 1's copy
  # of the replicated gradient at step 11, and a NaN in rank 2's gradient at step 8: one store
  # whose alerts name the three ranks, each within its sample.
  run_ranks 14 flip=5:3 flip_grad=11:1 nan=8:2 count_from=9
  expect "select rank, step, tensor from alerts where type = 'divergence' order by step" \
    $'3|5|layer.weight\n1|11|layer.bias.grad'
  query "select message from alerts where type = 'divergence'" |
    grep -q '^silent data corruption suspected on rank 3: ' || fail "divergence message"
  expect "select rank, step, tensor from alerts where type = 'nonfinite_source'" \
    "2|8|layer.weight.grad"
  query "select message from alerts where type = 'nonfinite_source'" |
    grep -q 'first seen on rank 2 only' || fail "nonfinite_source message"
  expect "select rank, nonfinite from ranks_v where step = 8 and nonfinite > 0" "2|1"
  expect "select count(*) from alerts where type in ('outlier_rank', 'straggler')" "0"
  check_counts
  "$ttap" report "$work/run" > "$work/report.txt" || fail "ttap report failed"
  grep -q 'silent data corruption suspected on rank 3' "$work/report.txt" ||
    fail "the report lacks the divergence alert"$'\n'"$(cat "$work/report.txt")"
  ;;
stride)
  # Rank 2 wants at least 450 ms between samples (16 to 32 steps of about 20 ms once the step-time
  # average has settled, fewer while the first slow steps weigh in): the whole group samples on
  # the grid of the stride that asks for (a power of two: every sampled step after 0 and 1, which
  # come before the first agreement could apply, is a multiple of it), all ranks at the same
  # steps, and samples some ranks took at other steps are left out. 20 ms steps, not 2: the
  # checks below hold while CPU contention adds less than ~40 ms per step (a 2 ms step allowed 9).
  run_ranks 80 interval=2:450 step_ms=20 count_from=79
  steps=$(query "select group_concat(step, ' ') from (select distinct step from samples order by step)")
  n=0
  previous=
  for step in $steps; do
    n=$((n + 1))
    if [ "$step" -gt 1 ]; then
      [ $((step % 4)) = 0 ] || fail "sampled step $step is off the group's grid: $steps"
    fi
    [ -z "$previous" ] || gap=$((step - previous))
    previous=$step
  done
  [ "$n" -ge 3 ] && [ "$n" -le 12 ] || fail "$n group samples over 80 steps: $steps"
  # The settled stride: the last gap is a power of two of at least 8 on whose grid the last step lies.
  [ "$gap" -ge 8 ] && [ $((gap & (gap - 1))) = 0 ] && [ $((previous % gap)) = 0 ] ||
    fail "the last gap ($gap) is not a settled stride: $steps"
  expect "select count(*) from (select step from rank_steps group by step having count(*) != 4 or sum(present) != 4)" "0"
  expect "select count(*) from alerts" "0"
  ;;
straggler)
  # Rank 1 sleeps 300 ms per step, the others 2 ms (the ranks are not lock-stepped here): far
  # above both the detector's 50 ms margin and what CPU contention adds to a step.
  run_ranks 12 slow=1 count_from=4
  expect "select rank, type from alerts" "1|straggler"
  expect "select count(*) from rank_steps where rank = 1 and step > 0 and step_seconds > 0.29" "11"
  ;;
*)
  fail "unknown check"
  ;;
esac
echo "ok ($check)"
