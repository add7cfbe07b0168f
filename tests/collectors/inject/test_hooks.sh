#!/usr/bin/env bash
# End-to-end tests of libttap_inject, one check per ctest entry: real programs run under
# `ttap run` (which preloads the library) or with LD_PRELOAD set by hand, then their output, the
# store (samples_v, alerts_v) and the flight recorder files are checked.
# usage: test_hooks.sh CHECK TTAP BIN_DIR INJECT_LIB LIB_DIR PROGRAM_BIN_DIR MPIRUN
set -euo pipefail
check=$1
ttap=$2
bin=$3
inject=$4
libdir=$5
progbin=$6
mpirun=${7:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset LD_PRELOAD CUDA_INJECTION64_PATH NVTX_INJECTION64_PATH TTAP_RUN_DIR TTAP_STEP_RANGE \
  TTAP_HOOKS_RECV TTAP_BACKEND TTAP_BUDGET TTAP_EVERY TTAP_HOOKS_GRAD
# The test programs reduce small buffers (tens to a thousand elements): every one is summarized
# here, below the default TTAP_HOOKS_MIN_ELEMENTS that leaves small messages alone.
export TTAP_HOOKS_MIN_ELEMENTS=0

fail() {
  echo "FAIL ($check): $*" >&2
  exit 1
}

# Every rank's store file at once (each rank writes its own).
query() { "$ttap" sql "$work/run" "$1"; }

# Runs `ttap run` for the check's command; stdout and stderr of the whole run are kept.
hooked() { "$ttap" run --budget 0 -o "$work/run" -- "$@" > "$work/hooked.out" 2> "$work/hooked.err"; }

# A JSON check of the flight recorder file with Python's json (each line is one object).
flight() {
  python3 - "$1" "$2" << 'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
header, comms = lines[0], [l for l in lines if l.get("type") == "comm"]
calls = [l for l in lines if l.get("type") == "call"]
ok = eval(sys.argv[2])
if not ok:
    print("flight check failed:", sys.argv[2], file=sys.stderr)
    for l in lines[:12]: print(l, file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

expect_rows() {  # SQL, expected output
  local got
  got=$(query "$1")
  [ "$got" = "$2" ] || fail "query: $1"$'\n'"got:"$'\n'"$got"$'\n'"want:"$'\n'"$2"$'\n'"alerts:"$'\n'"$(query 'select rank, step, tensor from alerts_v order by step limit 8')"$'\n'"counters:"$'\n'"$(query 'select * from run_counters')"
}

mpi() {
  local root=()
  [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  # Its own session directory: two mpiruns starting at once race on the shared default one.
  OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_single_copy_mechanism=none \
    "$mpirun" "${root[@]}" --oversubscribe -np 2 "$@"
}

case "$check" in
  nccl_basic)
    "$bin/nccl_program" basic 5 > direct.out 2> direct.err || fail "direct run: $(cat direct.out)"
    TTAP_BACKEND=cpu hooked "$bin/nccl_program" basic 5 || fail "hooked run failed: $(cat hooked.out hooked.err)"
    cmp -s direct.out hooked.out || fail "stdout differs under the hooks: $(diff direct.out hooked.out)"
    grep -q FAILED hooked.out && fail "$(cat hooked.out)"
    # One row per step for each float reduction; the allreduce the stand-in's ncclReduce makes
    # inside the hooked ncclReduce is not recorded (re-entry guard): no F64 allreduce anywhere.
    expect_rows "select tensor, dtype, count, count(*), min(step), max(step) from samples_v
                 where tensor in ('nccl.allreduce.0', 'nccl.allreduce.1', 'nccl.reduce_scatter.0',
                 'nccl.reduce.0') group by tensor order by tensor" \
"nccl.allreduce.0|F32|1000|5|0|4
nccl.allreduce.1|F16|512|5|0|4
nccl.reduce.0|F64|64|5|0|4
nccl.reduce_scatter.0|F32|256|5|0|4"
    expect_rows "select count(*) from samples_v where tensor like 'nccl.allreduce.%' and dtype = 'F64'" 0
    expect_rows "select step, min, max, sum, nan from samples_v where tensor = 'nccl.allreduce.0' order by step" \
"0|-4.5|4.5|0.0|0
1|-3.5|5.5|1000.0|0
2|-2.5|6.5|2000.0|0
3|-1.5|7.5|3000.0|0
4|-0.5|8.5|4000.0|0"
    expect_rows "select distinct sum, min, max from samples_v where tensor = 'nccl.allreduce.1'" "512.0|1.0|1.0"
    expect_rows "select step, sum from samples_v where tensor = 'nccl.reduce.0' order by step" \
"0|0.0
1|-64.0
2|-128.0
3|-192.0
4|-256.0"
    f=run/flight-rank0.jsonl
    [ -f "$f" ] || fail "no flight recorder file"
    flight "$f" 'header["reason"] == "exit" and header["rank"] == 0'
    flight "$f" '[c["origin"] for c in comms if c["comm"] != "0x0"] == ["init", "split"] and all(c["destroyed"] for c in comms if c["comm"] != "0x0")'
    flight "$f" 'comms[2]["parent"] == comms[0]["comm"] and comms[0]["size"] == 1 and comms[1]["comm"] == "0x0"'
    # Per step 8 calls on the first communicator, then the failing one; no nested allreduce.
    flight "$f" 'comms[0]["calls"] == 41 and [c["op"] for c in calls[:8]] == ["allreduce", "allreduce", "reduce_scatter", "reduce", "allgather", "broadcast", "send", "recv"]'
    flight "$f" 'all(c["in_group"] == (c["op"] in ("send", "recv")) for c in calls)'
    flight "$f" 'calls[40]["status"] == 4 and calls[0]["status"] == 0 and calls[0]["stream"] == "0x5157" and calls[0]["redop"] == "sum" and calls[1]["redop"] == "avg"'
    flight "$f" '[c["tensor"] for c in calls if c["step"] == 1][:4] == ["nccl.allreduce.0", "nccl.allreduce.1", "nccl.reduce_scatter.0", "nccl.reduce.0"]'
    ;;

  nccl_results)
    TTAP_BACKEND=cpu TTAP_HOOKS_RECV=1 hooked "$bin/nccl_program" basic 3 ||
      fail "hooked run failed: $(cat hooked.err)"
    expect_rows "select tensor, count(*), sum(sum) from samples_v where tensor in
                 ('nccl.allreduce.0.out', 'nccl.allreduce.1.out', 'nccl.reduce.0.out',
                 'nccl.reduce_scatter.0.out') group by tensor order by tensor" \
"nccl.allreduce.0.out|3|3000.0
nccl.allreduce.1.out|3|1536.0
nccl.reduce.0.out|3|-192.0
nccl.reduce_scatter.0.out|3|97920.0"
    ;;

  nccl_emulated)
    # The emulated kernel reads the buffers later, on its own stream, as a GPU would: only the
    # buffer the program never rewrites has a known value then, and a sample finding every result
    # slot busy is skipped (counted), never waited for.
    TTAP_BACKEND=emulated hooked "$bin/nccl_program" basic 4 || fail "hooked run failed: $(cat hooked.err)"
    grep -q FAILED hooked.out && fail "$(cat hooked.out)"
    expect_rows "select distinct dtype, count, sum, min, max from samples_v where tensor = 'nccl.allreduce.1'" \
      "F16|512|512.0|1.0|1.0"
    expect_rows "select distinct dtype, count from samples_v where tensor = 'nccl.reduce_scatter.0'" "F32|256"
    # Every float reduction of the 4 steps was either summarized or counted as skipped.
    expect_rows "select samples_taken + samples_skipped >= 16, samples_taken > 0 from run_counters" "1|1"
    ;;

  nccl_capture)
    "$bin/nccl_program" capture > direct.out 2> direct.err || fail "direct run failed"
    TTAP_BACKEND=cpu hooked "$bin/nccl_program" capture || fail "hooked run failed: $(cat hooked.err)"
    cmp -s direct.out hooked.out || fail "stdout differs: $(diff direct.out hooked.out)"
    grep -q 'errors cleared: 0' direct.err || fail "direct: $(cat direct.err)"
    grep -q 'errors cleared: 1' hooked.err || fail "the failed capture query's error was not cleared: $(cat hooked.err)"
    # Only the collective outside a capture is summarized.
    expect_rows "select tensor, count, sum from samples_v" "nccl.allreduce.0|32|64.0"
    flight run/flight-rank0.jsonl '[(c["capturing"], c["tensor"]) for c in calls] == [(True, None), (False, "nccl.allreduce.0")]'
    ;;

  nccl_framework)
    TTAP_BACKEND=cpu hooked "$bin/framework_program" "$libdir/libttap_fake_framework.so" 4 ||
      fail "hooked run failed: $(cat hooked.out hooked.err)"
    grep -q '^framework trained 4 steps, 0 bad$' hooked.out || fail "$(cat hooked.out)"
    expect_rows "select step, sum from samples_v where tensor = 'nccl.allreduce.0' order by step" \
