#!/usr/bin/env bash
# A disk that fills up mid-run: `ttap run` writes its store to a 4 MiB tmpfs while soak_trainer
# samples 2,000 tensors every step. The trainer must run to its end and exit 0, tensortap must say
# so in one line (not one per failed commit), and what was committed must stay readable: an intact
# store, whole samples, and a report. The tmpfs is mounted in a private mount namespace
# (unshare -m as root, else unshare -rm in a user namespace); where neither is allowed the test
# is skipped (exit 77).
# usage: test_full_disk.sh TTAP SOAK_TRAINER
set -euo pipefail
ttap=$1
trainer=$2
if [ -z "${TTAP_FULL_DISK_NS:-}" ]; then
  for ns in "unshare -m" "unshare -rm"; do
    if $ns true 2> /dev/null; then
      TTAP_FULL_DISK_NS=1 exec $ns bash "$0" "$@"
    fi
  done
  echo "skipped: cannot make a private mount namespace for a small tmpfs"
  exit 77
fi

work=$(mktemp -d)
trap 'umount "$work/disk" 2> /dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/disk"
if ! mount -t tmpfs -o size=4m tmpfs "$work/disk" 2> "$work/mount.err"; then
  echo "skipped: cannot mount a tmpfs ($(cat "$work/mount.err"))"
  exit 77
fi
run=$work/disk/run

fail() {
  echo "FAIL (full disk): $*" >&2
  echo "--- stdout" >&2
  cat "$work/out" >&2 || true
  echo "--- stderr" >&2
  cat "$work/err" >&2 || true
  exit 1
}

# 2,000 tensors per sample (~300 KB) fill 4 MiB within a few dozen samples; the trainer runs 12 s.
# At most 20 samples a second, committed every 100 ms, so that the first commits fit on the disk
# however fast the machine steps (on an idle one the trainer makes ~350 steps a second, and one
# commit of a second's worth of every-step samples would already overflow 4 MiB).
status=0
"$ttap" run --budget 0 --set interval_ms=50 flush_ms=100 -o "$run" -- "$trainer" 2000 12 \
  > "$work/out" 2> "$work/err" || status=$?
[ "$status" = 0 ] || fail "ttap run exited $status"
grep -q '^soak_trainer: done: ' "$work/out" || fail "the trainer did not run to its end"
steps=$(sed -n 's/^soak_trainer: done: \([0-9]*\) steps.*/\1/p' "$work/out")
[ "$(df --output=avail "$work/disk" | tail -1)" -lt 512 ] || fail "the disk never filled up"

# tensortap's own lines about it: one, naming the store and the cause.
failed=$(grep -c '^ttap: the store failed' "$work/err") || true
[ "$failed" = 1 ] || fail "$failed 'store failed' lines, want 1"
grep '^ttap: the store failed' "$work/err" | grep -q "$run/ttap.db.*disk is full" ||
  fail "the store failure line does not name the file and the full disk"

# What could not be stored is counted in the store (the session's status is written alone at
# close) and said at close and in ttap run's summary, not lost silently.
lost=$("$ttap" sql "$run" "select sum(records_lost) from run_counters")
[ "$lost" -gt 0 ] || fail "records_lost is $lost: the rows lost at close are not counted"
# The close line counts the rows still pending at close; records_lost also holds any dropped
# earlier (when 64 MiB of rows waited for the full disk).
at_close=$(sed -n 's/^ttap: closing the store: .*at close: \([0-9]*\) records could not be stored (counted.*/\1/p' \
  "$work/err")
[ -n "$at_close" ] || fail "no line at close saying how many records could not be stored"
[ "$at_close" -le "$lost" ] || fail "$at_close records lost at close, but records_lost is $lost"
grep -q "^ttap: $lost records could not be stored" "$work/err" ||
  fail "ttap run's summary does not say $lost records could not be stored"

# What was committed reads back.
[ "$("$ttap" sql "$run" "pragma integrity_check")" = ok ] || fail "integrity_check"
samples=$("$ttap" sql "$run" "select count(distinct step) from samples")
[ "$samples" -gt 0 ] || fail "nothing was committed"
[ "$samples" -lt "$steps" ] || fail "every step stored: the disk did not fill up in time"
[ "$("$ttap" sql "$run" "select count(*) from (select step from samples group by step
                         having count(*) != 2000)")" = 0 ] || fail "a committed sample is not whole"
"$ttap" report "$run" > "$work/report" 2>&1 || fail "ttap report failed: $(cat "$work/report")"
echo "ok (full disk): $steps steps ran, $samples samples committed before the disk filled, $lost records lost and counted, one error line:"
grep '^ttap: the store failed' "$work/err"
