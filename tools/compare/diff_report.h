// What `ttap diff` says about two runs, in the forms that do not need a terminal: the findings as
// sentences (shared by every form), the JSON document and the self-contained HTML page with the
// two runs' gradient norm and loss overlaid and the l2 of the tensors that part first.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/compare/run_diff.h"

namespace ttap::compare {

// Element ids of the HTML page's plots (the render check and the tests look for them).
inline constexpr const char *kDiffGradNormId = "ttap-diff-grad-norm";
inline constexpr const char *kDiffLossId = "ttap-diff-loss";

// "identical", "equal" (within the tolerance, not to the bit) or "different".
std::string verdict_of(const run_diff &diff);

// "fc1.weight.grad", "w (rank 2)", "w (rank 2's own part)".
std::string series_label(const series_key &key);

// A value with enough digits to tell two close values apart (10 significant digits).
std::string precise_number(double v);

// The findings, most important first: the verdict with the first difference (step, tensor, both
// values, their ratio), the fingerprints, and every other way the runs differ (tensors, scalars,
// alerts only one has; no common step).
std::vector<std::string> diff_findings(const run_diff &diff);

nlohmann::ordered_json diff_json(const run_diff &diff);

// The page; `max_tensor_rows` bounds the per-tensor table (the JSON form lists every tensor).
std::string diff_html(const run_diff &diff, size_t max_tensor_rows = 1000);

}  // namespace ttap::compare
