// `ttap watch`: follows a run's store while it is written, reading only the rows committed since
// the last refresh (by rowid), and draws a compact frame: latest step, sampling rate, the top
// tensors with l2 sparklines, non-finite counts, the latest alerts. On a terminal each frame is
// redrawn in place; into a pipe or file a frame is printed only when the run changed.
#include "tools/ttap/watch_command.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <thread>

#include "runtime/store/run_reader.h"
#include "runtime/text/printable.h"
#include "tools/report/run_digest.h"
#include "tools/report/text_table.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/terminal.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::cli {
namespace {

using report::cell_mark;
using report::text_cell;
using report::text_column;

constexpr size_t kSparkWidth = 32;   // l2 samples per sparkline
constexpr size_t kLatestAlerts = 5;  // alerts shown at the bottom of a frame
constexpr double kIdleSeconds = 30;  // "idle" after this long without a write

std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop.store(true); }

// SIGINT/SIGTERM only set a flag; the loop notices within a sleep slice, restores the cursor and
// returns normally. The previous handlers come back when the watch ends.
class stop_signals {
 public:
  stop_signals() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &m_old_int);
    ::sigaction(SIGTERM, &action, &m_old_term);
  }
  ~stop_signals() {
    ::sigaction(SIGINT, &m_old_int, nullptr);
    ::sigaction(SIGTERM, &m_old_term, nullptr);
  }

 private:
  struct sigaction m_old_int {
  }, m_old_term{};
};

// Hides the cursor while frames are redrawn in place and always shows it again.
class hidden_cursor {
 public:
  explicit hidden_cursor(std::FILE *out, bool active) : m_out(out), m_active(active) {
    if (m_active) std::fputs("\x1b[?25l", m_out);
  }
  ~hidden_cursor() {
    if (!m_active) return;
    std::fputs("\x1b[?25h", m_out);
    std::fflush(m_out);
  }

 private:
  std::FILE *m_out;
  bool m_active;
};

using text::printable;

// One line whatever the message holds (verb_error escapes it).
int fail(std::FILE *err, const std::string &message) { return verb_error(err, "watch", message); }

// The run has finished when no writer holds any of its store files any more (each live writer
// holds its file's lock; the kernel drops it when the process ends, however it ends).
bool writer_exited(const report::run_digest &digest, std::string *why) {
  if (digest.sessions().empty() || digest.files().empty()) return false;
  const report::run_state state = report::state_of(digest);
  if (state == report::run_state::live) return false;
  *why = state == report::run_state::closed ? "finished (every writer closed its store)"
                                            : "finished: " + report::state_text(digest);
  return true;
}

// One row's l2 history as block characters, on a log scale between the row's own extremes, so a
// layer whose norm creeps up by a decade shows as clearly as one that jumps. '!' marks a
// non-finite sample, '_' an all-zero one.
std::string sparkline(const std::vector<report::l2_point> &history, bool color) {
  static const char *const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                        "\u2585", "\u2586", "\u2587", "\u2588"};
  double lo = INFINITY, hi = -INFINITY;
  for (const auto &p : history) {
    if (p.l2 > 0 && std::isfinite(p.l2)) {
      lo = std::min(lo, std::log10(p.l2));
      hi = std::max(hi, std::log10(p.l2));
    }
  }
  std::string out;
  for (const auto &p : history) {
    if (p.nonfinite || !std::isfinite(p.l2)) {
      out += color ? std::string(report::kRed) + "!" + report::kReset : "!";
    } else if (!(p.l2 > 0)) {
      out += "_";
    } else {
      const int level = hi > lo ? int(std::lround((std::log10(p.l2) - lo) / (hi - lo) * 7)) : 3;
      out += kBlocks[std::clamp(level, 0, 7)];
    }
  }
  return out;
}

struct frame_state {
  double samples_per_second = 0;
  std::string status;  // "live, last write 0.4 s ago", "finished (...)"
};

