// Detectors: small stateful checks that see every sample record (and scalar) in order and may raise
// alerts. Adding one means one new file plus one line in make_detectors().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/record.h"

namespace ttap {

struct detector_config {
  // spike: robust z-score of a gradient's l2 against the median/MAD of its last `spike_window`
  // finite samples. Upward only; the scale has a floor of 5% of |median| so that a flat series
  // (MAD = 0) needs a 40% jump at the default threshold.
  int spike_window = 50;
  int spike_min_samples = 10;    // no verdict before this many samples of the tensor
  double spike_threshold = 8.0;  // (x - median) / max(1.4826 * MAD, 0.05 * |median|) above this
  // vanishing: all zeros, or l2 below `vanishing_floor`, for `vanishing_samples` samples in a row.
  double vanishing_floor = 1e-12;
  int vanishing_samples = 5;
  // fp8_range: fraction of finite nonzero values e4m3 loses: underflow after amax scaling (the
  // values span more binades than e4m3 holds), overflow when cast unscaled.
  double fp8_underflow_threshold = 0.5;
  double fp8_overflow_threshold = 0.001;
  // loss_spike: the scalar named "loss", same robust score (and window) as for gradient spikes;
  // a non-finite loss alerts at once.
  double loss_spike_threshold = 8.0;
  // Group detectors (rank 0 of a group). outlier_rank and straggler score each rank's value against
  // the other ranks' in the same sample, as a ratio: robust z of log(value) against the median and
  // 1.4826 * MAD of the logs, the scale floored at `*_min_scale` so that ranks in close agreement
  // do not turn noise into alerts (0.1: a rank 2.2x off the median at threshold 8).
  // Both need a median over at least `group_min_ranks` ranks.
  int group_min_ranks = 3;
  double outlier_threshold = 8.0;
  double outlier_min_scale = 0.1;
  double straggler_threshold = 8.0;
  double straggler_min_scale = 0.1;
  // A straggler also costs the group at least this much per step over the median: below it, the
  // OS scheduler on a busy host moves step times as much (a timeslice is milliseconds, a loaded
  // run queue holds tens of them), so millisecond steps under CPU contention are not stragglers.
  double straggler_min_excess_seconds = 0.05;
};

class detector {
 public:
  virtual ~detector() = default;
  virtual const char *name() const = 0;
  // Sample records arrive grouped by sample, in sample order, tensors in watch order; `info` is the
  // tensor's registration. Appends alerts to `out`.
  virtual void on_sample(const tensor_info &info, const sample_record &r,
                         std::vector<alert> &out) = 0;
  virtual void on_scalar(const scalar_record &, std::vector<alert> &) {}
};

// The default set: nonfinite, spike, vanishing, fp8_range, loss_spike.
std::vector<std::unique_ptr<detector>> make_detectors(const detector_config &config);
// The spike detector alone: a verdict scores its step's gradients on the training thread with one.
std::unique_ptr<detector> make_spike_detector(const detector_config &config);

// A detector that compares the ranks of a group: it sees each group sample whole (every tensor,
// every rank), on rank 0 of the group only. The merged summaries of the same sample also go
// through the per-sample detectors above, as an ordinary sample.
class group_detector {
 public:
  virtual ~group_detector() = default;
  virtual const char *name() const = 0;
  // `tensors`: this rank's registrations by id (g.tensor_ids index it). Appends alerts to `out`.
  virtual void on_group_sample(const group_sample &g, const std::vector<tensor_info> &tensors,
                               std::vector<alert> &out) = 0;
};

// The group set: nonfinite_source, divergence, outlier_rank, straggler.
std::vector<std::unique_ptr<group_detector>> make_group_detectors(const detector_config &config);

}  // namespace ttap
