// `ttap ls`: the run listing of tools/compare/run_listing.h as an aligned table or JSON. It reads
// only each store's small tables, so hundreds of runs list in well under a second.
#include "tools/ttap/ls_command.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>

#include "runtime/store/store_files.h"
#include "runtime/text/printable.h"
#include "tools/compare/run_listing.h"
#include "tools/report/run_digest.h"
#include "tools/report/text_table.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::cli {
namespace {

using text::printable;

using report::text_cell;
using report::text_column;

int fail(std::FILE *err, const std::string &message) { return verb_error(err, "ls", message); }

std::string ranks_text(const compare::run_listing &r) {
  if (r.ranks.empty()) return "-";
  if (r.ranks.size() == 1) return std::to_string(r.ranks.front());
  // Ranks of one job are usually 0..n-1: a range says it in a few characters.
  if (r.ranks.back() - r.ranks.front() + 1 == int32_t(r.ranks.size()))
    return std::to_string(r.ranks.front()) + "-" + std::to_string(r.ranks.back());
  std::string out;
  for (int32_t rank : r.ranks) out += (out.empty() ? "" : ",") + std::to_string(rank);
  return out;
}

std::string first_nonfinite_text(const compare::run_listing &r) {
  if (!r.first_nonfinite) return "-";
  return "step " + std::to_string(r.first_nonfinite->step) + " " +
         printable(r.first_nonfinite->tensor, 48);
}

std::string text_listing(const std::vector<compare::run_listing> &runs) {
  if (runs.empty()) return "no runs found\n";
  const std::vector<text_column> columns = {
      {"run", true, false},        {"state", true, false},
      {"started", true, false},    {"ranks", false, false},
      {"last step", false, false}, {"samples", false, false},
      {"alerts", false, false},    {"first non-finite", true, false},
      {"duration", false, false},  {"overhead%", false, false},
      {"gaps", false, false}};
  std::vector<std::vector<text_cell>> rows;
  std::string gap_lines;
  for (const auto &r : runs) {
    if (r.state == "unreadable") {
      rows.push_back({{printable(r.dir)}, {r.state}, {"-"}, {"-"}, {"-"}, {"-"}, {"-"}, {"-"},
                      {"-"}, {"-"}, {"-"}});
      continue;
    }
    for (const report::run_gap &g : r.gaps)
      gap_lines += "gap  " + printable(r.dir) + "  " +
                   (g.rank >= 0 ? "rank " + std::to_string(g.rank) + ": " : std::string()) +
                   printable(g.what) + "\n";
    rows.push_back({{printable(r.dir)},
                    {r.state},
                    {report::format_utc(r.start_time)},
                    {ranks_text(r)},
                    {r.last_step >= 0 ? std::to_string(r.last_step) : "-"},
                    {std::to_string(r.samples)},
                    {std::to_string(r.alerts)},
                    {first_nonfinite_text(r)},
                    {report::format_duration(r.end_time - r.start_time)},
                    {r.overhead_fraction ? format_percent(*r.overhead_fraction) : "-"},
                    {r.gaps.empty() ? "-" : std::to_string(r.gaps.size())}});
  }
  // What is missing, per rank, under the table.
  return report::render_table(columns, rows, false) + (gap_lines.empty() ? "" : "\n" + gap_lines);
}

nlohmann::ordered_json json_listing(const std::vector<compare::run_listing> &runs) {
  auto runs_json = nlohmann::ordered_json::array();
  for (const auto &r : runs) {
    nlohmann::ordered_json j;
    j["dir"] = r.dir;
    j["state"] = r.state;
    if (r.state == "unreadable") {
      j["error"] = r.error;
      runs_json.push_back(std::move(j));
      continue;
    }
    j["start_time"] = r.start_time;
    j["end_time"] = r.end_time;
    j["last_write"] = r.last_write;
    j["duration_s"] = r.end_time - r.start_time;
    j["ranks"] = r.ranks;
    j["world"] = r.world;
    j["last_step"] = r.last_step >= 0 ? nlohmann::ordered_json(r.last_step) : nullptr;
    j["samples"] = r.samples;
    j["alerts"] = r.alerts;
    if (r.first_nonfinite) {
      j["first_nonfinite"] = {{"step", r.first_nonfinite->step},
                              {"rank", r.first_nonfinite->rank},
                              {"tensor", r.first_nonfinite->tensor},
                              {"message", r.first_nonfinite->message}};
    } else {
      j["first_nonfinite"] = nullptr;
    }
    j["overhead_fraction"] =
        r.overhead_fraction ? nlohmann::ordered_json(*r.overhead_fraction) : nullptr;
    j["gaps"] = nlohmann::ordered_json::array();
    for (const report::run_gap &g : r.gaps)
      j["gaps"].push_back({{"rank", g.rank >= 0 ? nlohmann::ordered_json(g.rank) : nullptr},
                           {"what", g.what}});
    runs_json.push_back(std::move(j));
  }
  return {{"runs", std::move(runs_json)}};
}

}  // namespace

int run_ls(const ls_options &options, std::FILE *out, std::FILE *err) {
  const std::string subject = options.dirs.empty() ? "." : options.dirs.front();
  return run_verb(err, "ls", subject, [&] {
    std::vector<std::string> roots = options.dirs;
    if (roots.empty()) roots.push_back(".");
    std::vector<compare::run_listing> runs;
    std::string error;
    if (!compare::list_runs(roots, &runs, &error)) return fail(err, error);
    for (const auto &r : runs) {
      if (r.state == "unreadable") std::fprintf(err, "ttap ls: %s\n", printable(r.error).c_str());
    }
    const std::string text =
        options.format == "json"
            ? json_listing(runs).dump(2, ' ', false,
                                      nlohmann::ordered_json::error_handler_t::replace) +
                  "\n"
            : text_listing(runs);
    std::fputs(text.c_str(), out);
    std::fflush(out);
    return kExitOk;
  });
}

void add_ls_command(CLI::App &app) {
  auto options = std::make_shared<ls_options>();
  auto *cmd = app.add_subcommand(
      "ls",
      "List the runs under directories (default .): state (live, finished, crashed), ranks, last "
      "step, samples, alerts, first non-finite value, duration, overhead, what is missing per "
      "rank; oldest first");
  cmd->add_option("dirs", options->dirs,
                  std::string("Directories to search, at most 3 levels deep (a run is a "
                              "directory holding ") +
                      kStoreFileName + ")");
  cmd->add_option("--format", options->format, "Output: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->footer(
      "States: live = a writer process of the run is alive on this host and wrote in the last "
      "minute; finished = every writer closed the store cleanly; crashed = neither (killed, or a "
      "live run on another host); unreadable = not a readable store (the reason goes to stderr).");
  cmd->callback([options] {
    const int status = run_ls(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