std::string render_frame(const report::run_digest &digest, const watch_options &options,
                         const frame_state &state) {
  const bool color = options.color;
  auto bold = [&](const std::string &s) {
    return color ? std::string(report::kBold) + s + report::kReset : s;
  };
  std::string out = "ttap watch  " + printable(options.run_dir) + "  |  step " +
                    bold(digest.latest_step() >= 0 ? std::to_string(digest.latest_step()) : "-") +
                    "  |  " + format_value(state.samples_per_second) + " samples/s  |  " +
                    state.status + "\n";

  const run_counters_row c = digest.counter_totals();
  std::string line;
  if (!digest.loss().empty()) {
    const scalar_row &loss = digest.loss().back();
    line += "loss " + (loss.value ? format_value(*loss.value) : std::string("nan")) + " (step " +
            std::to_string(loss.step) + ")   ";
  }
  line += std::to_string(c.samples_taken) + " samples taken, " + std::to_string(c.samples_skipped) +
          " skipped, " + std::to_string(c.records_dropped) + " records dropped";
  out += line + "\n";

  if (auto i = digest.first_nonfinite_alert()) {
    const alert_row &a = digest.alerts()[*i];
    std::string text = "first non-finite: step " + std::to_string(a.step) + ", " +
                       printable(a.tensor) + " (rank " + std::to_string(a.rank) + ")";
    out += (color ? std::string(report::kRed) + text + report::kReset : text) + "\n";
  }

  // Tensors holding NaN/Inf first (they are why one watches), then the largest norms.
  std::vector<const report::tensor_digest *> order;
  for (const auto &t : digest.tensors()) {
    if (t.samples) order.push_back(&t);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto *a, const auto *b) {
    if ((a->nonfinite_total > 0) != (b->nonfinite_total > 0)) return a->nonfinite_total > 0;
    return a->last_l2 > b->last_l2;
  });
  if (order.empty()) {
    out += "\nno samples yet\n";
  } else {
    const std::vector<text_column> columns = {{"tensor", true, false},
                                              {"kind", true, false},
                                              {"last l2", false, false},
                                              {"l2 history (log scale per row)", true, false},
                                              {"nan/inf", false, true}};
    std::vector<std::vector<text_cell>> rows;
    for (size_t i = 0; i < order.size() && i < options.top; ++i) {
      const auto &t = *order[i];
      rows.push_back({{printable(t.name)},
                      {printable(t.kind)},
                      {t.last_nonfinite && !(t.last_l2 > 0) ? "-" : format_value(t.last_l2)},
                      {sparkline(t.history, color)},
                      {format_count(t.nonfinite_total),
                       t.nonfinite_total ? cell_mark::error : cell_mark::none}});
    }
    out += "\n" + report::render_table(columns, rows, color);
    const size_t sampled = order.size();
    out += std::to_string(rows.size()) + " of " + std::to_string(sampled) +
           (sampled == 1 ? " tensor" : " tensors") +
           " (non-finite first, then by last l2); history: the last " +
           std::to_string(kSparkWidth) + " samples, ! = NaN/Inf\n";
  }

  // What is missing, per rank (a rank without rows, a failing store, dropped records).
  for (const report::run_gap &g : report::gaps_of(digest)) {
    std::string text = "gap: " +
                       (g.rank >= 0 ? "rank " + std::to_string(g.rank) + ": " : std::string()) +
                       printable(g.what);
    if (color) text = report::kRed + text + report::kReset;
    out += text + "\n";
  }
  const auto &alerts = digest.alerts();
  out += "\nalerts: " + std::to_string(alerts.size()) + (alerts.empty() ? "\n" : ", latest last\n");
  for (size_t i = alerts.size() > kLatestAlerts ? alerts.size() - kLatestAlerts : 0;
       i < alerts.size(); ++i) {
    const alert_row &a = alerts[i];
    std::string text =
        "  step " + std::to_string(a.step) + "  " + printable(a.type) + "  " + printable(a.message);
    if (color && a.type == "nonfinite") text = report::kRed + text + report::kReset;
    out += text + "\n";
  }
  return out;
}

std::vector<std::string> split_lines(const std::string &text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Redraws in place: back up over the previous frame, rewrite each line (clearing its old tail),
// clear whatever the previous frame had below. Lines are cut to the terminal's width and the frame
// to its height, because a wrapped or scrolled line would break the count of lines to back up.
size_t redraw(std::FILE *out, const std::string &frame, size_t previous_lines) {
  struct winsize size {};
  size_t columns = 0, rows = 0;
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0) {
    columns = size.ws_col;
    rows = size.ws_row;
  }
  std::vector<std::string> lines = split_lines(frame);
  if (rows > 1 && lines.size() > rows - 1) lines.resize(rows - 1);
  std::string text;
  if (previous_lines) text += "\x1b[" + std::to_string(previous_lines) + "A\r";
  for (const auto &l : lines) {
    text += (columns ? report::clip_to_width(l, columns - 1) : l) + "\x1b[K\n";
  }
  text += "\x1b[J";
  std::fputs(text.c_str(), out);
  std::fflush(out);
  return lines.size();
}

