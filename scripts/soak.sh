#!/usr/bin/env bash
# Load soak: examples/soak_trainer watches TENSORS tensors of 1 to 1,000 f32 elements, all sampled
# every step (--budget 0) for SECONDS under `ttap run`, and this checks, not just prints:
#   - the trainer ran to its end and exited 0;
#   - its RSS, printed every second, is flat after warm-up (the first quarter, at least 5 s): the
#     highest RSS of the last half of the run is at most 10% + 16 MiB over the highest of the
#     half before it (the collector's queue comes and goes; a leak grows);
#   - samples the bounded queue could not take are counted, not lost: for every step, one stored
#     sample of all TENSORS tensors, or TENSORS records counted as dropped (or a skipped sample);
#   - the store is consistent: integrity_check ok, each tensor registered once with its size,
#     every stored sample whole, and the values the trainer wrote (max, l2) in the samples.
# usage: soak.sh TTAP SOAK_TRAINER [TENSORS [SECONDS [RUN_DIR]]]   (defaults 10000 60 a temp dir)
set -euo pipefail
ttap=$1
trainer=$2
tensors=${3:-10000}
seconds=${4:-60}
work=$(mktemp -d)
trap '[ -n "${SOAK_KEEP:-}" ] || rm -rf "$work"' EXIT
run=${5:-$work/run}

fail() {
  echo "FAIL (soak): $*" >&2
  exit 1
}
query() { "$ttap" sql "$run" "$1"; }
expect() {  # SQL, expected output
  local got
  got=$(query "$1")
  [ "$got" = "$2" ] || fail "$1: got '$got', want '$2'"
}

echo "soak: $tensors tensors, every step sampled, $seconds s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
"$ttap" run --budget 0 -o "$run" --force -- "$trainer" "$tensors" "$seconds" \
  > "$work/out" 2> "$work/err" || { cat "$work/out" "$work/err"; fail "ttap run exited $?"; }
end=$(date +%s.%N)
grep -q '^soak_trainer: done: ' "$work/out" || { cat "$work/out" "$work/err"; fail "no done line"; }
steps=$(sed -n 's/^soak_trainer: done: \([0-9]*\) steps.*/\1/p' "$work/out")
if grep -qiE 'error|fail|cannot' "$work/err"; then
  cat "$work/err"
  fail "an error on stderr"
fi

# A finished run is its database file alone: no WAL left beside it (ttap run folds one its writer
# could not fold at close while ttap run's monitor was reading).
[ ! -e "$run/ttap.db-wal" ] || fail "ttap.db-wal left after the run ($(stat -c %s "$run/ttap.db-wal") bytes)"

# RSS over time: "soak_trainer:  12.0 s  step 340  rss 115.7 MiB".
python3 - "$work/out" "$seconds" <<'EOF' || fail "RSS is not flat after warm-up"
import re, sys
series = [(float(t), float(r)) for t, r in
          re.findall(r"^soak_trainer: +([0-9.]+) s +step \d+ +rss ([0-9.]+) MiB", open(sys.argv[1]).read(), re.M)]
warm_up = max(5.0, float(sys.argv[2]) / 4)
after = [r for t, r in series if t >= warm_up]
print("soak: RSS MiB every second: " + " ".join("%.0f" % r for _, r in series))
if len(after) < 4:
    sys.exit("too few RSS samples after warm-up (%d)" % len(after))
half = len(after) // 2
first, last = max(after[:half]), max(after[half:])
print("soak: after warm-up (%.0f s): highest RSS %.1f MiB in the first half, %.1f MiB in the second" %
      (warm_up, first, last))
sys.exit(0 if last <= first * 1.10 + 16 else "RSS grew from %.1f to %.1f MiB" % (first, last))
EOF

# Counters: every step accounted for.
IFS='|' read -r taken skipped dropped lost failures < <(query "select sum(samples_taken),
  sum(samples_skipped), sum(records_dropped), sum(records_lost), sum(store_failures) from run_counters")
echo "soak: $steps steps in $(python3 -c "print('%.1f' % ($end - $start))") s wall (ttap run" \
  "included): $taken samples stored, $((dropped / tensors)) dropped whole ($dropped records)," \
  "$skipped skipped, $lost records lost by the store"
grep '^ttap: [0-9]* samples of' "$work/err" "$work/out" | sed 's/^[^:]*:/soak: ttap run said: /' || true
[ "$lost" = 0 ] && [ "$failures" = 0 ] || fail "the store lost $lost records ($failures failures)"
[ $((dropped % tensors)) = 0 ] || fail "$dropped records dropped: not whole samples of $tensors"
[ $((taken + skipped + dropped / tensors)) = "$steps" ] ||
  fail "$taken stored + $skipped skipped + $((dropped / tensors)) dropped != $steps steps"
[ "$taken" -gt 0 ] || fail "no sample stored"

# The store.
expect "pragma integrity_check" "ok"
expect "select count(*), count(distinct name) from tensors" "$tensors|$tensors"
expect "select count(*) from samples" "$((taken * tensors))"
expect "select count(*) from (select step from samples group by step having count(*) != $tensors)" "0"
# numel of tensor t is 1 + t * 999 / (TENSORS - 1); names layers.(t/4).{weight,bias,...}.
python3 - "$tensors" > "$work/sizes" <<'EOF'
import sys
n = int(sys.argv[1])
suffix = ["weight", "bias", "weight.grad", "bias.grad"]
for t in range(n):
    print("layers.%d.%s|%d" % (t // 4, suffix[t % 4], 1 + t * 999 // max(n - 1, 1)))
EOF
query "select name, numel from tensors order by id" > "$work/stored_sizes"
cmp -s "$work/sizes" "$work/stored_sizes" || fail "tensor names or sizes differ from the trainer's"
# Values: the trainer writes 1e-3f * ((i + step) % 97) into element i at every step.
# Every tensor of the last three stored samples (by step: the index), one row in 25 recomputed.
query "select tensor, step, count, max, l2 from samples_v where step in
         (select distinct step from samples order by step desc limit 3)" |
  awk 'NR % 25 == 1' > "$work/values"
python3 - "$work/values" <<'EOF' || fail "stored values differ from the trainer's data"
import math, struct, sys
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
checked = 0
for line in open(sys.argv[1]):
    name, step, numel, got_max, got_l2 = line.strip().split("|")  # numel: the sample's count
    step, numel = int(step), int(numel)
    values = [f32(f32(1e-3) * ((i + step) % 97)) for i in range(numel)]
    want_l2 = math.sqrt(sum(v * v for v in values))
    # ttap sql prints 15 significant digits: the max is exact to that, the l2 to float sums.
    if (abs(float(got_max) - max(values)) > 1e-13 * max(values) or
            abs(float(got_l2) - want_l2) > 1e-5 * want_l2):
        sys.exit("%s at step %d: max %s l2 %s, the data has %r %r" %
                 (name, step, got_max, got_l2, max(values), want_l2))
    checked += 1
if checked < 10:
    sys.exit("only %d samples checked" % checked)
print("soak: %d stored samples checked against the trainer's data" % checked)
EOF
echo "soak: ok"
