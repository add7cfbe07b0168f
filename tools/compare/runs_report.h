// `ttap report RUN RUN...`: several runs side by side, one row per run (state, steps, samples,
// alerts, first non-finite value, last loss and gradient norm, overhead), and an HTML page with
// every run's loss and global gradient norm overlaid, with a legend.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/compare/run_diff.h"
#include "tools/compare/run_listing.h"

namespace ttap::compare {

inline constexpr const char *kRunsGradNormId = "ttap-runs-grad-norm";
inline constexpr const char *kRunsLossId = "ttap-runs-loss";

struct run_overview {
  run_listing listing;  // what `ttap ls` says about the run
  size_t tensors = 0;
  std::optional<double> last_loss, last_grad_norm;  // at the latest step that has one
  std::optional<int64_t> last_loss_step, last_grad_norm_step;
  std::vector<curve_point> grad_norm, loss;  // per step; nullopt where not a number
};

// Reads one run whole (through the report's digest). False with *error set when it cannot.
bool overview_of(const std::string &dir, run_overview *out, std::string *error);

nlohmann::ordered_json runs_json(const std::vector<run_overview> &runs);
std::string runs_html(const std::vector<run_overview> &runs);

}  // namespace ttap::compare