"0|128.0
1|256.0
2|384.0
3|512.0"
    ;;

  nccl_load_twice)
    # Two copies of the library in one process (two files): only the first records.
    mkdir copy
    cp "$inject" copy/libttap_inject.so
    LD_PRELOAD="$inject:$work/copy/libttap_inject.so" TTAP_RUN_DIR="$work/run" TTAP_BACKEND=cpu TTAP_BUDGET=0 \
      "$bin/nccl_program" basic 3 > out 2> err || fail "run failed: $(cat out err)"
    grep -q FAILED out && fail "$(cat out)"
    expect_rows "select count(*) from samples_v where tensor = 'nccl.allreduce.0'" 3
    expect_rows "select count(*), sum(samples_rejected) from run_counters" "1|0"
    flight run/flight-rank0.jsonl 'comms[0]["calls"] == 3 * 8 + 1'
    if [ -x "$bin/nvtx_program" ]; then
      rm -rf run
      # NVTX handed to the second copy is passed on to the first.
      LD_PRELOAD="$inject" NVTX_INJECTION64_PATH="$work/copy/libttap_inject.so" \
        TTAP_RUN_DIR="$work/run" TTAP_BACKEND=cpu TTAP_BUDGET=0 "$bin/nvtx_program" 2 > out 2> err ||
        fail "nvtx run failed: $(cat err)"
      expect_rows "select count(*) from samples_v where tensor = 'train_step/forward/layer3/nccl.allreduce.0'" 2
    fi
    ;;

  plain_unchanged)
    printf 'one\ntwo\n' | "$bin/plain_program" 7 a 'b c' > direct.out 2> direct.err && rc=0 || rc=$?
    [ "$rc" = 7 ] || fail "direct exit status $rc"
    printf 'one\ntwo\n' | "$ttap" run -o "$work/run" -- "$bin/plain_program" 7 a 'b c' \
      > hooked.out 2> hooked.err && hrc=0 || hrc=$?
    [ "$hrc" = 7 ] || fail "exit status under ttap run: $hrc"
    cmp -s direct.out hooked.out || fail "stdout differs: $(diff direct.out hooked.out)"
    grep -q '^plain_program: done$' hooked.err || fail "stderr: $(cat hooked.err)"
    grep -q 'ttap: hooks' hooked.err && fail "hook messages: $(cat hooked.err)"
    [ ! -e run/ttap.db ] || fail "a store was created"
    ls run/flight-rank*.jsonl > /dev/null 2>&1 && fail "a flight recorder file was written"
    # The hooks were in place: the library is preloaded (ahead of the user's own preload) and
    # named for CUDA and NVTX.
    LD_PRELOAD=libm.so.6 "$ttap" run --force -o "$work/run" -- sh -c \
      'echo "$LD_PRELOAD|$CUDA_INJECTION64_PATH|$NVTX_INJECTION64_PATH"' > env.out 2> /dev/null
    [ "$(cat env.out)" = "$inject:libm.so.6|$inject|$inject" ] || fail "environment: $(cat env.out)"
    ;;

  no_hooks_flag)
    "$ttap" run --no-hooks -o "$work/run" -- sh -c 'echo "[$LD_PRELOAD][$CUDA_INJECTION64_PATH]"' \
      > out 2> /dev/null
    [ "$(cat out)" = "[][]" ] || fail "environment with --no-hooks: $(cat out)"
    "$ttap" run --no-hooks --force -o "$work/run" -- "$bin/nccl_program" basic 2 > out 2> err ||
      fail "run failed"
    [ ! -e run/ttap.db ] || fail "a store was written without hooks"
    ;;

  cupti_degrades)
    "$bin/cupti_init_program" "$inject" > out 2> err || fail "exit status $?: $(cat err)"
    [ "$(cat out)" = "InitializeInjection returned 1 1" ] || fail "stdout: $(cat out)"
    [ "$(grep -c '^ttap: hooks: no kernel timing' err)" = 1 ] || fail "stderr: $(cat err)"
    [ "$(wc -l < err)" = 1 ] || fail "more than one line: $(cat err)"
    ;;

  cuda_unchanged)
    "$bin/cuda_program" > direct.out 2> direct.err && rc=0 || rc=$?
    "$ttap" run -o "$work/run" -- "$bin/cuda_program" > hooked.out 2> hooked.err && hrc=0 || hrc=$?
    [ "$rc" = "$hrc" ] || fail "exit status $rc direct, $hrc under ttap run"
    cmp -s direct.out hooked.out || fail "stdout differs: $(diff direct.out hooked.out)"
    grep -q 'ttap: hooks' hooked.err && fail "hook messages: $(cat hooked.err)"
    ;;

  flight_sigusr1)
    for handler in 0 1; do
      rm -rf run stop
      LD_PRELOAD="$inject" TTAP_RUN_DIR="$work/run" TTAP_BACKEND=cpu \
        "$bin/nccl_program" wait $handler "$work/stop" > out 2> err &
      pid=$!
      for _ in $(seq 100); do grep -q ready out && break; sleep 0.1; done
      grep -q ready out || fail "program did not start"
      kill -USR1 $pid
      for _ in $(seq 100); do [ -f run/flight-rank0.jsonl ] && break; sleep 0.1; done
      [ -f run/flight-rank0.jsonl ] || fail "no flight recorder file after SIGUSR1"
      flight run/flight-rank0.jsonl 'header["reason"] == "SIGUSR1" and comms[0]["calls"] == 3'
      if [ $handler = 0 ]; then
        # No handler of its own: SIGUSR1's default action, terminate, once the dump is written.
        wait $pid && rc=0 || rc=$?
        [ "$rc" = $((128 + 10)) ] || fail "exit status $rc, not death by SIGUSR1: $(cat err)"
        flight run/flight-rank0.jsonl 'header["reason"] == "SIGUSR1"'
        continue
      fi
      touch stop
      wait $pid || fail "the program died of SIGUSR1 (handler $handler): $(cat err)"
      grep -q 'handler ran' out || fail "the program's own SIGUSR1 handler was not chained"
      flight run/flight-rank0.jsonl 'header["reason"] == "exit"'
    done
    ;;

  nvtx_tags)
    TTAP_BACKEND=cpu hooked "$bin/nvtx_program" 3 || fail "hooked run failed: $(cat hooked.err)"
    grep -q '^nvtx_program: 3 steps, 0 bad$' hooked.out || fail "$(cat hooked.out)"
    expect_rows "select tensor, count(*), min(step), max(step) from samples_v group by tensor order by tensor" \
