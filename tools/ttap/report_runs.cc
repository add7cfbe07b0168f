// Several runs in one report: each run is read (tools/compare/runs_report.h) and rendered as one
// text row, a JSON list or the overlay page; failures are one line on stderr and status 2.
#include "tools/ttap/report_runs.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>

#include "runtime/text/printable.h"
#include "tools/compare/runs_report.h"
#include "tools/report/run_digest.h"
#include "tools/report/text_table.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/verb_errors.h"
#include "tools/ttap/verb_output.h"

namespace ttap::cli {
namespace {

using text::printable;

using report::text_cell;
using report::text_column;

int fail(std::FILE *err, const std::string &message) { return verb_error(err, "report", message); }

std::string value_cell(const std::optional<double> &v, const std::optional<int64_t> &step) {
  if (!step) return "-";
  return v ? format_value(*v) : "nan";
}

std::string text_runs(const std::vector<compare::run_overview> &runs) {
  const std::vector<text_column> columns = {{"run", true, false},
                                            {"state", true, false},
                                            {"last step", false, false},
                                            {"samples", false, false},
                                            {"tensors", false, false},
                                            {"alerts", false, false},
                                            {"first non-finite", true, false},
                                            {"last loss", false, false},
                                            {"last grad norm", false, false},
                                            {"duration", false, false},
                                            {"overhead%", false, false}};
  std::vector<std::vector<text_cell>> rows;
  for (const auto &r : runs) {
    const compare::run_listing &l = r.listing;
    rows.push_back({{printable(l.dir)},
                    {l.state},
                    {l.last_step >= 0 ? std::to_string(l.last_step) : "-"},
                    {std::to_string(l.samples)},
                    {std::to_string(r.tensors)},
                    {std::to_string(l.alerts)},
                    {l.first_nonfinite ? "step " + std::to_string(l.first_nonfinite->step) + " " +
                                             printable(l.first_nonfinite->tensor, 48)
                                       : "-"},
                    {value_cell(r.last_loss, r.last_loss_step)},
                    {value_cell(r.last_grad_norm, r.last_grad_norm_step)},
                    {report::format_duration(l.end_time - l.start_time)},
                    {l.overhead_fraction ? format_percent(*l.overhead_fraction) : "-"}});
  }
  return "ttap report  " + std::to_string(runs.size()) +
         " runs (last loss and global gradient norm at each run's latest step that has one; "
         "`ttap diff A B` compares two step by step)\n\n" +
         report::render_table(columns, rows, false);
}

}  // namespace

int run_report_runs(const std::vector<std::string> &dirs, const std::string &format,
                    const std::string &output, std::FILE *out, std::FILE *err) {
  return run_verb(err, "report", std::to_string(dirs.size()) + " runs", [&] {
    std::vector<compare::run_overview> runs;
    for (size_t i = 0; i < dirs.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        std::error_code ec;
        if (std::filesystem::equivalent(dirs[i], dirs[j], ec))
          return fail(err, dirs[j] + " and " + dirs[i] + " are the same run directory");
      }
      compare::run_overview r;
      std::string error;
      if (!compare::overview_of(dirs[i], &r, &error)) return fail(err, error);
      runs.push_back(std::move(r));
    }
    std::string text;
    if (format == "json") {
      text = compare::runs_json(runs).dump(2, ' ', false,
                                           nlohmann::ordered_json::error_handler_t::replace) +
             "\n";
    } else if (format == "html") {
      text = compare::runs_html(runs);
    } else {
      text = text_runs(runs);
    }
    std::string path = output;
    if (path.empty() && format == "html") path = "ttap-runs.html";
    std::string error;
    if (!put_verb_output(path, text, "", out, &error)) return fail(err, error);
    return kExitOk;
  });
}

}  // namespace ttap::cli
