// `ttap diff RUN_A RUN_B`: aligns two runs by (tensor, rank, step) over the steps both sampled and
// says whether they are identical (fingerprints, else every stored summary field), equal within a
// tolerance, or where they first part; per tensor, per scalar, and which tensors and alerts only
// one run has. The result is plain data; the CLI renders it as text, JSON or HTML.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/store/run_reader.h"

namespace ttap::compare {

struct diff_options {
  double rtol = 1e-6;  // |b - a| <= atol + rtol * max(|a|, |b|) counts as equal
  double atol = 0;
  size_t overlay_tensors = 4;  // tensors whose l2 curves the HTML form overlays (first to part)
};

// A series of one run: a tensor's samples on one rank. `part` marks a rank's own part of a group
// sample (rank_samples) rather than a stored sample (in a group, rank 0's samples are merged).
struct series_key {
  std::string tensor;
  int32_t rank = 0;
  bool part = false;
  auto operator<=>(const series_key &) const = default;
};

// Where two runs first differ beyond the tolerance.
struct value_difference {
  int64_t step = 0;
  std::string field;           // "l2", "abs_max", "nonfinite", "value" (a scalar), "fingerprint"
  std::optional<double> a, b;  // nullopt: no finite value (abs_max of an all-NaN tensor, NaN loss)
};

struct tensor_diff {
  series_key key;
  std::string kind;
  size_t steps_a = 0, steps_b = 0, common_steps = 0;
  // At the last common step (absent without one).
  std::optional<int64_t> last_common_step;
  double l2_a = 0, l2_b = 0;
  // Over every common step: the largest relative difference of l2 and abs_max (|b-a| /
  // max(|a|,|b|)).
  double max_rel_diff = 0;
  std::optional<value_difference> first_beyond;  // the first common step beyond the tolerance
  size_t fingerprints_compared = 0;
  std::optional<int64_t> first_fingerprint_diff;
  bool summaries_identical = true;  // every common step's stored summary equal to the bit
};

struct scalar_diff {
  std::string name;
  int32_t rank = 0;
  size_t steps_a = 0, steps_b = 0, common_steps = 0;
  std::optional<int64_t> last_common_step;
  std::optional<double> last_a, last_b;
  double max_rel_diff = 0;
  std::optional<value_difference> first_beyond;
  bool identical = true;
};

// A point of an overlaid curve; nullopt where the value is not a number.
struct curve_point {
  int64_t step = 0;
  std::optional<double> value;
};

struct run_side {
  std::string dir;
  size_t steps = 0;  // distinct steps with a sample
  int64_t first_step = -1, last_step = -1;
  size_t tensors = 0;  // series
  std::vector<curve_point> grad_norm, loss;
};

struct run_diff {
  diff_options options;
  run_side a, b;
  size_t common_steps = 0;  // distinct steps both runs sampled (any tensor)
  int64_t last_common_step = -1;
  std::vector<tensor_diff> tensors;  // in both runs, in run A's watch order
  std::vector<series_key> only_a, only_b;
  std::vector<alert_row> alerts_only_a, alerts_only_b;
  std::vector<scalar_diff> scalars;  // in both
  std::vector<std::pair<std::string, int32_t>> scalars_only_a, scalars_only_b;

  // The first (step, then watch order) tensor value beyond the tolerance, and its tensor.
  std::optional<value_difference> first;
  std::optional<series_key> first_tensor;
  // Fingerprints compared where both runs have them; the first that differs.
  size_t fingerprints_compared = 0;
  std::optional<int64_t> fingerprints_identical_through;
  std::optional<value_difference> first_fingerprint_diff;
  std::optional<series_key> first_fingerprint_tensor;
  // Every common stored summary (and scalar) identical to the bit.
  bool summaries_identical = true;

  // l2 over steps of the tensors that part first (HTML overlays), A's and B's.
  struct tensor_curves {
    series_key key;
    std::vector<curve_point> a, b;
  };
  std::vector<tensor_curves> diverging;

  // Equal within the tolerance: no value beyond it, the same tensors, scalars and alerts (alerts
  // that depend on timing, `straggler`, aside) and at least one common step when both sampled.
  bool equal() const;
  // Identical: equal, and every compared summary, fingerprint and scalar identical to the bit.
  bool identical() const;
};

// Alert types that depend on wall-clock timing, not on the data: listed, never a difference.
bool timing_alert(const std::string &type);

// Reads both runs and compares them. False with *error set when a store cannot be read.
bool diff_runs(run_reader &a, run_reader &b, const diff_options &options, run_diff *out,
               std::string *error);

// "ratio B/A" for display: nullopt when a is 0 (and b is not).
std::optional<double> ratio(double a, double b);

}  // namespace ttap::compare