"train_step/backward/bucket/nccl.allreduce.0|3|0|2
train_step/forward/layer3/nccl.allreduce.0|3|0|2
train_step/nccl.allreduce.0|3|0|2
worker/nccl.allreduce.0|3|0|2"
    expect_rows "select step, sum from samples_v where tensor like '%layer3%' order by step" \
"0|100.0
1|200.0
2|300.0"
    ;;

  nvtx_step_range)
    # Reducing one buffer twice per step fools the inference (documented) ...
    TTAP_BACKEND=cpu hooked "$bin/nvtx_program" 3 --repeat || fail "run failed: $(cat hooked.err)"
    expect_rows "select max(step) from samples_v" 5
    rm -rf run
    # ... and naming the step range fixes it.
    TTAP_BACKEND=cpu TTAP_STEP_RANGE=train_step hooked "$bin/nvtx_program" 3 --repeat ||
      fail "run failed: $(cat hooked.err)"
    expect_rows "select tensor, count(*), max(step) from samples_v where tensor like '%layer3%' group by tensor order by tensor" \
"train_step/forward/layer3/nccl.allreduce.0|3|2
train_step/forward/layer3/nccl.allreduce.1|3|2"
    ;;

  nvtx_late_calls)
    # Hooked calls (an NVTX range around a grouped all-reduce, with result summaries) from a
    # thread_local's destructor at a worker thread's exit and from an atexit handler, both after
    # tensortap's own thread state on that thread was used: it must still be whole (no destructor
    # of its own ran), the program must exit normally, and the late reductions be recorded.
    TTAP_BACKEND=cpu TTAP_HOOKS_RECV=1 hooked "$bin/nvtx_program" 3 --late ||
      fail "hooked run failed: $(cat hooked.out hooked.err)"
    grep -q '^nvtx_program: 3 steps, 0 bad$' hooked.out || fail "$(cat hooked.out)"
    grep -q '^nvtx_program: late calls made, 0 bad$' hooked.out || fail "$(cat hooked.out)"
    if grep -qiE 'corrupted|double free|segmentation|aborted|sanitizer' hooked.err; then
      fail "$(cat hooked.err)"
    fi
    expect_rows "select tensor, count(*) from samples_v where tensor like 'late_thread_exit/%'
                 or tensor like 'worker_group/%' group by tensor order by tensor" \
"late_thread_exit/nccl.allreduce.0|3
late_thread_exit/nccl.allreduce.0.out|3
worker_group/nccl.allreduce.0|3
worker_group/nccl.allreduce.0.out|3"
    ;;

  nccl_group_left_open)
    # Threads that exit inside an NCCL group (ncclGroupStart, two reductions, no ncclGroupEnd):
    # the results their group would have produced are never summarized, and the hooks' list of
    # them is freed at each thread's exit (under LeakSanitizer or valgrind a leak fails the run).
    # Runs in the ASan suite, and under valgrind where it is installed.
    TTAP_BACKEND=cpu TTAP_HOOKS_RECV=1 hooked "$bin/nccl_program" group_left_open 20 ||
      fail "hooked run failed: $(cat hooked.out hooked.err)"
    grep -q '^group_left_open: 20 threads, 0 failures$' hooked.out || fail "$(cat hooked.out)"
    expect_rows "select count(*), sum(tensor like '%.out') from samples_v" "42|1"
    flight run/flight-rank0.jsonl 'len(calls) == 41 and sum(c["in_group"] for c in calls) == 41'
    if command -v valgrind > /dev/null && [ -z "${ASAN_OPTIONS:-}" ]; then
      rm -rf run
      LD_PRELOAD="$inject" TTAP_RUN_DIR="$work/run" TTAP_BACKEND=cpu TTAP_BUDGET=0 TTAP_HOOKS_RECV=1 \
        valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --error-exitcode=99 "$bin/nccl_program" group_left_open 20 > out 2> err ||
        fail "valgrind found errors or leaks: $(grep -v '^ttap:' err | head -40)"
    fi
    ;;

  mpi_finalize_at_exit)
    # MPI_Finalize and one more step of reductions (blocking and non-blocking) from an atexit
    # handler registered before the first reduction: it runs after the hooks' own exit handler
    # and after the static destructors registered since, and the hooks' state must still be whole.
    # Freed memory is overwritten (glibc's MALLOC_PERTURB_), so a use after destruction shows.
    MALLOC_PERTURB_=165 mpi -x MALLOC_PERTURB_ "$ttap" run --budget 0 -o "$work/run" -- \
      "$bin/mpi_reduce_program" 3 -1 --finalize-at-exit \
      > hooked.out 2> hooked.err || fail "hooked run failed: $(cat hooked.out hooked.err)"
    grep -q '^mpi_reduce_program: finalized at exit$' hooked.out || fail "$(cat hooked.out)"
    if grep -qiE 'corrupted|double free|segmentation|aborted|sanitizer' hooked.err; then
      fail "$(cat hooked.err)"
    fi
    # The session closed at the hooks' exit handler: the 3 steps of main are stored, the late
    # step is in the flight recorder, rewritten by the late MPI_Finalize.
    expect_rows "select rank, count(distinct step) from samples_v group by rank order by rank" "0|3
