// Inline SVG for the HTML report. Grids are drawn as one <path> per color level (each run of equal
// cells in a row is one rectangle), which keeps a 200 x 400 heatmap near a megabyte instead of the
// several a <rect> per cell would take; steps are grouped by count, not by value, so a run sampled
// every 100 steps still fills every column.
#include "tools/report/svg_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace ttap::report {
namespace {

constexpr int kPlotWidth = 800;  // the data area of every plot, px
constexpr int kLevels = 32;      // color steps of a scale

const char *const kNonfiniteColor = "#e4002b";
const char *const kZeroColor = "#c8c8c8";

// viridis at nine evenly spaced points; perceptually ordered and readable by most color-blind
// viewers, and it has no red, which is kept for non-finite values.
constexpr unsigned kViridis[] = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                 0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};

std::string palette_color(double t) {
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  const int i = std::min(int(t), 7);
  const double f = t - i;
  auto channel = [&](int shift) {
    const double a = (kViridis[i] >> shift) & 0xff, b = (kViridis[i + 1] >> shift) & 0xff;
    return int(std::lround(a + (b - a) * f));
  };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", channel(16), channel(8), channel(0));
  return buf;
}

std::string level_color(int level) { return palette_color(double(level) / (kLevels - 1)); }

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string svg_open(const char *id, int width, int height, const std::string &label,
                     const std::string &attributes = "") {
  return "<svg id=\"" + std::string(id) + "\" " + attributes + "class=\"plot\" width=\"" +
         std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
         std::to_string(width) + " " + std::to_string(height) + "\" role=\"img\" aria-label=\"" +
         html_escape(label) + "\">\n";
}

svg_plot empty_plot(const char *id, const std::string &message) {
  return {svg_open(id, kPlotWidth, 40, message) + "<text class=\"empty\" x=\"10\" y=\"25\">" +
              html_escape(message) + "</text>\n</svg>\n",
          ""};
}

// Columns over the distinct steps: every step its own column when they fit, else groups of
// (nearly) equal counts.
struct step_columns {
  std::vector<int64_t> first;  // first step of each column, ascending
  size_t group = 1;            // the most steps in one column

  explicit step_columns(std::vector<int64_t> steps, size_t max_columns) {
    std::sort(steps.begin(), steps.end());
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    const size_t n = steps.size(), k = std::min(n, max_columns);
    for (size_t c = 0; c < k; ++c) first.push_back(steps[c * n / k]);
    for (size_t c = 0; c < k; ++c) group = std::max(group, (c + 1) * n / k - c * n / k);
  }
  size_t size() const { return first.size(); }
  size_t column_of(int64_t step) const {
    return size_t(std::upper_bound(first.begin(), first.end(), step) - first.begin()) - 1;
  }
};

// Cell width that fills about kPlotWidth, whole pixels so runs of cells meet without seams.
int cell_width(size_t columns) { return std::clamp(kPlotWidth / int(columns), 2, 60); }

// A run of equal cells in one grid row, as a closed rectangle in path syntax.
void add_rect(std::string *path, int x, int y, int w, int h) {
  *path += "M" + std::to_string(x) + " " + std::to_string(y) + "h" + std::to_string(w) + "v" +
           std::to_string(h) + "h-" + std::to_string(w) + "z";
}

// Step labels under a grid: about six, at evenly spaced columns.
std::string column_axis(const step_columns &columns, int left, int top, int cw) {
  std::string out = "<g class=\"axis\">\n";
  const size_t n = columns.size(), ticks = std::min<size_t>(n, 6);
  std::set<size_t> done;
  for (size_t i = 0; i < ticks; ++i) {
    const size_t c = ticks == 1 ? 0 : i * (n - 1) / (ticks - 1);
    if (!done.insert(c).second) continue;
    const int x = left + int(c) * cw + cw / 2;
    out += "<line x1=\"" + std::to_string(x) + "\" y1=\"" + std::to_string(top) + "\" x2=\"" +
           std::to_string(x) + "\" y2=\"" + std::to_string(top + 4) + "\"/>";
    out += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top + 16) +
           "\" text-anchor=\"middle\">" + std::to_string(columns.first[c]) + "</text>\n";
  }
  out += "<text x=\"" + std::to_string(left + int(n) * cw) + "\" y=\"" + std::to_string(top + 30) +
         "\" text-anchor=\"end\">step</text>\n</g>\n";
  return out;
}

// A horizontal color bar for a scale, with end labels, plus swatches for the special values.
std::string scale_legend(int x, int y, const std::string &lo, const std::string &hi,
                         const std::string &caption, bool zero_swatch) {
  std::string out = "<g class=\"legend\">\n";
  const int w = 6;
  for (int level = 0; level < kLevels; ++level) {
    out += "<rect x=\"" + std::to_string(x + level * w) + "\" y=\"" + std::to_string(y) +
           "\" width=\"" + std::to_string(w) + "\" height=\"10\" fill=\"" + level_color(level) +
           "\"/>";
  }
  const int end = x + kLevels * w;
  out += "\n<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y + 24) + "\">" +
         html_escape(lo) + "</text><text x=\"" + std::to_string(end) + "\" y=\"" +
         std::to_string(y + 24) + "\" text-anchor=\"end\">" + html_escape(hi) + "</text>";
  out += "<text x=\"" + std::to_string(end + 12) + "\" y=\"" + std::to_string(y + 9) + "\">" +
         html_escape(caption) + "</text>";
  int sx = end + 12 + int(caption.size()) * 7 + 16;
  out += "<rect x=\"" + std::to_string(sx) + "\" y=\"" + std::to_string(y) +
         "\" width=\"10\" height=\"10\" fill=\"" + kNonfiniteColor + "\"/><text x=\"" +
         std::to_string(sx + 14) + "\" y=\"" + std::to_string(y + 9) + "\">NaN/Inf</text>";
  if (zero_swatch) {
    sx += 80;
    out += "<rect x=\"" + std::to_string(sx) + "\" y=\"" + std::to_string(y) +
           "\" width=\"10\" height=\"10\" fill=\"" + kZeroColor + "\"/><text x=\"" +
           std::to_string(sx + 14) + "\" y=\"" + std::to_string(y + 9) + "\">0</text>";
  }
  return out + "\n</g>\n";
}

