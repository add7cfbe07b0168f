// Rendering of `ttap stats` results. The table is built as cells first and laid out after, so
// column widths fit the data and the `!` markers and colors never shift a column.
#include "tools/ttap/stats_report.h"

#include <cmath>
#include <cstdio>

#include "runtime/store/row_json.h"

namespace ttap::cli {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json tensor_json(const tensor_stats &t) {
  const summary &s = t.stats;
  const summary_derived &d = t.derived;
  ordered_json j;
  j["name"] = t.name;
  j["dtype"] = dtype_name(t.type);
  j["shape"] = t.shape;
  put_element_counts(j, s);
  // min/max/abs_max hold ±Inf sentinels when no value is finite: json_number turns them into null.
  j["min"] = d.has_finite ? json_number(s.min) : ordered_json();
  j["max"] = d.has_finite ? json_number(s.max) : ordered_json();
  j["abs_max"] = d.has_finite ? json_number(s.abs_max) : ordered_json();
  j["sum"] = json_number(s.sum);
  j["sum_sq"] = json_number(d.sum_sq);
  j["sum_abs"] = json_number(s.sum_abs);
  j["mean"] = d.has_finite ? json_number(d.mean) : ordered_json();
  j["std"] = d.has_finite ? json_number(d.std) : ordered_json();
  j["l1"] = json_number(d.l1);
  j["l2"] = json_number(d.l2);
  j["linf"] = json_number(d.linf);
  j["exp_hist"] = exp_hist_json(s.exp_hist);
  j["fp8"] = {
      {"e4m3", {{"underflow", d.e4m3.underflow}, {"overflow", d.e4m3.overflow}}},
      {"e5m2", {{"underflow", d.e5m2.underflow}, {"overflow", d.e5m2.overflow}}},
  };
  return j;
}

// ---- table layout ----

enum class mark { none, warn, error };

struct cell {
  std::string text;
  mark level = mark::none;
};

struct column {
  const char *title;
  bool left;      // left-aligned (text) or right-aligned (numbers)
  bool markable;  // reserves one character after the value for the `!` marker
};

constexpr column kColumns[] = {
    {"name", true, false},   {"dtype", true, false},     {"shape", true, false},
    {"count", false, false}, {"min", false, false},      {"max", false, false},
    {"mean", false, false},  {"std", false, false},      {"l2", false, false},
    {"nan", false, true},    {"inf", false, true},       {"zero%", false, true},
    {"sub%", false, true},   {"e4m3 u/o%", false, true}, {"e5m2 u/o%", false, true},
};
constexpr size_t kNumColumns = sizeof kColumns / sizeof kColumns[0];

// Terminal columns a string occupies: one per code point (UTF-8 continuation bytes take none).
size_t display_width(const std::string &s) {
  size_t w = 0;
  for (char c : s) w += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return w;
}

std::string shape_text(const std::vector<uint64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

cell fp8_cell(const fp8_risk &risk, uint64_t nonzero) {
  if (nonzero == 0) return {"-"};
  mark level = risk.overflow > 0                             ? mark::error
               : risk.underflow >= kFp8UnderflowWarnFraction ? mark::warn
                                                             : mark::none;
  return {format_percent(risk.underflow) + "/" + format_percent(risk.overflow), level};
}

std::vector<cell> tensor_row(const tensor_stats &t) {
  const summary &s = t.stats;
  const summary_derived &d = t.derived;
  auto finite_value = [&](double v) { return cell{d.has_finite ? format_value(v) : "-"}; };
  auto fraction = [&](uint64_t part) { return s.count ? double(part) / double(s.count) : 0.0; };
  const uint64_t inf = s.pos_inf + s.neg_inf;
  return {
      {formats::printable_name(t.name, 80)},
      {std::string(dtype_name(t.type))},
      {shape_text(t.shape)},
      {format_count(s.count)},
      finite_value(s.min),
      finite_value(s.max),
      finite_value(d.mean),
      finite_value(d.std),
      {format_value(d.l2)},
      {format_count(s.nan), s.nan ? mark::error : mark::none},
      {format_count(inf), inf ? mark::error : mark::none},
      // An all-zero tensor is a dead layer or an unloaded weight, worth a look.
      {s.count ? format_percent(fraction(s.zero)) : "-",
       s.count && s.zero == s.count ? mark::warn : mark::none},
      {s.count ? format_percent(fraction(s.subnormal)) : "-",
       s.count && fraction(s.subnormal) >= kSubnormalWarnFraction ? mark::warn : mark::none},
      fp8_cell(d.e4m3, d.nonzero),
      fp8_cell(d.e5m2, d.nonzero),
  };
}

const char *color_of(mark level) { return level == mark::error ? "\x1b[31m" : "\x1b[33m"; }
constexpr const char *kReset = "\x1b[0m";

std::string pad(const std::string &text, size_t width, bool left) {
  size_t w = display_width(text);
  std::string fill(width > w ? width - w : 0, ' ');
  return left ? text + fill : fill + text;
}

std::string plural(uint64_t n, const char *one, const char *many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// n >= 1000 in the largest unit of 1000 (units[0] = 1000, ... units[5] = 1000^6) that keeps it
// under 1000, with one decimal below 10: "1.2k", "12k", "999k", "1.0M".
std::string in_thousands(uint64_t n, const char *const (&units)[6], const char *space) {
  double v = double(n);
  int unit = -1;
  // 999.5 and above would round to "1000" at this unit: move up one.
  while (v >= 999.5 && unit < 5) {
    v /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 9.95 ? "%.1f%s%s" : "%.0f%s%s", v, space, units[unit]);
  return buf;
}

}  // namespace

std::string format_count(uint64_t n) {
  static const char *const kUnits[] = {"k", "M", "G", "T", "P", "E"};
  return n < 1000 ? std::to_string(n) : in_thousands(n, kUnits, "");
}

std::string format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return "0";  // also -0: the sign of zero is noise here
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  std::string s = buf;
  auto e = s.find('e');
  if (e == std::string::npos) return s;
  // "1.23e+04" -> "1.23e4", "5e-07" -> "5e-7": same value, narrower column.
  std::string mantissa = s.substr(0, e);
  size_t i = e + 1;
  std::string sign = s[i] == '-' ? "-" : "";
  if (s[i] == '+' || s[i] == '-') ++i;
  while (i + 1 < s.size() && s[i] == '0') ++i;
  return mantissa + "e" + sign + s.substr(i);
}

std::string format_percent(double fraction) {
  if (!(fraction > 0.0)) return "0";
  if (fraction >= 1.0) return "100";
  double p = fraction * 100.0;
  if (p < 0.01) return "<0.01";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", p);
  // Never print 100 for "almost all": 99.97% rounds to "100" at three digits.
  if (std::string(buf) == "100") return "99.9";
  return buf;
}

std::string format_bytes(uint64_t n) {
  static const char *const kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  return n < 1000 ? std::to_string(n) + " B" : in_thousands(n, kUnits, " ");
}

ordered_json report_json(const stats_report &report) {
  ordered_json j;
  j["file"] = report.file;
  j["format"] = report.format;
  j["backend"] = report.backend;
  j["isa"] = report.isa;
  j["threads"] = report.threads;
  j["launches"] = report.launches;
  j["elapsed_s"] = report.elapsed_s;
  j["bytes"] = report.bytes;
  ordered_json tensors = ordered_json::array();
  for (const auto &t : report.tensors) tensors.push_back(tensor_json(t));
  j["tensors"] = std::move(tensors);
  ordered_json skipped = ordered_json::array();
  for (const auto &s : report.skipped) {
    skipped.push_back({{"name", s.name}, {"dtype", s.dtype}, {"reason", s.reason}});
  }
  j["skipped"] = std::move(skipped);
  return j;
}

std::string report_table(const stats_report &report, bool color) {
  std::string out = "ttap stats  " + formats::printable_name(report.file, 200) + "  (" +
                    report.format + ", " + format_bytes(report.file_size) + ")  backend " +
                    report.backend + ", isa " + report.isa + ", " +
                    plural(uint64_t(report.threads), "thread", "threads") + ", " +
                    plural(report.launches, "launch", "launches") + "\n";

  std::vector<std::vector<cell>> rows;
  for (const auto &t : report.tensors) rows.push_back(tensor_row(t));

  bool any_mark = false;
  uint64_t with_nonfinite = 0, elements = 0;
  for (const auto &t : report.tensors) {
    with_nonfinite += t.derived.nonfinite > 0;
    elements += t.stats.count;
  }

  if (rows.empty()) {
    out += "\nno tensors to summarize\n";
  } else {
    size_t width[kNumColumns];
    for (size_t c = 0; c < kNumColumns; ++c) {
      width[c] = display_width(kColumns[c].title);
      for (const auto &row : rows) {
        width[c] = std::max(width[c], display_width(row[c].text) + (kColumns[c].markable ? 1 : 0));
      }
    }
    out += "\n";
    std::string line;
    for (size_t c = 0; c < kNumColumns; ++c) {
      line += (c ? "  " : "") + pad(kColumns[c].title, width[c], kColumns[c].left);
    }
    out += line + "\n";
    for (const auto &row : rows) {
      line.clear();
      for (size_t c = 0; c < kNumColumns; ++c) {
        if (c) line += "  ";
        const cell &x = row[c];
        if (!kColumns[c].markable) {
          line += pad(x.text, width[c], kColumns[c].left);
          continue;
        }
        // The marker slot is part of the cell, so a marked and an unmarked value stay aligned.
        std::string text = x.text + (x.level == mark::none ? " " : "!");
        std::string padded = pad(text, width[c], false);
        if (x.level != mark::none) {
          any_mark = true;
          if (color) {
            size_t lead = padded.size() - text.size();
            padded = padded.substr(0, lead) + color_of(x.level) + x.text + "!" + kReset;
          }
        }
        line += padded;
      }
      // Trailing blanks from the last marker slot are noise in a pasted table.
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
  }

  if (!report.skipped.empty()) {
    out += "\nskipped " + plural(report.skipped.size(), "tensor", "tensors") + ":\n";
    for (const auto &s : report.skipped) {
      out += "  " + formats::printable_name(s.name, 80) + "  " +
             formats::printable_name(s.dtype, 40) + "  " + s.reason + "\n";
    }
  }
  if (any_mark) {
    char legend[200];
    std::snprintf(legend, sizeof legend,
                  "\n! marks NaN/Inf values, fp8 overflow, fp8 underflow >= %g%%, subnormals >= "
                  "%g%%, all-zero tensors\n",
                  kFp8UnderflowWarnFraction * 100, kSubnormalWarnFraction * 100);
    out += legend;
  }

  std::string nonfinite_text = std::to_string(with_nonfinite) + " with non-finite values";
  if (color && with_nonfinite) nonfinite_text = color_of(mark::error) + nonfinite_text + kReset;
  std::string speed;
  if (report.elapsed_s > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (%.2f GB/s)", double(report.bytes) / report.elapsed_s / 1e9);
    speed = buf;
  }
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.3g ms", report.elapsed_s * 1e3);
  out += "\n" + plural(report.tensors.size(), "tensor", "tensors") + ", " + nonfinite_text + ", " +
         std::to_string(report.skipped.size()) + " skipped; " + format_count(elements) +
         " elements, " + format_bytes(report.bytes) + " in " + elapsed + speed + "\n";
  return out;
}

}  // namespace ttap::cli