int run_watch_or_throw(const watch_options &options, std::FILE *out, std::FILE *err) {
  std::string error;
  auto reader = run_reader::open(options.run_dir, &error);
  if (!reader) return fail(err, error);

  report::digest_options digest_options;
  digest_options.history_limit = kSparkWidth;
  digest_options.step_norms = false;
  report::run_digest digest(digest_options);

  stop_signals signals;
  g_stop.store(false);
  hidden_cursor cursor(out, options.terminal && !options.once);
  size_t previous_lines = 0;
  uint64_t previous_taken = 0, previous_rows = 0;
  size_t previous_alerts = 0;
  bool first = true;
  auto previous_wall = std::chrono::steady_clock::now();

  while (true) {
    if (!digest.update(*reader, &error)) return fail(err, error);
    const auto now_wall = std::chrono::steady_clock::now();
    frame_state state;
    const uint64_t taken = digest.counter_totals().samples_taken;
    if (first) {
      // No earlier refresh to compare with: the run's average rate.
      const double span = digest.last_time() - digest.first_time();
      state.samples_per_second = span > 0 ? double(taken) / span : 0.0;
    } else {
      const double dt = std::chrono::duration<double>(now_wall - previous_wall).count();
      state.samples_per_second = dt > 0 ? double(taken - previous_taken) / dt : 0.0;
    }
    std::string finished_why;
    const bool finished = writer_exited(digest, &finished_why);
    if (finished) {
      state.status = finished_why;
    } else {
      const double since = double(std::time(nullptr)) - digest.last_time();
      state.status = (since > kIdleSeconds ? "idle, last write " : "live, last write ") +
                     report::format_duration(std::max(since, 0.0)) + " ago";
    }

    const std::string frame = render_frame(digest, options, state);
    const bool changed = first || finished || digest.sample_rows() != previous_rows ||
                         digest.alerts().size() != previous_alerts;
    if (options.terminal && !options.once) {
      previous_lines = redraw(out, frame, previous_lines);
    } else if (changed) {
      // Into a file or pipe: a new frame only when something happened, separated by a blank line.
      std::fprintf(out, "%s%s", first ? "" : "\n", frame.c_str());
      std::fflush(out);
    }
    first = false;
    previous_taken = taken;
    previous_rows = digest.sample_rows();
    previous_alerts = digest.alerts().size();
    previous_wall = now_wall;
    if (options.once || finished) return kExitOk;

    // Sleep in short slices so Ctrl-C ends the watch at once.
    const auto wake = now_wall + std::chrono::duration<double>(options.interval);
    while (!g_stop.load() && std::chrono::steady_clock::now() < wake) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_stop.load()) return kExitOk;
  }
}

}  // namespace

int run_watch(const watch_options &options, std::FILE *out, std::FILE *err) {
  return run_verb(err, "watch", options.run_dir,
                  [&] { return run_watch_or_throw(options, out, err); });
}

void add_watch_command(CLI::App &app) {
  auto options = std::make_shared<watch_options>();
  auto *cmd = app.add_subcommand(
      "watch",
      "Follow a run live: latest step, sampling rate, top tensors with l2 sparklines, non-finite "
      "counts, latest alerts. Ends on Ctrl-C, or when the run's writer has exited");
  cmd->add_option("dir", options->run_dir, "Run directory (holds ttap.db)")->required();
  cmd->add_flag("--once", options->once, "Print one frame and exit");
  cmd->add_option("--interval", options->interval, "Seconds between refreshes (at least 1)")
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_option("--top", options->top, "Tensor rows per frame (default 12)")
      ->check(CLI::Range(1, 1000));
  cmd->callback([options] {
    options->terminal = ::isatty(STDOUT_FILENO) != 0;
    options->color = color_wanted(STDOUT_FILENO);
    const int status = run_watch(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