// Long tensor names keep their head and tail, where the layer number and the role are.
std::string shorten(const std::string &name, size_t max_chars) {
  if (name.size() <= max_chars) return name;
  const size_t head = max_chars / 2 - 1, tail = max_chars - head - 1;
  return name.substr(0, head) + "\u2026" + name.substr(name.size() - tail);
}

// ---- line plots ----

struct line_point {
  int64_t step = 0;
  std::optional<double> value;  // nullopt: not a number (e.g. a NaN loss)
  bool nonfinite = false;       // the sample behind it held NaN/Inf
};

struct alert_style {
  const char *type;
  const char *color;
};
constexpr alert_style kAlertStyles[] = {{"nonfinite", "#e4002b"},  {"spike", "#ff7f0e"},
                                        {"vanishing", "#1f77b4"},  {"fp8_range", "#9467bd"},
                                        {"loss_spike", "#8c564b"}, {"", "#7f7f7f"}};

const char *alert_color(const std::string &type) {
  for (const auto &s : kAlertStyles) {
    if (type == s.type) return s.color;
  }
  return kAlertStyles[std::size(kAlertStyles) - 1].color;
}

// Groups consecutive points by count down to at most max_points, keeping each group's largest
// value (a spike must survive the thinning) and whether any point of it was non-finite.
std::vector<line_point> thin(const std::vector<line_point> &points, size_t max_points) {
  if (points.size() <= max_points) return points;
  std::vector<line_point> out;
  const size_t n = points.size();
  for (size_t g = 0; g < max_points; ++g) {
    line_point best = points[g * n / max_points];
    for (size_t i = g * n / max_points; i < (g + 1) * n / max_points; ++i) {
      const line_point &p = points[i];
      if (p.value && (!best.value || *p.value > *best.value)) {
        best.value = p.value;
        best.step = p.step;
      }
      best.nonfinite = best.nonfinite || p.nonfinite || !p.value;
    }
    out.push_back(best);
  }
  return out;
}

struct line_plot_spec {
  const char *id;
  std::string title;  // y axis caption
  bool allow_log = true;
  int64_t step_lo = 0, step_hi = 0;
  const std::vector<alert_row> *alerts = nullptr;  // markers, or none
  size_t max_alert_markers = 0;
};

