"""Reads `ttap export --tensorboard` output back with TensorBoard's own event readers and checks it
against the run store (read with Python's sqlite3, independently of ttap's C++ code).

usage: tensorboard_readback.py RUN_ONE_RANK TB_ONE_RANK RUN_TWO_RANKS TB_TWO_RANKS
Exits nonzero with the first mismatch; prints what it checked.
"""
import math
import os
import sqlite3
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util

STATS = ("l2", "abs_max", "nonfinite", "mean", "std")
NAN_STEP, NAN_LOSS_STEP = 5, 7  # tests/tools/export/export_test_run.h


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def f32(x):
    """x rounded to float32, as TensorBoard's simple_value holds it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def decode_hist(blob):
    """The store's sparse histogram BLOB (runtime/store/SCHEMA.md) as {e: count}."""
    bins = {}
    if not blob:
        return bins
    check(blob[0] == 1, "histogram format byte")
    pos, end = 1, 0
    while pos < len(blob):
        start = end + blob[pos]
        length = blob[pos + 1]
        pos += 2
        for i in range(length):
            value, shift = 0, 0
            while True:
                b = blob[pos]
                pos += 1
                value |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            if value:
                bins[start + i - 127] = value
        end = start + length
    return bins


def store_rows(run_dir, rank):
    # Each rank writes its own file: ttap.db for rank 0, ttap.rank-R.db for rank R.
    name = "ttap.db" if rank == 0 else "ttap.rank-%d.db" % rank
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(run_dir, name), uri=True)
    # samples_v for the derived values, the table for the histogram BLOB, matched on the natural
    # key (steps are unique per tensor and rank).
    samples = db.execute(
        "SELECT s.step, s.time, t.name, v.l2, v.abs_max, s.nan + s.pos_inf + s.neg_inf, v.mean,"
        " v.std, s.hist FROM samples AS s JOIN tensors AS t ON t.rank = s.rank AND t.id = s.tensor_id"
        " JOIN samples_v AS v ON v.rank = s.rank AND v.step = s.step AND v.tensor = t.name"
        " WHERE s.rank = ?", (rank,)).fetchall()
    scalars = db.execute("SELECT step, time, name, value FROM scalars_v WHERE rank = ?",
                         (rank,)).fetchall()
    alerts = db.execute("SELECT step, tensor, type FROM alerts_v WHERE rank = ?", (rank,)).fetchall()
    db.close()
    return samples, scalars, alerts


def event_file_dir(path):
    names = os.listdir(path)
    check(len(names) == 1 and "tfevents" in names[0], "%s: expected one event file, found %s"
          % (path, names))
    return path


