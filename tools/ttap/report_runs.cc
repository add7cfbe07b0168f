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

namespace ttap::cli {
namespace {

using text::printable;

using report::text_cell;
using report::text_column;

int fail(std::FILE *err, const std::string &message) {
  std::fprintf(err, "ttap report: error: %s\n", printable(message).c_str());
  return kExitUsage;
}

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
  try {
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
    if (path.empty()) {
      std::fputs(text.c_str(), out);
      std::fflush(out);
      return kExitOk;
    }
    std::FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) return fail(err, path + ": cannot write: " + std::strerror(errno));
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) return fail(err, path + ": write failed");
    std::fprintf(out, "wrote %s (%s)\n", path.c_str(), format_bytes(text.size()).c_str());
    return kExitOk;
  } catch (const std::bad_alloc &) {
    return fail(err, "out of memory while reading the runs");
  } catch (const std::exception &e) {
    return fail(err, e.what());
  }
}

}  // namespace ttap::cli