svg_plot line_plot(const line_plot_spec &spec, const std::vector<line_point> &points) {
  const int left = 70, top = 12, height = 220, right = 20;
  const int width = left + kPlotWidth + right, total_height = top + height + 56;
  double lo = INFINITY, hi = -INFINITY;
  bool any_nonpositive = false;
  for (const auto &p : points) {
    if (!p.value || !std::isfinite(*p.value)) continue;
    if (*p.value > 0) {
      lo = std::min(lo, *p.value);
    } else {
      any_nonpositive = true;
    }
    hi = std::max(hi, *p.value);
  }
  // Norms span decades when training goes wrong: a log axis keeps both ends readable. A series
  // with zero or negative values (a loss can be negative) stays linear. Every range a finite
  // series can have (±1e300, a spread below one ulp, one value) gives y_hi > y_lo, both finite.
  const bool log_scale = spec.allow_log && !any_nonpositive && std::isfinite(lo) && hi / lo > 30;
  double y_lo, y_hi;  // axis units: log10 of the value on a log axis
  if (log_scale) {
    y_lo = std::floor(std::log10(lo));
    y_hi = std::ceil(std::log10(hi));
    if (y_hi == y_lo) y_hi += 1;
  } else if (std::isfinite(hi)) {
    // A linear axis starts at zero (or below, for negative values): norms and losses read from 0.
    y_lo = 0;
    for (const auto &p : points) {
      if (p.value && std::isfinite(*p.value)) y_lo = std::min(y_lo, *p.value);
    }
    // 5% headroom, computed from halves so that hi - y_lo cannot overflow.
    y_hi = hi > y_lo ? hi + (hi / 2 - y_lo / 2) * 0.1 : y_lo + std::max(1.0, std::abs(y_lo));
    if (!std::isfinite(y_hi)) y_hi = std::numeric_limits<double>::max();
  } else {
    y_lo = 0;
    y_hi = 1;
  }
  // Steps are placed by their distance from step_lo in integers: steps near 2^62 differ by less
  // than one ulp as doubles.
  const uint64_t step_span = std::max<uint64_t>(1, uint64_t(spec.step_hi) - uint64_t(spec.step_lo));
  auto x_of = [&](int64_t step) {
    return left + double(uint64_t(step) - uint64_t(spec.step_lo)) / double(step_span) * kPlotWidth;
  };
  // Position of an axis-unit value; through halves when y_hi - y_lo overflows (±1e308).
  const bool halve = !std::isfinite(y_hi - y_lo);
  auto y_at = [&](double t) {
    const double f =
        halve ? (t / 2 - y_lo / 2) / (y_hi / 2 - y_lo / 2) : (t - y_lo) / (y_hi - y_lo);
    return top + height - f * height;
  };
  auto y_of = [&](double v) { return y_at(log_scale ? std::log10(v) : v); };

  std::string out = svg_open(spec.id, width, total_height, spec.title + " over steps");
  // Axes and grid lines.
  out += "<g class=\"axis\">\n<rect class=\"frame\" x=\"" + std::to_string(left) + "\" y=\"" +
         std::to_string(top) + "\" width=\"" + std::to_string(kPlotWidth) + "\" height=\"" +
         std::to_string(height) + "\"/>\n";
  // (position in axis units, label)
  std::vector<std::pair<double, std::string>> y_ticks;
  if (log_scale) {
    // Whole decades, at most about eight of them (a series from 1e-300 to 1e300 skips decades).
    const double stride = std::max(1.0, std::ceil((y_hi - y_lo) / 8));
    for (double e = std::ceil(y_lo / stride) * stride; e <= y_hi; e += stride) {
      const double v = std::pow(10.0, e);
      // Past the normal range pow() gives 0 or inf: label the decade by its exponent.
      std::string label = "1e";
      label += label_number(e);
      y_ticks.emplace_back(e, std::isnormal(v) ? label_number(v) : label);
    }
  } else {
    for (double t : axis_ticks(y_lo, y_hi, 5)) y_ticks.emplace_back(t, label_number(t));
  }
  for (const auto &[t, label] : y_ticks) {
    const std::string y = fixed(y_at(t));
    out += "<line class=\"grid\" x1=\"" + std::to_string(left) + "\" y1=\"" + y + "\" x2=\"" +
           std::to_string(left + kPlotWidth) + "\" y2=\"" + y + "\"/><text x=\"" +
           std::to_string(left - 6) + "\" y=\"" + y + "\" dy=\"4\" text-anchor=\"end\">" + label +
           "</text>\n";
  }
  for (int64_t t : step_ticks(spec.step_lo, spec.step_hi, 8)) {
    const std::string x = fixed(x_of(t));
    out += "<line x1=\"" + x + "\" y1=\"" + std::to_string(top + height) + "\" x2=\"" + x +
           "\" y2=\"" + std::to_string(top + height + 4) + "\"/><text x=\"" + x + "\" y=\"" +
           std::to_string(top + height + 16) + "\" text-anchor=\"middle\">" + std::to_string(t) +
           "</text>\n";
  }
  out += "<text x=\"" + std::to_string(left + kPlotWidth) + "\" y=\"" +
         std::to_string(top + height + 30) + "\" text-anchor=\"end\">step</text>";
  const std::string caption = spec.title + (log_scale ? " (log scale)" : "");
  out += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(top + height + 30) +
         "\">" + html_escape(caption) + "</text>\n</g>\n";

  // Alert markers behind the line, one per (pixel column, type).
  svg_plot plot;
  if (spec.alerts && !spec.alerts->empty()) {
    std::set<std::pair<int, std::string>> drawn;
    size_t left_off = 0;
    std::set<std::string> types;
    out += "<g class=\"alerts\">\n";
    for (const alert_row &a : *spec.alerts) {
      if (a.step < spec.step_lo || a.step > spec.step_hi) continue;
      const int px = int(std::lround(x_of(a.step)));
      if (!drawn.insert({px, a.type}).second) continue;
      if (drawn.size() > spec.max_alert_markers) {
        ++left_off;
        continue;
      }
      types.insert(a.type);
      out += "<line class=\"alert alert-" + html_escape(a.type) + "\" x1=\"" + std::to_string(px) +
             "\" y1=\"" + std::to_string(top) + "\" x2=\"" + std::to_string(px) + "\" y2=\"" +
             std::to_string(top + height) + "\" stroke=\"" + alert_color(a.type) +
             "\"><title>step " + std::to_string(a.step) + ", rank " + std::to_string(a.rank) +
             ": " + html_escape(a.type) + " " + html_escape(a.tensor) + ": " +
             html_escape(a.message) + "</title></line>\n";
    }
    out += "</g>\n";
    // Which color is which alert type: after the axis caption (about 6.6 px per character of the
    // 11 px monospace font).
    int lx = left + int(double(caption.size()) * 6.6) + 24;
    out += "<g class=\"legend\">";
    for (const std::string &type : types) {
      out += "<line x1=\"" + std::to_string(lx) + "\" y1=\"" + std::to_string(top + height + 26) +
             "\" x2=\"" + std::to_string(lx) + "\" y2=\"" + std::to_string(top + height + 36) +
             "\" stroke=\"" + alert_color(type) + "\" stroke-width=\"2\"/><text x=\"" +
             std::to_string(lx + 5) + "\" y=\"" + std::to_string(top + height + 35) + "\">" +
             html_escape(type) + "</text>";
      lx += 20 + int(type.size()) * 7;
    }
    out += "</g>\n";
    if (left_off) {
      plot.note = std::to_string(left_off) + " alert markers left off (at most " +
                  std::to_string(spec.max_alert_markers) + " drawn); every alert is in the table.";
    }
  }

  // The line, broken where a point has no value.
  std::string segment;
  auto flush = [&] {
    if (!segment.empty()) out += "<polyline class=\"series\" points=\"" + segment + "\"/>\n";
    segment.clear();
  };
  std::string marks;
  for (const auto &p : points) {
    const std::string x = fixed(x_of(p.step));
    if (!p.value || !std::isfinite(*p.value)) {
      flush();
    } else {
      segment += (segment.empty() ? "" : " ") + x + "," + fixed(y_of(*p.value));
    }
    // Non-finite samples (or values) are marked on the top edge, where they cannot be missed.
    if (p.nonfinite || !p.value || !std::isfinite(*p.value)) {
      marks += "<path class=\"nonfinite\" d=\"M" + x + " " + std::to_string(top + 1) +
               "l-5 -9h10z\" fill=\"" + kNonfiniteColor + "\"><title>step " +
               std::to_string(p.step) + ": non-finite</title></path>\n";
    }
  }
  flush();
  out += marks;
  out += "</svg>\n";
  plot.svg = std::move(out);
  return plot;
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, int wanted) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (!(hi > lo)) return {lo};
  wanted = std::max(wanted, 2);
  // hi - lo is never 0 here (gradual underflow) but may overflow; its halves cannot.
  double raw = (hi - lo) / wanted;
  if (!std::isfinite(raw)) raw = (hi / 2 - lo / 2) / wanted * 2;
  if (!(raw > 0)) raw = hi - lo;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  if (!(step > 0) || !std::isfinite(step)) return {lo, hi};  // raw below 1e-323
  // Each tick from its index, never by repeated addition: a step below half an ulp of the values
  // (a loss near -1e20 that moves by 16384) would not advance. Equal roundings are kept once.
  const double first = std::ceil(lo / step), last = std::floor(hi / step);
  const double count = std::min(last - first + 1, 2.0 * wanted + 2);
  std::vector<double> ticks;
  for (double i = 0; i < count; ++i) {
    double t = (first + i) * step;
    if (std::abs(t) < step * 1e-9) t = 0.0;
    if (ticks.empty() || t != ticks.back()) ticks.push_back(t);
  }
  if (ticks.empty()) ticks.push_back(lo);
  return ticks;
}