def check_rank(run_dir, tb_dir, rank):
    samples, scalars, alerts = store_rows(run_dir, rank)
    check(len(samples) == 30, "%s rank %d: %d samples in the store" % (run_dir, rank, len(samples)))
    acc = event_accumulator.EventAccumulator(
        event_file_dir(tb_dir),
        size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0,
                       event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    tensors = sorted({row[2] for row in samples})
    want_scalars = {"%s/%s" % (t, s) for t in tensors for s in STATS}
    want_scalars |= {"scalars/loss", "scalars/lr"}
    check(set(tags["scalars"]) == want_scalars,
          "scalar tags: got %s, want %s" % (sorted(tags["scalars"]), sorted(want_scalars)))
    check(set(tags["histograms"]) == {t + "/exp_hist" for t in tensors},
          "histogram tags: %s" % tags["histograms"])

    series = {tag: {e.step: e for e in acc.Scalars(tag)} for tag in want_scalars}
    histograms = {t: {e.step: e for e in acc.Histograms(t + "/exp_hist")} for t in tensors}
    for step, time, tensor, l2, abs_max, nonfinite, mean, std, hist in samples:
        for stat, want in zip(STATS, (l2, abs_max, nonfinite, mean, std)):
            event = series["%s/%s" % (tensor, stat)].get(step)
            check(event is not None, "%s/%s: no value at step %d" % (tensor, stat, step))
            check(event.value == f32(want), "%s/%s step %d: %r, store %r"
                  % (tensor, stat, step, event.value, want))
            check(event.wall_time == time, "%s/%s step %d: wall time %r, store %r"
                  % (tensor, stat, step, event.wall_time, time))
        bins = decode_hist(hist)
        h = histograms[tensor][step].histogram_value
        lo, hi = min(bins), max(bins)
        check(list(h.bucket_limit) == [float(e + 1) for e in range(lo, hi + 1)],
              "%s step %d: bucket limits %s" % (tensor, step, list(h.bucket_limit)))
        check(list(h.bucket) == [float(bins.get(e, 0)) for e in range(lo, hi + 1)],
              "%s step %d: buckets %s, store %s" % (tensor, step, list(h.bucket), bins))
        check((h.min, h.max, h.num) == (lo, hi + 1, sum(bins.values())),
              "%s step %d: min/max/num %s" % (tensor, step, (h.min, h.max, h.num)))

    for step, time, name, value in scalars:
        event = series["scalars/" + name].get(step)
        check(event is not None, "scalars/%s: no value at step %d" % (name, step))
        if value is None:
            check(math.isnan(event.value), "scalars/%s step %d: NaN expected" % (name, step))
        else:
            check(event.value == f32(value), "scalars/%s step %d: %r, store %r"
                  % (name, step, event.value, value))
    loss = series["scalars/loss"]
    check(sorted(loss) == list(range(10)), "scalars/loss steps %s" % sorted(loss))
    check(math.isnan(loss[NAN_LOSS_STEP].value) == (rank == 0), "NaN loss on rank 0 only")
    check(loss[2].value == 8 + rank, "loss at step 2: %r" % loss[2].value)

    texts = [(e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode())
             for e in acc.Tensors("alerts")] if "alerts" in tags["tensors"] else []
    check(len(texts) == len(alerts), "%d alert texts, %d alerts in the store"
          % (len(texts), len(alerts)))
    want_nonfinite = rank == 0
    got_nonfinite = any(step == NAN_STEP and text.startswith("**nonfinite** `layers.0.weight.grad`")
                        for step, text in texts)
    check(got_nonfinite == want_nonfinite, "nonfinite alert text at step 5: %s" % texts)

    # What the dashboard draws: the histogram plugin's data, migrated to (left, right, count)
    # rows; each bar must span one binary exponent [e, e+1].
    plugin_acc = plugin_event_accumulator.EventAccumulator(
        tb_dir, size_guidance={plugin_event_accumulator.TENSORS: 0})
    plugin_acc.Reload()
    tag = "layers.0.weight/exp_hist"
    check(tag in plugin_acc.Tags()["tensors"], "histogram not visible to the histogram plugin")
    rows = tensor_util.make_ndarray(plugin_acc.Tensors(tag)[0].tensor_proto)
    check(all(right - left == 1 for left, right, _ in rows), "bars are not one exponent wide")
    print("  %s: %d tags, %d samples, %d scalars, %d alerts, %d histogram steps: ok"
          % (tb_dir, len(want_scalars) + len(tensors), len(samples), len(scalars), len(texts),
             sum(len(h) for h in histograms.values())))


def main():
    one_run, one_tb, two_run, two_tb = sys.argv[1:5]
    check_rank(one_run, one_tb, 0)
    check(sorted(os.listdir(two_tb)) == ["rank0", "rank1"], "two-rank layout: %s"
          % os.listdir(two_tb))
    for rank in (0, 1):
        check_rank(two_run, os.path.join(two_tb, "rank%d" % rank), rank)
    import tensorboard
    print("tensorboard %s read every file back: ok" % tensorboard.__version__)


if __name__ == "__main__":
    main()
