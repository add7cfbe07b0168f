// `ttap report`: reads a run directory through the run reader into a digest (the same one for the
// three formats, so they cannot disagree) and renders it as an aligned text report, a JSON object
// or a self-contained HTML page. Every failure becomes one line on stderr and exit status 2.
#include "tools/ttap/report_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "runtime/store/run_reader.h"
#include "runtime/text/printable.h"
#include "tools/report/report_html.h"
#include "tools/report/report_json.h"
#include "tools/report/run_digest.h"
#include "tools/report/text_table.h"
#include "tools/ttap/report_runs.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/terminal.h"
#include "tools/ttap/verb_errors.h"
#include "tools/ttap/verb_output.h"

namespace ttap::cli {
namespace {

using report::cell_mark;
using report::text_cell;
using report::text_column;

// Alerts listed in the text form; the JSON form and the HTML table carry more.
constexpr size_t kTextAlertRows = 20;

using text::printable;

// One line whatever the message holds (verb_error escapes it).
int fail(std::FILE *err, const std::string &message) { return verb_error(err, "report", message); }

std::string plural(uint64_t n, const char *one, const char *many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string seconds_text(double s) { return format_value(s) + " s"; }

std::string list_text(const std::vector<int64_t> &values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out;
}

// A run continued with mode=append: one line per session, which the tensor and alert tables then
// name in their session column, so the sessions' rows are never mistaken for one another.
std::string sessions_text(const report::run_digest &digest) {
  if (!report::has_appended_sessions(digest)) return "";
  std::string out;
  for (const report::session_span &s : report::session_spans(digest)) {
    out += "session   " + std::to_string(s.ordinal) + ": started " +
           report::format_utc(s.start_time) + ", " +
           (s.end_time ? "closed after " + report::format_duration(*s.end_time - s.start_time)
                       : std::string("not closed")) +
           ", " + (s.ranks.size() == 1 ? "rank " : "ranks ") +
           list_text(std::vector<int64_t>(s.ranks.begin(), s.ranks.end())) + ", " +
           (s.pids.size() == 1 ? "pid " : "pids ") + list_text(s.pids) +
           (s.ordinal > 1 ? " (mode=append)" : "") + "\n";
  }
  return out;
}

std::string facts_text(const report::run_digest &digest, const std::string &run_dir) {
  const report::run_facts f = report::facts_of(digest);
  std::string ranks;
  for (size_t i = 0; i < f.ranks.size(); ++i) ranks += (i ? "," : "") + std::to_string(f.ranks[i]);
  std::string out = "ttap report  " + printable(run_dir) + "\n\n";
  out += "run       " + std::string(f.ranks.size() == 1 ? "rank " : "ranks ") +
         (ranks.empty() ? "-" : ranks) + " (world " + std::to_string(f.world) + "), " +
         plural(f.sessions, "session", "sessions") + ", host " + printable(f.host) + ", pid " +
         std::to_string(f.pid) + "\n";
  if (f.sessions) {
    out += "started   " + report::format_utc(f.start_time) + ", ran " +
           report::format_duration(f.end_time - f.start_time) + ", latest step " +
           (digest.latest_step() >= 0 ? std::to_string(digest.latest_step()) : "-") + "\n";
  }
  if (!f.group_kind.empty()) {
    out += "group     " + printable(f.group_kind) + ", " +
           plural(uint64_t(f.group_size), "rank", "ranks") +
           (f.group_writer ? "; rank " + std::to_string(*f.group_writer) +
                                 " stored the merged samples and the per-rank rows"
                           : std::string()) +
           "\n";
  }
  out += "options   " + (f.options.empty() ? std::string("-") : printable(f.options)) + "\n";
  out += "version   " + printable(f.version) + "\n";
  out += "state     " + printable(report::state_text(digest)) + "\n";
  // What is missing, per rank: said before anything else is read off the run.
  for (const report::run_gap &g : report::gaps_of(digest))
    out += "gap       " + (g.rank >= 0 ? "rank " + std::to_string(g.rank) + ": " : std::string()) +
           printable(g.what) + "\n";
  return out + sessions_text(digest);
}

// Which reductions the hooks summarized (the rest were below TTAP_HOOKS_MIN_ELEMENTS, or not
// reductions).
std::string collectives_text(const report::run_digest &digest) {
  const std::vector<std::string> names = report::summarized_collectives(digest);
  if (names.empty()) return "";
  std::string list;
  for (size_t i = 0; i < names.size() && i < 8; ++i) list += (i ? ", " : "") + names[i];
  if (names.size() > 8) list += ", ...";
  return "\ncollectives " + std::to_string(names.size()) + " summarized by the hooks: " + list +
         "\n  (reductions under TTAP_HOOKS_MIN_ELEMENTS elements, 4096 by default, are not "
         "summarized; kind collective has no gradient detectors unless TTAP_HOOKS_GRAD maps it)\n";
}

std::string alerts_text(const report::run_digest &digest, bool color) {
  const auto &alerts = digest.alerts();
  if (alerts.empty()) return "\nalerts    none\n";
  std::map<std::string, size_t> per_type;
  for (const auto &a : alerts) ++per_type[a.type];
  std::string out = "\nalerts    " + std::to_string(alerts.size()) + ":";
  bool first = true;
  for (const auto &[type, n] : per_type) {
    out += (first ? " " : ", ") + std::to_string(n) + " " + printable(type);
    first = false;
  }
  out += digest.first_nonfinite_alert() ? " (first non-finite first, then in time order)\n"
                                        : " (in time order)\n";
  std::vector<text_column> columns = {{"step", false, false},
                                      {"rank", false, false},
                                      {"type", true, true},
                                      {"tensor", true, false},
                                      {"message", true, false}};
  const bool by_session = report::has_appended_sessions(digest);
  if (by_session) columns.insert(columns.begin() + 2, {"session", false, false});
  const std::vector<int> sessions =
      by_session ? report::alert_sessions(digest) : std::vector<int>();
  std::vector<std::vector<text_cell>> rows;
  const std::vector<size_t> order = digest.alert_order();
  for (size_t i : order) {
    if (rows.size() == kTextAlertRows) break;
    const alert_row &a = alerts[i];
    std::vector<text_cell> row = {
        {std::to_string(a.step)},
        {std::to_string(a.rank)},
        {printable(a.type),
         a.type == "nonfinite" || a.type == "nonfinite_source" || a.type == "divergence"
             ? cell_mark::error
             : cell_mark::none},
        {printable(a.tensor)},
        {printable(a.message)}};
    if (by_session) row.insert(row.begin() + 2, {std::to_string(sessions[i])});
    rows.push_back(std::move(row));
  }
  out += report::render_table(columns, rows, color, "  ");
  if (order.size() > kTextAlertRows) {
    out += "  ... " + std::to_string(order.size() - kTextAlertRows) +
           " more (--format json or html lists them all)\n";
  }
  return out;
}

// What the response policies did, listed under the alerts; nothing when they did nothing.
std::string actions_text(const report::run_digest &digest, bool color) {
  const auto &actions = digest.actions();
  if (actions.empty()) return "";
  std::map<std::string, size_t> per_action;
  for (const auto &a : actions) ++per_action[a.action];
  std::string out = "\nactions   " + std::to_string(actions.size()) + ":";
  bool first = true;
  for (const auto &[action, n] : per_action) {
    out += (first ? " " : ", ") + std::to_string(n) + " " + printable(action);
    first = false;
  }
  out += " (in time order)\n";
  const std::vector<text_column> columns = {{"step", false, false},
                                            {"rank", false, false},
                                            {"action", true, true},
                                            {"reason", true, false},
                                            {"detail", true, false}};
  std::vector<std::vector<text_cell>> rows;
  for (const action_row &a : actions) {
    if (rows.size() == kTextAlertRows) break;
    rows.push_back({{std::to_string(a.step)},
                    {std::to_string(a.rank)},
                    {printable(a.action), a.action == "abort" ? cell_mark::error : cell_mark::warn},
                    {printable(a.reason)},
                    {printable(a.detail)}});
  }
  out += report::render_table(columns, rows, color, "  ");
  if (actions.size() > kTextAlertRows) {
    out += "  ... " + std::to_string(actions.size() - kTextAlertRows) +
           " more (--format json or html lists them all)\n";
  }
  return out;
}

text_cell fp8_cell(const std::optional<fp8_risk> &risk) {
  if (!risk) return {"-"};
  const cell_mark mark = risk->overflow > 0                             ? cell_mark::error
                         : risk->underflow >= kFp8UnderflowWarnFraction ? cell_mark::warn
                                                                        : cell_mark::none;
  return {format_percent(risk->underflow) + "/" + format_percent(risk->overflow), mark};
}

std::string tensors_text(const report::run_digest &digest, bool color, bool *any_mark) {
  const auto &tensors = digest.tensors();
  if (tensors.empty()) return "\ntensors   none yet\n";
  bool multi_rank = false;
  for (const auto &t : tensors) multi_rank = multi_rank || t.rank != tensors.front().rank;
  std::vector<text_column> columns = {
      {"name", true, false},     {"kind", true, false},     {"dtype", true, false},
      {"samples", false, false}, {"steps", false, false},   {"last l2", false, true},
      {"max l2", false, false},  {"at step", false, false}, {"min", false, false},
      {"max", false, false},     {"nan/inf", false, true},  {"e4m3 u/o%", false, true}};
  if (multi_rank) columns.insert(columns.begin() + 1, {"rank", false, false});
  const bool by_session = report::has_appended_sessions(digest);
  if (by_session) columns.insert(columns.begin() + (multi_rank ? 2 : 1), {"session", false, false});
  std::vector<std::vector<text_cell>> rows;
  for (const auto &t : tensors) {
    const bool sampled = t.samples > 0;
    auto optional_value = [](const std::optional<double> &v) {
      return text_cell{v ? format_value(*v) : "-"};
    };
    std::vector<text_cell> row = {
        {t.name.empty() ? "?" : printable(t.name)},
        {t.kind.empty() ? "-" : printable(t.kind)},
        {t.dtype.empty() ? "-" : printable(t.dtype)},
        {std::to_string(t.samples)},
        {sampled ? std::to_string(t.first_step) + "-" + std::to_string(t.last_step) : "-"},
        // Over finite values only: a last sample holding NaN/Inf gets the marker.
        {sampled ? format_value(t.last_l2) : "-",
         t.last_nonfinite ? cell_mark::error : cell_mark::none},
        optional_value(t.max_l2),
        {t.max_l2 ? std::to_string(t.max_l2_step) : "-"},
        optional_value(t.min),
        optional_value(t.max),
        {format_count(t.nonfinite_total), t.nonfinite_total ? cell_mark::error : cell_mark::none},
        fp8_cell(t.e4m3)};
    if (multi_rank) row.insert(row.begin() + 1, {std::to_string(t.rank)});
    if (by_session) row.insert(row.begin() + (multi_rank ? 2 : 1), {std::to_string(t.session)});
    for (const auto &cell : row) *any_mark = *any_mark || cell.mark != cell_mark::none;
    rows.push_back(std::move(row));
  }
  return "\ntensors   " + std::to_string(tensors.size()) +
         " (min/max over every sample's finite values; fp8 risk of the last sample)\n" +
         report::render_table(columns, rows, color, "  ");
}

// The per-rank section of a group run: what each rank contributed, from the per-rank rows, and
// the group alerts about it.
std::string ranks_text(const report::run_digest &digest, bool color, bool *any_mark) {
  const auto &ranks = digest.ranks();
  if (ranks.empty()) return "";
  std::map<int32_t, std::map<std::string, size_t>> group_alerts;
  for (const alert_row &a : digest.alerts()) {
    if (a.type == "nonfinite_source" || a.type == "divergence" || a.type == "outlier_rank" ||
        a.type == "straggler")
      ++group_alerts[a.rank][a.type];
  }
  uint64_t group_samples = 0;
  for (const auto &r : ranks) group_samples = std::max(group_samples, r.samples + r.absent);
  const std::vector<text_column> columns = {
      {"rank", false, false},      {"samples", false, false},      {"absent", false, false},
      {"step s", false, false},    {"last grad l2", false, false}, {"nan/inf", false, true},
      {"group alerts", true, true}};
  std::vector<std::vector<text_cell>> rows;
  for (const auto &r : ranks) {
    std::string alerts;
    for (const auto &[type, n] : group_alerts[r.rank])
      alerts += (alerts.empty() ? "" : ", ") + std::to_string(n) + " " + printable(type);
    std::vector<text_cell> row = {
        {std::to_string(r.rank)},
        {std::to_string(r.samples)},
        {std::to_string(r.absent)},
        {r.step_seconds ? format_value(*r.step_seconds) : "-"},
        {r.last_grad_l2 ? format_value(*r.last_grad_l2) : "-"},
        {format_count(r.nonfinite), r.nonfinite ? cell_mark::error : cell_mark::none},
        {alerts.empty() ? "-" : alerts, alerts.empty() ? cell_mark::none : cell_mark::error}};
    for (const auto &cell : row) *any_mark = *any_mark || cell.mark != cell_mark::none;
    rows.push_back(std::move(row));
  }
  return "\nranks     " + std::to_string(ranks.size()) + " (" +
         plural(group_samples, "group sample", "group samples") +
         "; each rank's own part before any reduction: step time, l2 over its grad tensors at "
         "the last sample, NaN/Inf)\n" +
         report::render_table(columns, rows, color, "  ");
}

std::string overhead_text(const report::run_digest &digest) {
  const run_counters_row c = digest.counter_totals();
  const report::run_facts f = report::facts_of(digest);
  std::string out = "\noverhead  ";
  const std::string split =
      seconds_text(c.overhead_seconds) + " host + " + seconds_text(c.device_seconds) + " device";
  if (f.overhead_fraction) {
    out += format_percent(*f.overhead_fraction) + "% of step time (" + split + " of " +
           seconds_text(c.step_seconds) + ")\n";
  } else {
    out += split + "; no step time recorded, so no share of it\n";
  }
  out += "counts    " + std::to_string(c.samples_taken) + " samples taken, " +
         std::to_string(c.samples_skipped) + " skipped, " + std::to_string(c.samples_rejected) +
         " rejected; " + std::to_string(c.records_dropped) + " records dropped; " +
         std::to_string(c.alerts_suppressed) + " alerts suppressed\n";
  return out;
}

std::string text_report(const report::run_digest &digest, const std::string &run_dir, bool color) {
  std::string out = facts_text(digest, run_dir);
  if (digest.sample_rows() == 0) {
    out += "\nno samples yet: the run has not stored a sample (it may have just started)\n";
  }
  bool any_mark = digest.first_nonfinite_alert().has_value();
  out += alerts_text(digest, color);
  out += actions_text(digest, color);
  out += tensors_text(digest, color, &any_mark);
  out += collectives_text(digest);
  out += ranks_text(digest, color, &any_mark);
  out += overhead_text(digest);
  if (any_mark) {
    char legend[200];
    std::snprintf(legend, sizeof legend,
                  "\n! marks non-finite values (a last l2 over the finite values of a sample with "
                  "NaN/Inf), fp8 e4m3 overflow, fp8 e4m3 underflow >= %g%%\n",
                  kFp8UnderflowWarnFraction * 100);
    out += legend;
  }
  return out;
}

int run_report_or_throw(const report_options &options, std::FILE *out, std::FILE *err) {
  std::string error;
  auto reader = run_reader::open(options.run_dir, &error);
  if (!reader) return fail(err, error);

  report::digest_options digest_options;
  std::string hist_reason;
  if (options.format == "html") {
    // The histogram view follows one tensor, chosen before the samples are read so that only its
    // histograms are kept.
    std::vector<tensor_row> tensors;
    std::vector<alert_row> alerts;
    if (!reader->tensors(&tensors) || !reader->alerts(nullptr, &alerts)) {
      return fail(err, reader->last_error());
    }
    if (!options.tensor.empty()) {
      bool known = false;
      for (const auto &t : tensors) known = known || t.name == options.tensor;
      if (!known) return fail(err, options.run_dir + ": no tensor named '" + options.tensor + "'");
      digest_options.hist_tensor = options.tensor;
      hist_reason = "chosen with --tensor";
    } else {
      digest_options.hist_tensor = report::default_hist_tensor(alerts, tensors);
      bool alerted = false;
      for (const auto &a : alerts) alerted = alerted || a.tensor == digest_options.hist_tensor;
      hist_reason = alerted ? "the tensor of the first alert" : "the largest tensor";
    }
  }
  report::run_digest digest(digest_options);
  if (!digest.update(*reader, &error)) return fail(err, error);

  std::string text;
  if (options.format == "json") {
    // Tensor names come from the trainer: replace invalid UTF-8 rather than fail at the last step.
    text = report::report_json(digest, options.run_dir)
               .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
           "\n";
  } else if (options.format == "html") {
    report::html_options html;
    html.run_dir = options.run_dir;
    html.hist_reason = hist_reason;
    text = report::report_html(digest, html);
  } else {
    text = text_report(digest, options.run_dir, options.color && options.output.empty());
  }

  std::string path = options.output;
  if (path.empty() && options.format == "html") path = options.run_dir + "/report.html";
  if (!put_verb_output(path, text, "", out, &error)) return fail(err, error);
  return kExitOk;
}

}  // namespace

int run_report(const report_options &options, std::FILE *out, std::FILE *err) {
  return run_verb(err, "report", options.run_dir,
                  [&] { return run_report_or_throw(options, out, err); });
}

void add_report_command(CLI::App &app) {
  auto options = std::make_shared<report_options>();
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto *cmd = app.add_subcommand(
      "report",
      "Report on a run (finished or live): alerts, per-tensor norms and ranges, overhead; as text, "
      "JSON, or an HTML page with plots. Several runs: one row per run, and their loss and "
      "gradient norm overlaid in HTML");
  cmd->add_option("dirs", *dirs, "Run directory (holds ttap.db); several compare the runs")
      ->required();
  cmd->add_option("--format", options->format, "Output: text (default), json or html")
      ->check(CLI::IsMember({"text", "json", "html"}));
  cmd->add_option("-o,--output", options->output,
                  "Write here (default: stdout for text and json, DIR/report.html for html)");
  cmd->add_option("--tensor", options->tensor,
                  "html: the tensor of the exponent-histogram view (default: the one of the first "
                  "alert, else the largest)");
  cmd->callback([options, dirs] {
    options->color = color_wanted(STDOUT_FILENO);
    options->run_dir = dirs->front();
    if (dirs->size() > 1 && !options->tensor.empty()) {
      std::fprintf(stderr, "ttap report: error: --tensor applies to the report of one run\n");
      throw CLI::RuntimeError(kExitUsage);
    }
    const int status =
        dirs->size() > 1 ? run_report_runs(*dirs, options->format, options->output, stdout, stderr)
                         : run_report(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