std::vector<int64_t> step_ticks(int64_t lo, int64_t hi, int wanted) {
  if (hi <= lo) return {lo};
  wanted = std::max(wanted, 2);
  const uint64_t span = uint64_t(hi) - uint64_t(lo), raw = std::max<uint64_t>(1, span / wanted);
  // The smallest 1, 2 or 5 x 10^k not below raw; raw < 2^63 < 10^19 keeps it in range.
  uint64_t step = 0;
  for (uint64_t mag = 1; step == 0; mag *= 10) {
    for (uint64_t m : {1, 2, 5, 10}) {
      if (m * mag >= raw) {
        step = m * mag;
        break;
      }
    }
  }
  // 128-bit arithmetic: the first multiple of step and the last t += step may pass INT64_MAX.
  const __int128 s = __int128(step), rem = __int128(lo) % s;
  __int128 t = __int128(lo) - rem + (rem > 0 ? s : 0);
  std::vector<int64_t> ticks;
  for (; t <= __int128(hi); t += s) ticks.push_back(int64_t(t));
  return ticks;
}

std::string html_escape(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string label_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  std::string s = buf;
  const auto e = s.find('e');
  if (e == std::string::npos) return s;
  // "1.5e-03" -> "1.5e-3", "2e+04" -> "2e4".
  std::string out = s.substr(0, e + 1);
  size_t i = e + 1;
  if (s[i] == '-') out += '-';
  if (s[i] == '+' || s[i] == '-') ++i;
  while (i + 1 < s.size() && s[i] == '0') ++i;
  return out + s.substr(i);
}

