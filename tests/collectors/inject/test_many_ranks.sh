#!/usr/bin/env bash
# Many ranks, one run directory (each rank writes its own store file; readers combine them):
# repeated mpirun jobs of unmodified MPI programs under `ttap run --budget 0`, each checked for
# every rank's samples, the planted NaN alert, nothing lost, a closed run and no abnormal exit; the
# store held locked by another process while the program exits (the case that once crashed the
# process at exit), in a loop; and a store locked for 5 s in the middle of a run.
# usage: test_many_ranks.sh CHECK TTAP PROGRAM_BIN_DIR TEST_BIN_DIR MPIRUN
# Runs per check: TTAP_MANY_RANKS_RUNS (default 20), TTAP_EXIT_LOOP_RUNS (default 20).
set -euo pipefail
check=$1
ttap=$2
progbin=$3
bin=$4
mpirun=$5
runs=${TTAP_MANY_RANKS_RUNS:-20}
exit_runs=${TTAP_EXIT_LOOP_RUNS:-20}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset LD_PRELOAD CUDA_INJECTION64_PATH NVTX_INJECTION64_PATH TTAP_RUN_DIR TTAP_STEP_RANGE \
  TTAP_HOOKS_RECV TTAP_BACKEND TTAP_BUDGET TTAP_EVERY TTAP_HOOKS_MIN_ELEMENTS TTAP_HOOKS_GRAD

fail() {
  echo "FAIL ($check): $*" >&2
  exit 1
}

