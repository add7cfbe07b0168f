#!/usr/bin/env bash
# ttap_verdict over MPI: four ranks (verdict_mpi_program), a NaN in rank 1's gradient only at step
# 25, on_nonfinite=skip. In a group every rank's verdict says skip at 25 and at no other step, each
# rank stores its skip, and the replicas stay identical (no divergence alert). Without the group
# (each rank deciding alone) only rank 1 skips and its replica drifts from the others': the
# contrast that shows the group's vote is what keeps them together.
# usage: test_verdict_mpi.sh PROGRAM MPIRUN TTAP
set -euo pipefail
program=$1
mpirun=$2
ttap=$3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset TTAP_RUN_DIR TTAP_EVERY TTAP_BUDGET TTAP_BACKEND TTAP_ON_NONFINITE LD_PRELOAD

fail() {
  echo "FAIL: $*" >&2
  cat "$work/out" "$work/err" >&2 || true
  exit 1
}

run_ranks() {  # RUN_DIR ARGS...
  local root=()
  [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_single_copy_mechanism=none \
    "$mpirun" "${root[@]}" --oversubscribe -np 4 "$program" "$@" \
    > "$work/out" 2> "$work/err" || fail "mpirun failed"
}

run_ranks "$work/group" 40 nan=25:1
got=$(grep '^rank ' "$work/out" | sort)
want=$(printf 'rank %d skip 25 nonfinite 1 first %s\n' 0 -1 1 1 2 -1 3 -1)
[ "$got" = "$want" ] || fail "skips: got"$'\n'"$got"$'\n'"want:"$'\n'"$want"
replicas=$(grep '^replica ' "$work/out" | awk '{print $3}' | sort -u | wc -l)
[ "$replicas" = 1 ] || fail "the replicas differ after the run"
actions=$("$ttap" sql "$work/group" "select rank, step, action, reason from actions_v order by rank")
want=$(printf '%d|25|skip|nonfinite\n' 0 1 2 3)
[ "$actions" = "$want" ] || fail "actions_v: got"$'\n'"$actions"$'\n'"want:"$'\n'"$want"
detail=$("$ttap" sql "$work/group" "select detail from actions_v where rank = 0")
[ "$detail" = "voted by another rank of the group" ] || fail "rank 0's skip detail: $detail"
divergence=$("$ttap" sql "$work/group" "select count(*) from alerts_v where type = 'divergence'")
[ "$divergence" = 0 ] || fail "$divergence divergence alerts"
source=$("$ttap" sql "$work/group" "select step, rank from alerts_v where type = 'nonfinite_source'")
[ "$source" = "25|1" ] || fail "nonfinite_source: $source"

# The contrast: ranks deciding alone.
run_ranks "$work/alone" 40 nan=25:1 nogroup
got=$(grep '^rank ' "$work/out")
[ "$got" = "rank 1 skip 25 nonfinite 1 first 1" ] || fail "alone: skips: $got"
replicas=$(grep '^replica ' "$work/out" | awk '{print $3}' | sort -u | wc -l)
[ "$replicas" = 2 ] || fail "alone: expected rank 1's replica to differ from the others'"
echo "ok"