svg_plot l2_heatmap_svg(const run_digest &digest, const plot_limits &limits) {
  std::vector<const tensor_digest *> sampled;
  for (const auto &t : digest.tensors()) {
    if (t.samples) sampled.push_back(&t);
  }
  if (sampled.empty()) return empty_plot(kHeatmapId, "no samples yet");

  // Too many tensors: keep the ones with something to see (non-finite values, alerts) first, then
  // the rest in watch order, and show the kept ones in watch order.
  std::vector<const tensor_digest *> rows = sampled;
  std::string note;
  if (sampled.size() > limits.max_rows) {
    std::set<std::string> alerted;
    for (const auto &a : digest.alerts()) alerted.insert(a.tensor);
    std::vector<bool> keep(sampled.size(), false);
    size_t kept = 0;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < sampled.size() && kept < limits.max_rows; ++i) {
        const bool notable = sampled[i]->nonfinite_total > 0 || alerted.count(sampled[i]->name);
        if (!keep[i] && (pass == 1 || notable)) {
          keep[i] = true;
          ++kept;
        }
      }
    }
    rows.clear();
    for (size_t i = 0; i < sampled.size(); ++i) {
      if (keep[i]) rows.push_back(sampled[i]);
    }
    note = "Showing " + std::to_string(rows.size()) + " of " + std::to_string(sampled.size()) +
           " tensors: those with non-finite values or alerts first, then in watch order. ";
  }

  std::vector<int64_t> steps;
  for (const auto *t : rows) {
    for (const auto &p : t->history) steps.push_back(p.step);
  }
  const step_columns columns(std::move(steps), limits.max_columns);
  if (columns.group > 1) {
    note += "Steps are grouped into " + std::to_string(columns.size()) + " columns of up to " +
            std::to_string(columns.group) + " samples; a cell shows the largest l2 of its group.";
  }

  struct grid_cell {
    double l2 = -1;  // the largest finite l2 in the cell, -1 while none
    bool has = false, nonfinite = false;
  };
  const size_t ncols = columns.size();
  std::vector<grid_cell> grid(rows.size() * ncols);
  double lo = INFINITY, hi = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (const auto &p : rows[r]->history) {
      grid_cell &c = grid[r * ncols + columns.column_of(p.step)];
      c.has = true;
      c.nonfinite = c.nonfinite || p.nonfinite || !std::isfinite(p.l2);
      if (std::isfinite(p.l2)) c.l2 = std::max(c.l2, p.l2);
    }
  }
  for (const auto &c : grid) {
    if (c.has && c.l2 > 0) {
      lo = std::min(lo, c.l2);
      hi = std::max(hi, c.l2);
    }
  }
  const double log_lo = std::isfinite(lo) ? std::log10(lo) : 0,
               log_hi = hi > 0 ? std::log10(hi) : 0;
  // Color index per cell: kLevels..: the special colors.
  const int kNonfiniteLevel = kLevels, kZeroLevel = kLevels + 1, kNone = -1;
  auto level_of = [&](const grid_cell &c) {
    if (!c.has) return kNone;
    if (c.nonfinite) return kNonfiniteLevel;
    if (!(c.l2 > 0)) return kZeroLevel;
    if (!(log_hi > log_lo)) return kLevels / 2;
    const double t = (std::log10(c.l2) - log_lo) / (log_hi - log_lo);
    return std::clamp(int(std::lround(t * (kLevels - 1))), 0, kLevels - 1);
  };

  size_t label_chars = 8;
  for (const auto *t : rows)
    label_chars = std::max(label_chars, std::min<size_t>(t->name.size(), 48));
  const int left = 12 + int(double(label_chars) * 6.6), top = 14;
  const int cw = cell_width(ncols);
  const int rh = std::clamp(560 / int(rows.size()), 3, 16);
  const int plot_w = cw * int(ncols), plot_h = rh * int(rows.size());
  const int width = left + plot_w + 20, height = top + plot_h + 36 + 40;

  std::vector<std::string> paths(kLevels + 2);
  for (size_t r = 0; r < rows.size(); ++r) {
    size_t c = 0;
    while (c < ncols) {
      const int level = level_of(grid[r * ncols + c]);
      size_t end = c + 1;
      while (end < ncols && level_of(grid[r * ncols + end]) == level) ++end;
      if (level != kNone) {
        add_rect(&paths[size_t(level)], left + int(c) * cw, top + int(r) * rh, int(end - c) * cw,
                 rh);
      }
      c = end;
    }
  }

  // The grid's shape goes into data attributes, for readers of the page (and its tests).
  std::string out = svg_open(kHeatmapId, width, height, "l2 of each tensor over steps",
                             "data-rows=\"" + std::to_string(rows.size()) + "\" data-columns=\"" +
                                 std::to_string(ncols) + "\" ");
  out += "<g class=\"cells\">\n";
  for (int level = 0; level < kLevels + 2; ++level) {
    if (paths[size_t(level)].empty()) continue;
    const std::string color = level == kNonfiniteLevel ? kNonfiniteColor
                              : level == kZeroLevel    ? kZeroColor
                                                       : level_color(level);
    out += "<path" + std::string(level == kNonfiniteLevel ? " class=\"nonfinite\"" : "") +
           " fill=\"" + color + "\" d=\"" + paths[size_t(level)] + "\"/>\n";
  }
  // A NaN in one cell of a thin row is easy to miss: a red triangle over its column points at it.
  std::string columns_marked;
  for (size_t c = 0; c < ncols; ++c) {
    bool nonfinite = false;
    for (size_t r = 0; r < rows.size() && !nonfinite; ++r)
      nonfinite = grid[r * ncols + c].nonfinite;
    if (!nonfinite) continue;
    columns_marked += "M" + std::to_string(left + int(c) * cw + cw / 2) + " " +
                      std::to_string(top - 2) + "l-4 -8h8z";
  }
  if (!columns_marked.empty()) {
    out += "<path class=\"nonfinite-step\" fill=\"" + std::string(kNonfiniteColor) + "\" d=\"" +
           columns_marked + "\"><title>steps with NaN/Inf</title></path>\n";
  }
  out += "</g>\n<g class=\"labels\">\n";
  // Labels need about 11 px; thinner rows get every k-th label (rows with NaN/Inf always).
  const int every = std::max(1, (11 + rh - 1) / rh);
  for (size_t r = 0; r < rows.size(); ++r) {
    const tensor_digest &t = *rows[r];
    if (int(r) % every != 0 && t.nonfinite_total == 0) continue;
    out += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" +
           std::to_string(top + int(r) * rh + rh / 2 + 4) + "\" text-anchor=\"end\"" +
           (t.nonfinite_total ? " class=\"bad\"" : "") + "><title>" + html_escape(t.name) + " (" +
           html_escape(t.kind) + ", " + html_escape(t.dtype) + ")</title>" +
           html_escape(shorten(t.name, 48)) + "</text>\n";
  }
  out += "</g>\n";
  out += column_axis(columns, left, top + plot_h, cw);
  out += scale_legend(left, top + plot_h + 40, label_number(lo), label_number(hi), "l2 (log scale)",
                      true);
  out += "</svg>\n";
  return {std::move(out), std::move(note)};
}