1|3"
    for r in 0 1; do
      f=run/flight-rank$r.jsonl
      flight "$f" 'header["reason"] == "MPI_Finalize" and len(calls) == 3 * 7 + 3'
      flight "$f" '[c["op"] for c in calls[-3:]] == ["allreduce", "allreduce", "iallreduce"] and all(c["complete_time"] is not None for c in calls)'
    done
    ;;

  mpi_grad_mapping)
    # Reductions are kind collective, which the gradient detectors skip, unless TTAP_HOOKS_GRAD
    # maps them as gradients: the same 10^4 jump of the gradient bucket at step 11 raises a spike
    # alert only where it is mapped (mpi.allreduce.0; mpi.reduce.0 and mpi.iallreduce.0 reduce
    # the same bucket), and none without the mapping. The report lists what was summarized.
    unset TTAP_HOOKS_MIN_ELEMENTS
    for mapping in none 'mpi.allreduce.0'; do
      rm -rf run
      [ "$mapping" = none ] && unset TTAP_HOOKS_GRAD || export TTAP_HOOKS_GRAD=$mapping
      MPI_REDUCE_SPIKE_STEP=11 mpi "$ttap" run --budget 0 -o "$work/run" -- \
        "$bin/mpi_reduce_program" 12 -1 > hooked.out 2> hooked.err ||
        fail "hooked run failed ($mapping): $(cat hooked.err)"
      if [ "$mapping" = none ]; then
        expect_rows "select count(*) from alerts_v where type in ('spike', 'vanishing')" 0
        expect_rows "select distinct kind from tensors" collective
      else
        expect_rows "select rank, step, tensor from alerts_v where type in ('spike', 'vanishing')
                     order by rank" "0|11|mpi.allreduce.0
