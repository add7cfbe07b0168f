// `ttap diff`: opens both runs, compares them (tools/compare/run_diff.h) and renders the result:
// an aligned text report here, JSON and HTML from tools/compare/diff_report.h. Errors are one
// line on stderr and status 2, so that 1 always means "the runs differ".
#include "tools/ttap/diff_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>

#include "runtime/text/printable.h"
#include "tools/compare/diff_report.h"
#include "tools/compare/run_diff.h"
#include "tools/report/text_table.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/terminal.h"
#include "tools/ttap/verb_errors.h"
#include "tools/ttap/verb_output.h"

namespace ttap::cli {
namespace {

using text::printable;

using report::cell_mark;
using report::text_cell;
using report::text_column;

// Rows of the text form's tensor table; JSON lists every tensor.
constexpr size_t kTextTensorRows = 40;
constexpr size_t kTextAlertRows = 20;

int fail(std::FILE *err, const std::string &message) { return verb_error(err, "diff", message); }

std::string side_text(const char *which, const compare::run_side &s) {
  return std::string(which) + "         " + printable(s.dir) + ": " + std::to_string(s.steps) +
         " steps sampled" +
         (s.steps ? " (" + std::to_string(s.first_step) + "-" + std::to_string(s.last_step) + ")"
                  : std::string()) +
         ", " + std::to_string(s.tensors) + " tensor series\n";
}

std::string optional_text(const std::optional<double> &v) {
  return v ? compare::precise_number(*v) : "-";
}

std::string tensors_text(const compare::run_diff &d, bool color) {
  if (d.tensors.empty()) return "\ntensors   none in both runs\n";
  // The tensors that went beyond the tolerance first, in the order they did; then the rest in
  // watch order.
  std::vector<size_t> order(d.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const auto &a = d.tensors[x].first_beyond, &b = d.tensors[y].first_beyond;
    if (a.has_value() != b.has_value()) return a.has_value();
    return a && b && a->step < b->step;
  });
  const std::vector<text_column> columns = {
      {"tensor", true, false},     {"common", false, false}, {"l2 A", false, false},
      {"l2 B", false, false},      {"B/A", false, false},    {"max rel diff", false, false},
      {"first beyond", true, true}};
  std::vector<std::vector<text_cell>> rows;
  for (size_t i : order) {
    if (rows.size() == kTextTensorRows) break;
    const compare::tensor_diff &t = d.tensors[i];
    const bool common = t.last_common_step.has_value();
    rows.push_back({{printable(compare::series_label(t.key), 60)},
                    {std::to_string(t.common_steps)},
                    {common ? compare::precise_number(t.l2_a) : "-"},
                    {common ? compare::precise_number(t.l2_b) : "-"},
                    {common ? optional_text(compare::ratio(t.l2_a, t.l2_b)) : "-"},
                    {format_value(t.max_rel_diff)},
                    {t.first_beyond ? "step " + std::to_string(t.first_beyond->step) + " " +
                                          t.first_beyond->field
                                    : "-",
                     t.first_beyond ? cell_mark::error : cell_mark::none}});
  }
  std::string out = "\ntensors   " + std::to_string(d.tensors.size()) +
                    " in both (l2 at the last common step; max rel diff of l2 and abs_max over "
                    "every common step)\n" +
                    report::render_table(columns, rows, color, "  ");
  if (d.tensors.size() > kTextTensorRows)
    out += "  ... " + std::to_string(d.tensors.size() - kTextTensorRows) +
           " more (--format json lists them all)\n";
  return out;
}

std::string scalars_text(const compare::run_diff &d, bool color) {
  if (d.scalars.empty()) return "";
  const std::vector<text_column> columns = {
      {"scalar", true, false},     {"rank", false, false},   {"common", false, false},
      {"last A", false, false},    {"last B", false, false}, {"max rel diff", false, false},
      {"first beyond", true, true}};
  std::vector<std::vector<text_cell>> rows;
  for (const compare::scalar_diff &s : d.scalars) {
    rows.push_back({{printable(s.name, 60)},
                    {std::to_string(s.rank)},
                    {std::to_string(s.common_steps)},
                    {optional_text(s.last_a)},
                    {optional_text(s.last_b)},
                    {format_value(s.max_rel_diff)},
                    {s.first_beyond ? "step " + std::to_string(s.first_beyond->step) : "-",
                     s.first_beyond ? cell_mark::error : cell_mark::none}});
  }
  return "\nscalars   " + std::to_string(d.scalars.size()) +
         " in both (last: at the last common step)\n" +
         report::render_table(columns, rows, color, "  ");
}

std::string alerts_text(const std::vector<alert_row> &alerts, const char *which, bool color) {
  if (alerts.empty()) return "";
  const std::vector<text_column> columns = {{"step", false, false},
                                            {"rank", false, false},
                                            {"type", true, false},
                                            {"tensor", true, false},
                                            {"message", true, false}};
  std::vector<std::vector<text_cell>> rows;
  for (const alert_row &a : alerts) {
    if (rows.size() == kTextAlertRows) break;
    rows.push_back({{std::to_string(a.step)},
                    {std::to_string(a.rank)},
                    {printable(a.type)},
                    {printable(a.tensor, 60)},
                    {printable(a.message)}});
  }
  std::string out = "\nalerts only in " + std::string(which) + " (" +
                    std::to_string(alerts.size()) + ")\n" +
                    report::render_table(columns, rows, color, "  ");
  if (alerts.size() > kTextAlertRows)
    out += "  ... " + std::to_string(alerts.size() - kTextAlertRows) + " more\n";
  return out;
}

std::string text_diff(const compare::run_diff &d, bool color) {
  std::string out = "ttap diff  " + printable(d.a.dir) + "  vs  " + printable(d.b.dir) + "\n\n";
  out += side_text("A", d.a) + side_text("B", d.b);
  const std::vector<std::string> findings = compare::diff_findings(d);
  for (size_t i = 0; i < findings.size(); ++i)
    out += std::string(i == 0 ? "\nverdict   " : "          ") + printable(findings[i]) + "\n";
  out += tensors_text(d, color);
  out += scalars_text(d, color);
  out += alerts_text(d.alerts_only_a, "A", color);
  out += alerts_text(d.alerts_only_b, "B", color);
  return out;
}

int run_diff_or_throw(const diff_options &options, std::FILE *out, std::FILE *err) {
  if (!(options.rtol >= 0) || !(options.atol >= 0) || !std::isfinite(options.rtol) ||
      !std::isfinite(options.atol))
    return fail(err, "--rtol and --atol must be finite and >= 0");
  std::string error;
  auto a = run_reader::open(options.run_a, &error);
  if (!a) return fail(err, error);
  auto b = run_reader::open(options.run_b, &error);
  if (!b) return fail(err, error);
  std::error_code ec;
  if (std::filesystem::equivalent(options.run_a, options.run_b, ec)) {
    return fail(err, options.run_a + " and " + options.run_b +
                         " are the same run directory: give two different runs");
  }
  compare::diff_options diff_options;
  diff_options.rtol = options.rtol;
  diff_options.atol = options.atol;
  compare::run_diff diff;
  if (!compare::diff_runs(*a, *b, diff_options, &diff, &error)) return fail(err, error);

  std::string text;
  if (options.format == "json") {
    text = compare::diff_json(diff).dump(2, ' ', false,
                                         nlohmann::ordered_json::error_handler_t::replace) +
           "\n";
  } else if (options.format == "html") {
    text = compare::diff_html(diff);
  } else {
    text = text_diff(diff, options.color && options.output.empty());
  }
  std::string path = options.output;
  if (path.empty() && options.format == "html") path = "ttap-diff.html";
  if (!put_verb_output(path, text, compare::verdict_of(diff), out, &error)) return fail(err, error);
  return diff.equal() ? kExitOk : kExitDiffer;
}

}  // namespace

