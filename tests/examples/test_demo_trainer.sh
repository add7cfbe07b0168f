#!/usr/bin/env bash
# Tests of ttap-demo (examples/demo_trainer.c), one check per ctest entry: its flags, the run it
# leaves in the store (a sample of every watched tensor, the loss, the planted NaN's single alert at
# the right step), that it learns, that a huge --lr diverges, and that tensortap cannot stop it.
# usage: test_demo_trainer.sh CHECK DEMO_BINARY [TTAP_BINARY]
set -euo pipefail
check=$1
demo=$2
ttap=${3:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Every run writes its store here, never into the build directory.
export TTAP_RUN_DIR="$work/run"

fail() {
  echo "FAIL ($check): $*" >&2
  exit 1
}

query() { sqlite3 -batch -noheader "$TTAP_RUN_DIR/ttap.db" "$1"; }

# The value after "loss" on the first "step N  loss X" line, and the final line's loss.
first_loss() { awk '$1 == "step" && $3 == "loss" {print $4; exit}' "$1"; }
final_loss() { awk '$1 == "trained" {print $NF}' "$1"; }

expected_tensors="embed.weight
embed.weight.grad
fc1.weight
fc1.weight.grad
fc1.bias
fc1.bias.grad
fc2.weight
fc2.weight.grad
fc2.bias
fc2.bias.grad
out.weight
out.weight.grad
out.bias
out.bias.grad"

case "$check" in
  list_tensors)
    out=$("$demo" --list-tensors)
    [ "$out" = "$expected_tensors" ] || fail "--list-tensors printed:"$'\n'"$out"
    [ ! -e "$TTAP_RUN_DIR" ] || fail "--list-tensors opened a run directory"
    ;;

  nan_store)
    # Budget 0: every step is sampled, so the sample at the planted step cannot be skipped.
    TTAP_BUDGET=0 "$demo" --steps 60 --inject-nan 40:fc1.weight.grad > "$work/out" 2> "$work/err" ||
      fail "exit status $? (stderr: $(cat "$work/err"))"
    grep -q '^step 40  planted a NaN in fc1.weight.grad$' "$work/out" || fail "no 'planted' line"
    grep -q '^trained 60 steps, final loss nan$' "$work/out" || fail "final line: $(tail -1 "$work/out")"

    # Every watched tensor is in the store with its kind, sampled at step 40 among others.
    while IFS= read -r name; do
      kind=param
      [[ $name == *.grad ]] && kind=grad
      got=$(query "select kind, count(*), sum(step = 40) from samples_v where tensor = '$name'")
      [[ $got =~ ^$kind\|([0-9]+)\|1$ ]] || fail "samples of $name: '$got' (want kind $kind, step 40)"
      [ "${BASH_REMATCH[1]}" -ge 30 ] || fail "only ${BASH_REMATCH[1]} samples of $name in 60 steps"
    done <<< "$expected_tensors"
    for name in fc1.activation fc2.activation; do
      got=$(query "select kind, count(*) from samples_v where tensor = '$name'")
      [ "$got" = "activation|60" ] || fail "observed $name: '$got' (want activation|60)"
    done

    # The NaN is exactly where it was planted: one value of fc1.weight.grad at step 40, and nothing
    # non-finite anywhere before it.
    got=$(query "select tensor || ':' || nan from samples_v where step <= 40 and
                 nan + pos_inf + neg_inf > 0")
    [ "$got" = "fc1.weight.grad:1" ] || fail "non-finite samples up to step 40: '$got'"

    # One nonfinite alert for that tensor, at step 40, and it is the run's first.
    got=$(query "select step || '|' || message from alerts_v
                 where type = 'nonfinite' and tensor = 'fc1.weight.grad'")
    [ "$got" = "40|NaN in fc1.weight.grad (1 of 49152 values), first non-finite value in this run" ] ||
      fail "nonfinite alerts of fc1.weight.grad: '$got'"
    got=$(query "select count(*) from alerts_v where type = 'nonfinite' and step <= 40")
    [ "$got" = 1 ] || fail "$got nonfinite alerts up to step 40 (want 1)"

    # Training went on after the NaN: the loss is logged for every step, NULL (NaN) from step 41.
    got=$(query "select count(*), sum(value is null), min(case when value is null then step end)
                 from scalars_v where name = 'loss'")
    [ "$got" = "60|20|41" ] || fail "loss scalars (count|nan|first nan step): '$got'"
    ;;

  loss_decreases)
    "$demo" --steps 200 > "$work/out" 2> "$work/err" || fail "exit status $?"
    got=$(query "select count(*), sum(value is null) from scalars_v where name = 'loss'")
    [ "$got" = "200|0" ] || fail "loss scalars (count|nan): '$got'"
    # Means of ten steps, so one lucky or unlucky minibatch cannot decide it. The uniform guess over
    # the ~76 byte values costs ln(76) = 4.3; 200 steps of a working model reach about 2.3.
    read -r first last < <(query "select
        (select avg(value) from scalars_v where name = 'loss' and step <= 10),
        (select avg(value) from scalars_v where name = 'loss' and step > 190)" | tr '|' ' ')
    awk -v a="$first" -v b="$last" 'BEGIN {exit !(b < a - 1.0 && b < 2.8)}' ||
      fail "loss did not decrease enough: first 10 steps $first, last 10 steps $last"
    awk -v a="$(first_loss "$work/out")" -v b="$(final_loss "$work/out")" 'BEGIN {exit !(b < a)}' ||
      fail "printed loss did not decrease: $(cat "$work/out")"
    ;;

  diverges)
    "$demo" --steps 100 --lr 5 > "$work/out" 2> "$work/err" || fail "exit status $? (diverging is not a failure)"
    first=$(first_loss "$work/out")
    final=$(final_loss "$work/out")
    # Non-finite, or far above where it started.
    case "$final" in
      nan | inf) ;;
      *) awk -v a="$first" -v b="$final" 'BEGIN {exit !(b > 2 * a)}' ||
           fail "--lr 5 did not diverge: loss $first -> $final" ;;
    esac
    grep -q '^trained 100 steps, final loss ' "$work/out" || fail "no final line"
    ;;

  bad_flags)
    expect_usage_error() {
      local status=0
      "$demo" "$@" > "$work/out" 2> "$work/err" || status=$?
      [ "$status" = 2 ] || fail "'$*' exited $status (want 2)"
      grep -q '^usage: ttap-demo' "$work/err" || fail "'$*' printed no usage on stderr"
      [ ! -s "$work/out" ] || fail "'$*' printed on stdout: $(cat "$work/out")"
    }
    expect_usage_error --bogus
    expect_usage_error extra-argument
    expect_usage_error --steps
    expect_usage_error --steps abc
    expect_usage_error --steps 0
    expect_usage_error --steps -5
    expect_usage_error --steps=12x
    expect_usage_error --lr 0
    expect_usage_error --lr nan
    expect_usage_error --lr fast
    expect_usage_error --seed -1
    expect_usage_error --data ""
    expect_usage_error --inject-nan 40
    expect_usage_error --inject-nan x:fc1.weight.grad
    expect_usage_error --inject-nan 0:fc1.weight.grad
    expect_usage_error --steps 50 --inject-nan 51:fc1.weight.grad
    # An unknown tensor names the ones there are.
    status=0
    "$demo" --inject-nan 40:fc9.weight > "$work/out" 2> "$work/err" || status=$?
    [ "$status" = 2 ] || fail "unknown tensor exited $status (want 2)"
    grep -q "unknown tensor 'fc9.weight'" "$work/err" || fail "no unknown-tensor message"
    grep -q 'fc1.weight.grad' "$work/err" || fail "unknown tensor: the gradients are not listed"
    # An unreadable data file is a clear error, before any training or run directory.
    status=0
    "$demo" --data "$work/missing.txt" > "$work/out" 2> "$work/err" || status=$?
    [ "$status" = 2 ] || fail "missing --data exited $status (want 2)"
    grep -q "cannot read $work/missing.txt: No such file or directory" "$work/err" ||
      fail "missing --data: $(cat "$work/err")"
    [ ! -e "$TTAP_RUN_DIR" ] || fail "a failed start opened a run directory"
    # --help is not an error.
    "$demo" --help > "$work/out" || fail "--help exited $?"
    grep -q '^usage: ttap-demo' "$work/out" || fail "--help printed no usage on stdout"
    # A parameter name means its gradient, and --flag=value works.
    "$demo" --steps=3 --inject-nan=2:fc2.bias > "$work/out" 2> /dev/null || fail "exit status $?"
    grep -q '^step 2  planted a NaN in fc2.bias.grad$' "$work/out" ||
      fail "2:fc2.bias did not plant in fc2.bias.grad: $(cat "$work/out")"
    ;;

  deterministic)
    "$demo" --steps 30 --seed 7 > "$work/a" 2> /dev/null
    "$demo" --steps 30 --seed 7 > "$work/b" 2> /dev/null
    "$demo" --steps 30 --seed 8 > "$work/c" 2> /dev/null
    cmp -s "$work/a" "$work/b" || fail "two runs with --seed 7 differ: $(diff "$work/a" "$work/b")"
    ! cmp -s "$work/a" "$work/c" || fail "--seed 7 and --seed 8 print the same run"
    ;;

  without_tensortap)
    # A run directory that cannot be created (its parent is a file): ttap_open fails, training
    # does not.
    touch "$work/file"
    TTAP_RUN_DIR="$work/file/run" "$demo" --steps 20 > "$work/out" 2> "$work/err" ||
      fail "exit status $? when tensortap could not open"
    grep -q '^ttap-demo: ttap_open: ' "$work/err" || fail "no ttap_open error: $(cat "$work/err")"
    grep -q '^ttap-demo: training without tensortap$' "$work/err" || fail "no 'training without'"
    grep -q '^trained 20 steps, final loss [0-9]' "$work/out" || fail "did not train: $(cat "$work/out")"
    # --no-ttap (the overhead benchmark's baseline) opens nothing; --time reports the loop's time.
    "$demo" --steps 20 --no-ttap --time > "$work/out" 2> "$work/err" || fail "--no-ttap: exit status $?"
    [ ! -e "$TTAP_RUN_DIR" ] || fail "--no-ttap created a run directory"
    grep -q '^ttap-demo: training without tensortap (--no-ttap)$' "$work/err" || fail "--no-ttap: $(cat "$work/err")"
    grep -Eq '^ttap-demo: training loop [0-9]+\.[0-9]{6} s$' "$work/err" || fail "--time: $(cat "$work/err")"
    grep -q '^trained 20 steps, final loss [0-9]' "$work/out" || fail "--no-ttap did not train"
    ;;

  interrupted)
    # SIGINT (Ctrl-C, or forwarded by `ttap run`) ends training after the current step with the
    # store closed cleanly, then the process dies of the signal as its parent expects.
    "$demo" --steps 100000000 > "$work/out" 2> "$work/err" &
    pid=$!
    for _ in $(seq 300); do
      grep -q '^step 50 ' "$work/out" && break
      sleep 0.1
    done
    grep -q '^step 50 ' "$work/out" || { kill -KILL "$pid"; fail "no step 50 within 30 s"; }
    kill -INT "$pid"
    for _ in $(seq 300); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2> /dev/null; then
      kill -KILL "$pid"
      fail "still running 30 s after SIGINT"
    fi
    status=0
    wait "$pid" || status=$?
    [ "$status" = 130 ] || fail "exit status $status after SIGINT (want 130: killed by SIGINT)"
    grep -q '^trained [0-9]* steps, final loss ' "$work/out" || fail "no final line after SIGINT"
    [ ! -e "$TTAP_RUN_DIR/ttap.db-wal" ] || fail "the store was not closed (its WAL is left)"
    steps=$(awk '$1 == "trained" {print $2}' "$work/out")
    got=$(query "select count(*) from scalars_v where name = 'loss'")
    [ "$got" = "$steps" ] || fail "$got losses stored for $steps steps"
    ;;

  copy_db)
    # A finished run under `ttap run` (its monitor keeps the store open while the trainer closes
    # it): ttap.db alone, copied elsewhere, holds the whole run, and the report reads it.
    unset TTAP_RUN_DIR
    "$ttap" run --budget 0 -o "$work/run" -- "$demo" --steps 30 --inject-nan 10:fc1.weight.grad \
      > "$work/out" 2> "$work/err" || fail "ttap run: exit status $? ($(tail -3 "$work/err"))"
    mkdir "$work/copy"
    cp "$work/run/ttap.db" "$work/copy/"
    "$ttap" report "$work/copy" > "$work/report" 2> "$work/report.err" ||
      fail "report of the copy: $(cat "$work/report.err")"
    grep -q '^state     closed$' "$work/report" || fail "not closed: $(head -12 "$work/report")"
    grep -q 'NaN in fc1.weight.grad (1 of 49152 values), first non-finite value' "$work/report" ||
      fail "no NaN alert in the copy's report: $(head -20 "$work/report")"
    got=$(sqlite3 -batch -noheader "$work/copy/ttap.db" "select count(distinct step) from samples_v where tensor = 'fc1.weight.grad'")
    [ "$got" = 30 ] || fail "the copy holds $got steps of fc1.weight.grad (want 30)"
    ;;

  *)
    fail "unknown check"
    ;;
esac
echo "ok ($check)"