1|11|mpi.allreduce.0"
        expect_rows "select distinct name, kind from tensors order by name" "mpi.allreduce.0|grad
mpi.allreduce.1|collective
mpi.iallreduce.0|collective
mpi.reduce.0|collective"
      fi
      "$ttap" report run > report.txt || fail "report failed"
      grep -q '^collectives 4 summarized by the hooks: mpi.allreduce.0, mpi.allreduce.1, mpi.reduce.0, mpi.iallreduce.0$' report.txt ||
        fail "the report does not list the summarized collectives: $(cat report.txt)"
    done
    ;;

  mpi_nan | mpi_nonblocking)
    extra=()
    bucket=mpi.allreduce.1
    if [ "$check" = mpi_nonblocking ]; then
      extra=(--nonblocking)
      bucket=mpi.iallreduce.1
      export TTAP_HOOKS_RECV=1
    fi
    mpi "$progbin/mpi_trainer" --steps 30 --inject-nan 20:1 "${extra[@]}" > direct.out 2> direct.err ||
      fail "direct run failed: $(cat direct.err)"
    mpi "$ttap" run --budget 0 -o "$work/run" -- "$progbin/mpi_trainer" --steps 30 --inject-nan 20:1 \
      "${extra[@]}" > hooked.out 2> hooked.err || fail "hooked run failed: $(cat hooked.err)"
    # Rank 0's training output is the same with and without the hooks.
    diff <(grep -E '^(step [0-9]+ loss|trained)' direct.out) \
      <(grep -E '^(step [0-9]+ loss|trained)' hooked.out) > /dev/null || fail "training output differs"
    grep -q '^trained 30 steps on 2 ranks' hooked.out || fail "$(cat hooked.out)"
    # The planted NaN: rank 1 at inferred step 20, in the bucket it was planted in, and nothing
    # non-finite before; rank 0 sees it only after the all-reduce spread it (step 21).
    # (Result summaries, .out, see the all-reduced NaN on both ranks at step 20 already.)
    expect_rows "select rank, step, tensor from alerts_v where type = 'nonfinite' and step <= 20
                 and tensor not like '%.out'" "1|20|$bucket"
    expect_rows "select min(step) from alerts_v where type = 'nonfinite' and rank = 0
                 and tensor not like '%.out'" 21
    expect_rows "select rank, count(distinct tensor), count(*), min(step), max(step) from samples_v
                 where tensor not like '%.out' group by rank order by rank" "0|3|90|0|29
1|3|90|0|29"
    for r in 0 1; do
      f=run/flight-rank$r.jsonl
      [ -f "$f" ] || fail "no $f"
      flight "$f" "header['rank'] == $r and header['world'] == 2 and comms[0]['lib'] == 'mpi' and comms[0]['size'] == 2 and comms[0]['calls'] == 90"
      flight "$f" "calls[-1]['step'] == 29 and all(c['complete_time'] is not None for c in calls)"
    done
    if [ "$check" = mpi_nonblocking ]; then
      expect_rows "select tensor, count(*) from samples_v where tensor like '%.out' and rank = 0 group by tensor order by tensor" \
"mpi.allreduce.0.out|30
mpi.iallreduce.0.out|30
mpi.iallreduce.1.out|30"
    fi
    ;;

  *)
    fail "unknown check"
    ;;
esac
echo "ok ($check)"