int run_diff(const diff_options &options, std::FILE *out, std::FILE *err) {
  return run_verb(err, "diff", options.run_a + " vs " + options.run_b,
                  [&] { return run_diff_or_throw(options, out, err); });
}

void add_diff_command(CLI::App &app) {
  auto options = std::make_shared<diff_options>();
  auto *cmd = app.add_subcommand(
      "diff",
      "Compare two runs step by step: identical to the bit, equal within a tolerance, or the "
      "first step and tensor where they part (exit 0 equal, 1 different, 2 error)");
  cmd->add_option("run_a", options->run_a, "Run directory A (the reference)")->required();
  cmd->add_option("run_b", options->run_b, "Run directory B")->required();
  cmd->add_option("--format", options->format, "Output: text (default), json or html")
      ->check(CLI::IsMember({"text", "json", "html"}));
  cmd->add_option("-o,--output", options->output,
                  "Write here (default: stdout for text and json, ./ttap-diff.html for html)");
  cmd->add_option("--rtol", options->rtol,
                  "Relative tolerance: values a and b are equal when |b-a| <= atol + rtol * "
                  "max(|a|,|b|) (default 1e-6)");
  cmd->add_option("--atol", options->atol, "Absolute tolerance (default 0)");
  cmd->footer(
      "The runs are aligned by (tensor, rank, step) over the steps both sampled; l2, abs_max and "
      "the NaN/Inf count of every tensor, and every logged scalar, are compared. Exit status: 0 "
      "equal within the tolerance, 1 different (a value beyond it, a tensor, scalar or alert only "
      "one run has, or no step in common), 2 error.");
  cmd->callback([options] {
    options->color = color_wanted(STDOUT_FILENO);
    const int status = run_diff(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