svg_plot grad_norm_svg(const run_digest &digest, const plot_limits &limits) {
  const auto &norms = digest.step_norms();
  if (norms.empty()) return empty_plot(kGradNormId, "no samples yet");
  bool any_grad = false;
  for (const auto &[step, n] : norms) any_grad = any_grad || n.has_grad;
  std::vector<line_point> points;
  for (const auto &[step, n] : norms) {
    if (any_grad && !n.has_grad) continue;
    const double sum_sq = any_grad ? n.grad_sum_sq : n.all_sum_sq;
    const bool nonfinite = any_grad ? n.grad_nonfinite : n.all_nonfinite;
    // With a NaN or Inf among them the global norm is not a number (what a clipping step would
    // compute): a gap and a marker, rather than a norm of the finite rest that looks plausible.
    points.push_back(
        {step, nonfinite ? std::nullopt : std::optional<double>(std::sqrt(sum_sq)), nonfinite});
  }
  line_plot_spec spec;
  spec.id = kGradNormId;
  spec.title = any_grad ? "global gradient norm" : "global norm of every tensor (no grad tensors)";
  spec.step_lo = norms.begin()->first;
  spec.step_hi = norms.rbegin()->first;
  spec.alerts = &digest.alerts();
  spec.max_alert_markers = limits.max_alert_markers;
  const size_t all = points.size();
  svg_plot plot = line_plot(spec, thin(points, limits.max_line_points));
  if (all > limits.max_line_points) {
    plot.note = "Thinned to " + std::to_string(limits.max_line_points) + " points of " +
                std::to_string(all) + " steps (the largest of each group). " + plot.note;
  }
  return plot;
}

svg_plot loss_svg(const run_digest &digest, const plot_limits &limits) {
  if (digest.loss().empty()) return {};
  // One rank's curve: in a multi-rank run every rank may log its own loss.
  const int32_t rank = digest.loss().front().rank;
  std::vector<line_point> points;
  for (const auto &s : digest.loss()) {
    if (s.rank == rank) points.push_back({s.step, s.value, !s.value || !std::isfinite(*s.value)});
  }
  line_plot_spec spec;
  spec.id = kLossId;
  spec.title = kLossScalar;
  spec.allow_log = false;
  spec.step_lo = points.front().step;
  spec.step_hi = points.back().step;
  if (!digest.step_norms().empty()) {
    // Same x range as the norm plot above, so the two line up.
    spec.step_lo = std::min(spec.step_lo, digest.step_norms().begin()->first);
    spec.step_hi = std::max(spec.step_hi, digest.step_norms().rbegin()->first);
  }
  return line_plot(spec, thin(points, limits.max_line_points));
}

svg_plot exp_hist_svg(const run_digest &digest, const plot_limits &limits) {
  const auto &samples = digest.hist_columns();
  if (digest.hist_tensor().empty()) return empty_plot(kExpHistId, "no tensors yet");
  if (samples.empty()) {
    return empty_plot(kExpHistId, "no samples of " + digest.hist_tensor() + " yet");
  }
  std::vector<int64_t> steps;
  int e_lo = kExpHistMax, e_hi = kExpHistMin;
  for (const auto &s : samples) {
    steps.push_back(s.step);
    for (const auto &[e, f] : s.bins) {
      e_lo = std::min<int>(e_lo, e);
      e_hi = std::max<int>(e_hi, e);
    }
  }
  if (e_lo > e_hi) e_lo = e_hi = 0;  // only zeros and non-finite values
  e_lo = std::max(kExpHistMin, e_lo - 1);
  e_hi = std::min(kExpHistMax, e_hi + 1);
  const step_columns columns(std::move(steps), limits.max_columns);
  const size_t ncols = columns.size(), nrows = size_t(e_hi - e_lo + 1);

  // A column's cell is the mean fraction over the samples grouped into it.
  std::vector<double> sum(ncols * nrows, 0.0);
  std::vector<int> per_column(ncols, 0);
  std::vector<bool> nonfinite(ncols, false);
  for (const auto &s : samples) {
    const size_t c = columns.column_of(s.step);
    ++per_column[c];
    nonfinite[c] = nonfinite[c] || s.nonfinite;
    for (const auto &[e, f] : s.bins) sum[size_t(e_hi - e) * ncols + c] += f;
  }
  // Log color scale from 1e-6 to 1: the rare outliers that overflow or underflow fp8 are the
  // point of this view, and they would vanish on a linear scale next to a 30% bin.
  constexpr double kFloorLog = -6;
  auto level_of = [&](size_t r, size_t c) {
    const double f = per_column[c] ? sum[r * ncols + c] / per_column[c] : 0.0;
    if (!(f > 0)) return -1;
    const double t = (std::max(std::log10(f), kFloorLog) - kFloorLog) / -kFloorLog;
    return std::clamp(int(std::lround(t * (kLevels - 1))), 0, kLevels - 1);
  };

  const int left = 64, strip = 8, top = 10 + strip + 4;
  const int cw = cell_width(ncols);
  const int rh = std::clamp(420 / int(nrows), 3, 12);
  const int plot_w = cw * int(ncols), plot_h = rh * int(nrows);
  const int width = left + plot_w + 110, height = top + plot_h + 36 + 40;
  std::vector<std::string> paths(kLevels);
  for (size_t r = 0; r < nrows; ++r) {
    size_t c = 0;
    while (c < ncols) {
      const int level = level_of(r, c);
      size_t end = c + 1;
      while (end < ncols && level_of(r, end) == level) ++end;
      if (level >= 0) {
        add_rect(&paths[size_t(level)], left + int(c) * cw, top + int(r) * rh, int(end - c) * cw,
                 rh);
      }
      c = end;
    }
  }
  std::string strip_path;
  for (size_t c = 0; c < ncols; ++c) {
    if (nonfinite[c]) add_rect(&strip_path, left + int(c) * cw, 10, cw, strip);
  }

  std::string out = svg_open(kExpHistId, width, height,
                             "exponent histogram of " + digest.hist_tensor() + " over steps");
  out += "<rect class=\"frame\" x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(top) +
         "\" width=\"" + std::to_string(plot_w) + "\" height=\"" + std::to_string(plot_h) +
         "\"/>\n";
  out += "<g class=\"cells\">\n";
  for (int level = 0; level < kLevels; ++level) {
    if (!paths[size_t(level)].empty()) {
      out += "<path fill=\"" + level_color(level) + "\" d=\"" + paths[size_t(level)] + "\"/>\n";
    }
  }
  if (!strip_path.empty()) {
    out += "<path class=\"nonfinite\" fill=\"" + std::string(kNonfiniteColor) + "\" d=\"" +
           strip_path + "\"><title>samples holding NaN/Inf</title></path>\n";
  }
  out += "</g>\n<g class=\"axis\">\n";
  const int every = std::max(1, (11 + rh - 1) / rh);
  for (int e = e_hi; e >= e_lo; --e) {
    if (e % every != 0) continue;
    const int y = top + (e_hi - e) * rh + rh / 2 + 4;
    out += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + std::to_string(y) +
           "\" text-anchor=\"end\">2<tspan dy=\"-4\" font-size=\"8\">" + std::to_string(e) +
           "</tspan></text>\n";
  }
  // The fp8 ranges: e4m3 keeps bins -9..8, e5m2 bins -16..15 (summary_finalize's bounds).
  struct bound {
    const char *label;
    int e;       // the largest or smallest bin the format represents
    bool upper;  // the line goes above bin e (max) or below it (min)
  };
  const bound bounds[] = {{"e4m3 max", 8, true},
                          {"e4m3 min", -9, false},
                          {"e5m2 max", 15, true},
                          {"e5m2 min", -16, false}};
  out += "</g>\n<g class=\"fp8-bounds\">\n";
  for (const bound &b : bounds) {
    if (b.e < e_lo || b.e > e_hi) continue;
    const int y = top + (e_hi - b.e + (b.upper ? 0 : 1)) * rh;
    out += "<line class=\"fp8\" x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(y) +
           "\" x2=\"" + std::to_string(left + plot_w + 4) + "\" y2=\"" + std::to_string(y) +
           "\"/><text x=\"" + std::to_string(left + plot_w + 8) + "\" y=\"" +
           std::to_string(y + 4) + "\">" + b.label + "</text>\n";
  }
  out += "<text x=\"" + std::to_string(left + plot_w + 8) + "\" y=\"17\">NaN/Inf</text>\n";
  out += "</g>\n";
  out += column_axis(columns, left, top + plot_h, cw);
  out += scale_legend(left, top + plot_h + 40, "1e-6", "1", "fraction of finite nonzero values",
                      false);
  out += "</svg>\n";
  std::string note;
  if (columns.group > 1) {
    note = "Steps are grouped into " + std::to_string(ncols) + " columns of up to " +
           std::to_string(columns.group) + " samples; a cell shows the mean fraction of its group.";
  }
  return {std::move(out), std::move(note)};
}

