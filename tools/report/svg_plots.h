// The inline SVG plots of the HTML report: the per-tensor l2 heatmap, the global gradient norm
// (and loss) over steps with alert markers, and one tensor's exponent histogram over steps. Each
// plot is plain SVG markup (no script, no external reference) sized for a page about 1000 px wide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tools/report/run_digest.h"

namespace ttap::report {

// Caps that keep the file small for long runs with many tensors: steps are grouped into at most
// max_columns columns (a heatmap cell of several steps shows the largest value), a line plot keeps
// at most max_line_points points (the largest per group), the heatmap shows at most max_rows
// tensors, and at most max_alert_markers alerts are drawn on the norm plot.
struct plot_limits {
  size_t max_columns = 400;
  size_t max_rows = 200;
  size_t max_line_points = 800;
  size_t max_alert_markers = 300;
};

struct svg_plot {
  std::string svg;  // one <svg> element with the plot's id
  std::string
      note;  // a sentence for under the plot saying what was grouped or left out; "" if none
};

// Element ids, for the page's render check and for the tests.
inline constexpr const char *kHeatmapId = "ttap-heatmap";
inline constexpr const char *kGradNormId = "ttap-grad-norm";
inline constexpr const char *kLossId = "ttap-loss";
inline constexpr const char *kExpHistId = "ttap-exp-hist";

// Rows = tensors (in watch order), columns = steps, color = log10(l2); non-finite samples in red.
svg_plot l2_heatmap_svg(const run_digest &digest, const plot_limits &limits);

// sqrt(sum over grad tensors of l2^2) per step (every tensor when the run has no grad), log y axis
// when it spans more than a decade and a half; vertical markers at alert steps.
svg_plot grad_norm_svg(const run_digest &digest, const plot_limits &limits);

// The loss scalar over steps, on the same step range; an empty svg string when none was logged.
svg_plot loss_svg(const run_digest &digest, const plot_limits &limits);

// digest.hist_tensor()'s histograms: columns = steps, rows = exponent bins, color = fraction of the
// sample's finite nonzero values (log scale); the fp8 e4m3 and e5m2 ranges are marked.
svg_plot exp_hist_svg(const run_digest &digest, const plot_limits &limits);

// Nice tick positions (1, 2 or 5 x 10^k) within [lo, hi] for a linear axis: at most 2 * wanted + 2
// of them for any finite range (huge, tiny, one value, a spread below one ulp, ±1e308), ascending
// and distinct; {lo} when hi <= lo; none when an end is not finite.
std::vector<double> axis_ticks(double lo, double hi, int wanted);

// The same for a step axis, in exact integers over the whole int64 range (steps near 2^63).
std::vector<int64_t> step_ticks(int64_t lo, int64_t hi, int wanted);

// One curve of an overlay plot (a run's loss, or a tensor's l2 in one run); nullopt values are
// gaps.
struct overlay_series {
  std::string label;                                              // for the legend
  std::vector<std::pair<int64_t, std::optional<double>>> points;  // (step, value), by step
};

// Several curves on one pair of axes, each in its own color (and dash pattern, so a curve drawn
// exactly over another still shows), with a legend above the plot; log y axis as in the norm plot
// when allow_log and the values span more than a decade and a half.
svg_plot overlay_svg(const char *id, const std::string &title,
                     const std::vector<overlay_series> &series, const plot_limits &limits,
                     bool allow_log);

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(const std::string &text);

// A number for a label: three significant digits, compact exponent (1.5e-3, 2.1e4).
std::string label_number(double v);

}  // namespace ttap::report