mpi() {
  local np=$1
  shift
  local root=()
  [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_single_copy_mechanism=none \
    "$mpirun" "${root[@]}" --oversubscribe -np "$np" "$@"
}

q() { "$ttap" sql "$1" "$2"; }

# A finished job's run directory: every rank has samples, rank 1's NaN alert at STEP in TENSOR,
# nothing lost or dropped, every store file closed.
check_run() {  # DIR NP STEP TENSOR RUN
  local dir=$1 np=$2 step=$3 tensor=$4 run=$5 want got
  want=$(for r in $(seq 0 $((np - 1))); do echo "$r|1"; done)
  got=$(q "$dir" "select rank, count(*) > 0 from samples_v group by rank order by rank")
  [ "$got" = "$want" ] || fail "run $run: ranks with samples:"$'\n'"$got"$'\n'"want:"$'\n'"$want"
  got=$(q "$dir" "select count(*) from alerts_v where type = 'nonfinite' and rank = 1 and step = $step and tensor = '$tensor'")
  [ "$got" = 1 ] || fail "run $run: rank 1's NaN alert at step $step in $tensor: $got; alerts: $(q "$dir" "select rank, step, tensor, type from alerts_v limit 10")"
  got=$(q "$dir" "select sum(records_lost) + sum(records_dropped) + sum(store_failures) from run_counters")
  [ "$got" = 0 ] || fail "run $run: lost/dropped/failures: $got"
  got=$(q "$dir" "select count(*) from run_info where end_time is null")
  [ "$got" = 0 ] || fail "run $run: $got sessions not closed"
}

# No crash message and a clean exit status.
check_exit() {  # STATUS RUN
  [ "$1" = 0 ] || fail "run $2: exit status $1: $(tail -5 err)"
  if grep -qiE 'corrupted|double free|segmentation|aborted|core dumped' err; then
    fail "run $2: $(grep -iE 'corrupted|double free|segmentation|aborted|core dumped' err | head -3)"
  fi
}

start=$SECONDS
case "$check" in
  trainer_np2 | trainer_np4 | reduce_np2 | reduce_np4)
    np=${check##*_np}
    for run in $(seq "$runs"); do
      dir=$work/run$run
      if [ "${check%%_*}" = trainer ]; then
        mpi "$np" "$ttap" run --budget 0 -o "$dir" -- "$progbin/mpi_trainer" --steps 30 \
          --inject-nan 20:1 > out 2> err && rc=0 || rc=$?
        check_exit "$rc" "$run"
        # Only the 4352-element bucket is above TTAP_HOOKS_MIN_ELEMENTS: it is mpi.allreduce.0.
        check_run "$dir" "$np" 20 mpi.allreduce.0 "$run"
      else
        mpi "$np" "$ttap" run --budget 0 -o "$dir" -- "$bin/mpi_reduce_program" 12 5 \
          > out 2> err && rc=0 || rc=$?
        check_exit "$rc" "$run"
        check_run "$dir" "$np" 5 mpi.allreduce.0 "$run"
        # Small reductions (4 KB, count 0, the timing figure) are not summarized; the rest are
        # kind collective, and no gradient detector spoke about them.
        got=$(q "$dir" "select group_concat(tensor) from (select distinct tensor from samples_v where rank = 0 order by tensor)")
        [ "$got" = "mpi.allreduce.0,mpi.allreduce.1,mpi.iallreduce.0,mpi.reduce.0" ] ||
          fail "run $run: summarized: $got"
        got=$(q "$dir" "select count(*) from tensors where kind != 'collective'")
        [ "$got" = 0 ] || fail "run $run: $got tensors not of kind collective"
        got=$(q "$dir" "select count(*) from alerts_v where type in ('spike', 'vanishing')")
        [ "$got" = 0 ] || fail "run $run: gradient alerts on collectives: $got"
      fi
      rm -rf "$dir"
    done
    echo "ok ($check): $runs runs of $np ranks in $((SECONDS - start)) s"
    ;;

  exit_locked_np1 | exit_locked_np2)
    np=${check##*_np}
    for run in $(seq "$exit_runs"); do
      dir=$work/run$run
      # The program takes its store file's write lock after MPI_Finalize and exits holding it:
      # the hooks' exit handler closes the session while the store cannot be written.
      mpi "$np" "$ttap" run --budget 0 -o "$dir" -- "$bin/mpi_reduce_program" 3 -1 "$dir" \
        > out 2> err && rc=0 || rc=$?
      check_exit "$rc" "$run"
      grep -q 'could not be stored' err || fail "run $run: the failed last write was not reported: $(cat err)"
      # Every line about a rank's own store file, printed by that rank, names the rank. (ttap
      # run's warning that it cannot fold a WAL may come from any rank's launcher: each launcher
      # folds every finished file of the run; it names the rank of the launcher that says it.)
      for r in $(seq 1 $((np - 1))); do
        grep -q "^ttap\[rank $r\]: .*ttap.rank-$r.db" err || fail "run $run: nothing from rank $r: $(cat err)"
        unnamed=$(grep "ttap.rank-$r.db" err | grep -v "cannot fold its WAL" |
          grep -v "^ttap\[rank $r\]: " || true)
        [ -z "$unnamed" ] || fail "run $run: a line of rank $r without its rank: $unnamed"
      done
      rm -rf "$dir"
    done
    echo "ok ($check): $exit_runs runs of $np ranks in $((SECONDS - start)) s"
    ;;

  locked_5s)
    # Another process holds rank 0's store locked for 5 s while the job runs: the trainer is not
    # held up, and nothing is lost once the lock is released (the failure is counted).
    dir=$work/run
    MPI_REDUCE_STEP_MS=50 mpi 2 "$ttap" run --budget 0 -o "$dir" -- "$bin/mpi_reduce_program" 160 5 \
      > out 2> err &
    job=$!
    for _ in $(seq 200); do [ -f "$dir/ttap.db" ] && break; sleep 0.05; done
    [ -f "$dir/ttap.db" ] || fail "no store appeared"
    python3 - "$dir/ttap.db" << 'PY' || fail "could not hold the lock"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("BEGIN IMMEDIATE")
time.sleep(5)
db.execute("COMMIT")
PY
    wait $job && rc=0 || rc=$?
    check_exit "$rc" 1
    got=$(q "$dir" "select count(distinct step) from samples_v where rank = 0 and tensor = 'mpi.allreduce.0'")
    steps=$(q "$dir" "select max(step) + 1 from samples_v where rank = 1 and tensor = 'mpi.allreduce.0'")
    [ "$got" = "$steps" ] || fail "rank 0 stored $got steps, rank 1 $steps"
    got=$(q "$dir" "select sum(records_lost), sum(store_failures) > 0 from run_counters where rank = 0")
    [ "$got" = "0|1" ] || fail "rank 0's losses and failures: $got (want none lost, the failure counted)"
    "$ttap" report "$dir" > report.txt || fail "report failed"
    grep -q 'gap       rank 0: the store failed' report.txt || fail "the report does not show the gap: $(head -20 report.txt)"
    echo "ok ($check): $steps steps, nothing lost, in $((SECONDS - start)) s"
    ;;

  *)
    fail "unknown check"
    ;;
esac