// Overlays reuse the line plot's axis logic in a small form of their own: the single-series
// line_plot above draws alert markers and one color, which an overlay does not want.
namespace {

// Categorical colors (Tableau 10 without its red, which marks NaN/Inf), then dash patterns.
constexpr const char *kSeriesColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                                         "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char *kSeriesDashes[] = {"", "6 3", "2 2", "8 3 2 3"};

}  // namespace

svg_plot overlay_svg(const char *id, const std::string &title,
                     const std::vector<overlay_series> &series, const plot_limits &limits,
                     bool allow_log) {
  bool any = false;
  for (const auto &s : series) any = any || !s.points.empty();
  if (!any) return empty_plot(id, "no " + title + " in these runs");
  const int legend_rows = int((series.size() + 2) / 3);
  const int left = 70, top = 12 + 16 * legend_rows, height = 220, right = 20;
  const int width = left + kPlotWidth + right, total_height = top + height + 40;

  double lo = INFINITY, hi = -INFINITY, y_min = INFINITY;
  int64_t step_lo = INT64_MAX, step_hi = INT64_MIN;
  for (const auto &s : series) {
    for (const auto &[step, v] : s.points) {
      step_lo = std::min(step_lo, step);
      step_hi = std::max(step_hi, step);
      if (!v || !std::isfinite(*v)) continue;
      if (*v > 0) lo = std::min(lo, *v);
      hi = std::max(hi, *v);
      y_min = std::min(y_min, *v);
    }
  }
  // The axes as line_plot draws them (same ranges, ticks and guards against huge or degenerate
  // ranges), for several series at once.
  const bool log_scale = allow_log && std::isfinite(y_min) && y_min > 0 && hi / lo > 30;
  double y_lo = 0, y_hi = 1;  // axis units: log10 of the value on a log axis
  if (log_scale) {
    y_lo = std::floor(std::log10(lo));
    y_hi = std::ceil(std::log10(hi));
    if (y_hi == y_lo) y_hi += 1;
  } else if (std::isfinite(hi)) {
    y_lo = std::min(0.0, y_min);
    y_hi = hi > y_lo ? hi + (hi / 2 - y_lo / 2) * 0.1 : y_lo + std::max(1.0, std::abs(y_lo));
    if (!std::isfinite(y_hi)) y_hi = std::numeric_limits<double>::max();
  }
  const uint64_t step_span = std::max<uint64_t>(1, uint64_t(step_hi) - uint64_t(step_lo));
  auto x_of = [&](int64_t step) {
    return left + double(uint64_t(step) - uint64_t(step_lo)) / double(step_span) * kPlotWidth;
  };
  const bool halve = !std::isfinite(y_hi - y_lo);
  auto y_at = [&](double t) {
    const double f =
        halve ? (t / 2 - y_lo / 2) / (y_hi / 2 - y_lo / 2) : (t - y_lo) / (y_hi - y_lo);
    return top + height - f * height;
  };
  auto y_of = [&](double v) { return y_at(log_scale ? std::log10(v) : v); };

  std::string out = svg_open(id, width, total_height, title + " over steps",
                             "data-series=\"" + std::to_string(series.size()) + "\" ");
  out += "<g class=\"axis\">\n<rect class=\"frame\" x=\"" + std::to_string(left) + "\" y=\"" +
         std::to_string(top) + "\" width=\"" + std::to_string(kPlotWidth) + "\" height=\"" +
         std::to_string(height) + "\"/>\n";
  std::vector<std::pair<double, std::string>> y_ticks;  // (axis units, label)
  if (log_scale) {
    const double stride = std::max(1.0, std::ceil((y_hi - y_lo) / 8));
    for (double e = std::ceil(y_lo / stride) * stride; e <= y_hi; e += stride) {
      const double v = std::pow(10.0, e);
      y_ticks.emplace_back(e, std::isnormal(v) ? label_number(v) : "1e" + label_number(e));
    }
  } else {
    for (double t : axis_ticks(y_lo, y_hi, 5)) y_ticks.emplace_back(t, label_number(t));
  }
  for (const auto &[t, label] : y_ticks) {
    const std::string y = fixed(y_at(t));
    out += "<line class=\"grid\" x1=\"" + std::to_string(left) + "\" y1=\"" + y + "\" x2=\"" +
           std::to_string(left + kPlotWidth) + "\" y2=\"" + y + "\"/><text x=\"" +
           std::to_string(left - 6) + "\" y=\"" + y + "\" dy=\"4\" text-anchor=\"end\">" + label +
           "</text>\n";
  }
  for (int64_t t : step_ticks(step_lo, step_hi, 8)) {
    const std::string x = fixed(x_of(t));
    out += "<line x1=\"" + x + "\" y1=\"" + std::to_string(top + height) + "\" x2=\"" + x +
           "\" y2=\"" + std::to_string(top + height + 4) + "\"/><text x=\"" + x + "\" y=\"" +
           std::to_string(top + height + 16) + "\" text-anchor=\"middle\">" + std::to_string(t) +
           "</text>\n";
  }
  out += "<text x=\"" + std::to_string(left + kPlotWidth) + "\" y=\"" +
         std::to_string(top + height + 30) + "\" text-anchor=\"end\">step</text><text x=\"" +
         std::to_string(left) + "\" y=\"" + std::to_string(top + height + 30) + "\">" +
         html_escape(title + (log_scale ? " (log scale)" : "")) + "</text>\n</g>\n";

  std::string note;
  out += "<g class=\"legend\">\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const int lx = left + int(k % 3) * (kPlotWidth / 3), ly = 8 + 16 * int(k / 3);
    const std::string color = kSeriesColors[k % std::size(kSeriesColors)];
    const std::string dash = kSeriesDashes[k % std::size(kSeriesDashes)];
    out += "<line x1=\"" + std::to_string(lx) + "\" y1=\"" + std::to_string(ly) + "\" x2=\"" +
           std::to_string(lx + 24) + "\" y2=\"" + std::to_string(ly) + "\" stroke=\"" + color +
           "\" stroke-width=\"2\"" +
           (dash.empty() ? std::string() : " stroke-dasharray=\"" + dash + "\"") + "/><text x=\"" +
           std::to_string(lx + 30) + "\" y=\"" + std::to_string(ly + 4) + "\">" +
           html_escape(shorten(series[k].label, 34)) + "<title>" + html_escape(series[k].label) +
           "</title></text>\n";
  }
  out += "</g>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    std::vector<line_point> points;
    for (const auto &[step, v] : series[k].points)
      points.push_back({step, v, !v || !std::isfinite(*v)});
    if (points.size() > limits.max_line_points) {
      note = "Curves with more than " + std::to_string(limits.max_line_points) +
             " points are thinned (the largest of each group).";
      points = thin(points, limits.max_line_points);
    }
    const std::string color = kSeriesColors[k % std::size(kSeriesColors)];
    const std::string dash = kSeriesDashes[k % std::size(kSeriesDashes)];
    std::string segment;
    out += "<g class=\"overlay-series\" fill=\"none\" stroke=\"" + color +
           "\" stroke-width=\"1.5\"" +
           (dash.empty() ? std::string() : " stroke-dasharray=\"" + dash + "\"") + "><title>" +
           html_escape(series[k].label) + "</title>\n";
    auto flush = [&] {
      if (!segment.empty()) out += "<polyline points=\"" + segment + "\"/>\n";
      segment.clear();
    };
    for (const auto &p : points) {
      if (!p.value || !std::isfinite(*p.value)) {
        flush();
        continue;
      }
      segment +=
          (segment.empty() ? "" : " ") + fixed(x_of(double(p.step))) + "," + fixed(y_of(*p.value));
    }
    flush();
    out += "</g>\n";
  }
  out += "</svg>\n";
  return {std::move(out), std::move(note)};
}

}  // namespace ttap::report
