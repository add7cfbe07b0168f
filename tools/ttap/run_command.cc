// `ttap run [options] -- CMD ARGS...`: runs a training command with tensortap set up for it (the
// TTAP_* environment the C API and the Python binding read), follows the run's store for a live
// status line and the Prometheus endpoint, forwards signals, and ends with a summary and the
// child's exit status.
#include "tools/ttap/run_command.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/config.h"
#include "runtime/response/response_policy.h"
#include "runtime/store/sqlite_db.h"
#include "runtime/store/store_files.h"
#include "runtime/text/printable.h"
#include "tools/run/child_process.h"
#include "tools/run/metrics_exporter.h"
#include "tools/run/run_monitor.h"
#include "tools/ttap/stats_command.h"

namespace ttap::cli {
namespace {

struct run_args {
  std::string out_dir;
  bool force = false;
  // Session knobs given on the command line (name, value text), passed on as TTAP_* variables.
  std::vector<std::pair<const knob *, std::string>> knobs;
  std::string prometheus;
  double prometheus_linger = 0;
  std::string prometheus_sd_dir;
  bool no_hooks = false;
  std::vector<std::string> command;
};

namespace fs = std::filesystem;

// A CLI11 check of a knob's value by the registry (the message names the knob and its range).
CLI::Validator knob_validator(const knob &k) {
  return CLI::Validator(
      [&k](std::string &value) -> std::string {
        knob_value v;
        std::string error;
        return parse_knob(k, value, &v, &error) ? "" : error;
      },
      knob_range(k));
}

// The rank and world this `ttap run` was started with (torchrun / mpirun set them per process).
int32_t launcher_rank() {
  for (const char *name : {"OMPI_COMM_WORLD_RANK", "RANK"}) {
    if (auto v = env_value(name)) return int32_t(std::atoi(v->c_str()));
  }
  return 0;
}

int32_t launcher_world() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "WORLD_SIZE"}) {
    if (auto v = env_value(name)) return int32_t(std::atoi(v->c_str()));
  }
  return 1;
}

// ttap-run-1, ttap-run-2, ...: the first that does not exist yet.
std::string next_run_dir() {
  for (int i = 1;; ++i) {
    std::string dir = "ttap-run-" + std::to_string(i);
    std::error_code ec;
    if (!fs::exists(dir, ec)) return dir;
  }
}

// Adds the hook variables to the command's environment. LD_PRELOAD is prepended to any value the
// user has; the CUDA and NVTX injection paths take one library each, so one another tool already
// set is left alone (that tool keeps its hook, tensortap goes without that one).
void add_hook_environment(std::vector<std::string> &env, bool leader) {
  const std::string lib = inject_library_path();
  if (lib.empty()) {
    if (leader)
      std::fprintf(stderr,
                   "ttap: hooks off: libttap_inject.so is not in the lib directory next to ttap's "
                   "bin directory\n");
    return;
  }
  std::string preload = lib;
  if (auto old = env_value("LD_PRELOAD")) {
    if (old->find(lib) != std::string::npos)
      preload = *old;
    else
      preload += ":" + *old;
  }
  env.push_back("LD_PRELOAD=" + preload);
  for (const char *name : {"CUDA_INJECTION64_PATH", "NVTX_INJECTION64_PATH"}) {
    auto old = env_value(name);
    if (!old)
      env.push_back(std::string(name) + "=" + lib);
    else if (*old != lib && leader)
      std::fprintf(stderr, "ttap: %s is already set (%s): that hook is left to it\n", name,
                   old->c_str());
  }
}

std::string human_duration(double s) {
  char buf[32];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  return buf;
}

std::string status_line(const run_snapshot &s, double elapsed) {
  char buf[256];
  if (!s.store_present) {
    std::snprintf(buf, sizeof buf, "ttap: %s, waiting for the first sample",
                  human_duration(elapsed).c_str());
    return buf;
  }
  std::snprintf(buf, sizeof buf,
                "ttap: step %lld | %llu samples | %llu alerts%s | %llu skipped, %llu dropped | %s",
                (long long)s.latest_step, (unsigned long long)s.samples_taken,
                (unsigned long long)s.alerts_total,
                s.alerts_by_type.count("nonfinite") ? " (non-finite!)" : "",
                (unsigned long long)s.samples_skipped, (unsigned long long)s.records_dropped,
                human_duration(elapsed).c_str());
  return buf;
}

using text::printable;

// For each store file of `dir` without a live writer (its writer lock is taken meanwhile, so none
// starts): the WAL its writer could not fold into it at close (a reader, this command's monitor,
// was inside a read then) is checkpointed (TRUNCATE) and, on this last connection's close,
// removed, so the database file alone holds the run. False with *error naming the file when a
// WAL could not be folded (it stays; readers read it).
bool fold_finished_wal_files(const std::string &dir, std::string *error) {
  std::vector<store_file> files;
  if (!list_store_files(dir, &files, error)) return false;
  for (const store_file &f : files) {
    struct stat st;
    if (::stat((f.path + "-wal").c_str(), &st) != 0) continue;  // nothing to fold
    writer_lock lock;
    bool busy = false;
    std::string lock_error;
    if (!lock.try_lock(f.path, &busy, &lock_error)) continue;  // a live writer folds at its close
    sqlite3 *raw = nullptr;
    int rc = sqlite3_open_v2(f.path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    sqlite::db_handle db(raw);
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db.get(), 2000);
      sqlite::statement st;
      rc = sqlite::prepare(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)", &st)
               ? SQLITE_OK
               : sqlite3_errcode(db.get());
      // The pragma answers (busy, frames, checkpointed): busy 1 when a reader kept it from ending.
      if (rc == SQLITE_OK && sqlite3_step(st.get()) == SQLITE_ROW &&
          sqlite3_column_int(st.get(), 0) != 0)
        rc = SQLITE_BUSY;
      else if (rc == SQLITE_OK)
        rc = sqlite3_errcode(db.get()) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(db.get());
    }
    const std::string why = sqlite3_errstr(rc);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
      *error = f.path + ": cannot fold its WAL into it: " + why;
      return false;
    }
  }
  return true;
}

// The text a session knob will have in the command: the last flag that sets it, else the
// environment ttap run passes on, else "" (the knob's default).
std::string knob_text_for_command(const run_args &args, const knob &k) {
  std::string value = env_value(k.env).value_or("");
  for (const auto &[set, v] : args.knobs)
    if (set == &k) value = v;
  return value;
}

// Whether the command's sessions keep a store: with store=off they write none, so the status line,
// the summary, the metrics and `ttap report` have nothing to read. A value the registry refuses
// counts as on: the session refuses it too.
bool keeps_store(const run_args &args) {
  const knob &k = *find_knob("store");
  const std::string value = knob_text_for_command(args, k);
  knob_value parsed;
  std::string ignored;
  return value.empty() || !parse_knob(k, value, &parsed, &ignored) || parsed.integer == 0;
}

// The end of a run with store=off, in place of the summary: says that nothing was kept in `dir`
// (no "wrote DIR") and where the samples went instead, if anywhere.
void print_no_store(const std::string &dir, const std::string &jsonl) {
  std::fprintf(stderr,
               "ttap: store=off: no store was kept, so there is no summary (and no run in %s for "
               "`ttap report`)\n",
               dir.c_str());
  if (!jsonl.empty())
    std::fprintf(stderr, "ttap: samples and alerts were streamed to %s\n", jsonl.c_str());
}

// The end-of-run summary: alerts first, the tensors whose norms moved most, tensortap's cost.
// Names, types and messages come from the trainer's store: printed escaped.
void print_summary(const run_snapshot &s, const std::string &dir) {
  if (!s.store_present) {
    std::fprintf(stderr,
                 "ttap: no samples were stored (the command never opened a tensortap session)\n");
    std::fprintf(stderr, "wrote %s\n", dir.c_str());
    return;
  }
  if (s.alerts_total == 0) {
    std::fprintf(stderr, "ttap: no alerts\n");
  } else {
    std::string by_type;
    for (const auto &[type, n] : s.alerts_by_type)
      by_type += (by_type.empty() ? "" : ", ") + std::to_string(n) + " " + printable(type);
    std::fprintf(stderr, "ttap: %llu alerts (%s)\n", (unsigned long long)s.alerts_total,
                 by_type.c_str());
    if (s.first_nonfinite.step >= 0) {
      std::fprintf(stderr, "  first non-finite: step %lld: %s\n", (long long)s.first_nonfinite.step,
                   printable(s.first_nonfinite.message).c_str());
    }
    size_t shown = 0;
    for (const auto &a : s.first_alerts) {
      if (a.file == s.first_nonfinite.file && a.rowid == s.first_nonfinite.rowid &&
          s.first_nonfinite.step >= 0)
        continue;
      if (++shown > 4) break;
      std::fprintf(stderr, "  step %lld: %s\n", (long long)a.step, printable(a.message).c_str());
    }
  }
  if (s.actions_total > 0) {
    std::string by_kind;
    for (const auto &[kind, n] : s.actions_by_kind)
      by_kind += (by_kind.empty() ? "" : ", ") + std::to_string(n) + " " + printable(kind);
    std::fprintf(stderr, "ttap: %llu actions (%s)\n", (unsigned long long)s.actions_total,
                 by_kind.c_str());
    for (const std::string &d : s.dump_details)
      std::fprintf(stderr, "  dump: %s\n", printable(d).c_str());
  }
  // Norm movement: |log(last / first)|, largest first.
  std::vector<const monitored_tensor *> moved;
  for (const auto &t : s.tensors) {
    if (t.samples >= 2 && t.first_l2 > 0 && t.last_l2 > 0 && std::isfinite(t.last_l2))
      moved.push_back(&t);
  }
  std::sort(moved.begin(), moved.end(), [](const monitored_tensor *a, const monitored_tensor *b) {
    return std::fabs(std::log(a->last_l2 / a->first_l2)) >
           std::fabs(std::log(b->last_l2 / b->first_l2));
  });
  if (!moved.empty()) {
    std::fprintf(stderr, "ttap: norms that moved most (l2 first -> last sample):\n");
    for (size_t i = 0; i < moved.size() && i < 5; ++i) {
      const monitored_tensor &t = *moved[i];
      std::fprintf(stderr, "  %-40s %10.4g -> %-10.4g (x%.3g, steps %lld..%lld)\n",
                   printable(t.name).c_str(), t.first_l2, t.last_l2, t.last_l2 / t.first_l2,
                   (long long)t.first_step, (long long)t.last_step);
    }
  }
  // Step time is known only when the program marks steps (ttap_step); without it, no share.
  // The budget counts host and device time together.
  char share[64] = "no step time recorded";
  if (s.step_seconds > 0) {
    std::snprintf(share, sizeof share, "%.2f%% of step time",
                  100.0 * (s.overhead_seconds + s.device_seconds) / s.step_seconds);
  }
  if (s.records_lost > 0) {
    std::fprintf(stderr,
                 "ttap: %llu records could not be stored (the store failed; `ttap report %s` "
                 "says where)\n",
                 (unsigned long long)s.records_lost, dir.c_str());
  }
  std::fprintf(stderr,
               "ttap: %llu samples of %zu tensors; overhead %.3f s host + %.3f s device (%s); "
               "%llu skipped, %llu dropped\n",
               (unsigned long long)s.samples_taken, s.tensors.size(), s.overhead_seconds,
               s.device_seconds, share, (unsigned long long)s.samples_skipped,
               (unsigned long long)s.records_dropped);
  std::fprintf(stderr, "wrote %s\n", dir.c_str());
}

// The end of a run for Prometheus: the final values stay up for `linger` seconds (so a scrape
// sees them; a signal ends the wait, and a signal that already stopped the command skips it: a
// SIGTERM from a scheduler asks for a prompt exit), then the target file lists no target, so
// Prometheus stops scraping and marks the run's series stale instead of keeping its last values
// forever.
// The file_sd target files of a run: RUN_DIR/prometheus-targets.json, and with --prometheus-sd-dir
// one file per run in that shared directory (Prometheus globs file names only, not directories:
// `files: [/shared/sd/*.json]`), named so that runs of several hosts never collide.
std::vector<std::string> target_files(const run_args &args, const std::string &dir) {
  std::vector<std::string> files{dir + "/prometheus-targets.json"};
  if (!args.prometheus_sd_dir.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "?");
    files.push_back(args.prometheus_sd_dir + "/" + run_name(dir) + "-" + host + "-" +
                    std::to_string(getpid()) + ".json");
  }
  return files;
}

void end_prometheus_target(metrics_exporter &exporter, const run_args &args, const std::string &dir,
                           bool stopped_by_signal) {
  const double linger = stopped_by_signal ? 0 : args.prometheus_linger;
  if (linger > 0) {
    std::fprintf(stderr, "ttap: serving the final metrics at http://%s/metrics for %.0f s more\n",
                 exporter.address().c_str(), linger);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(linger);
    while (std::chrono::steady_clock::now() < until && !take_pending_signal())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::vector<std::string> files = target_files(args, dir);
  std::string error;
  if (!write_prometheus_targets(files[0], dir, "", &error))
    std::fprintf(stderr, "ttap: %s: Prometheus will report the run as down, not ended\n",
                 error.c_str());
  // The shared directory keeps live runs only.
  std::error_code ec;
  for (size_t i = 1; i < files.size(); ++i) std::filesystem::remove(files[i], ec);
}

int run(const run_args &args) {
  if (args.command.empty()) {
    std::fprintf(stderr,
                 "ttap run: error: no command to run (usage: ttap run [OPTIONS] -- CMD ARGS...)\n");
    return kExitUsage;
  }
  const int32_t rank = launcher_rank(), world = launcher_world();
  const bool leader = rank == 0;
  const bool store_kept = keeps_store(args);
  const std::string jsonl = knob_text_for_command(args, *find_knob("jsonl"));
  if (!store_kept && !args.prometheus.empty()) {
    std::fprintf(stderr,
                 "ttap run: error: --prometheus serves what the run's store holds, and store=off "
                 "keeps none\n");
    return kExitUsage;
  }
  std::string dir = args.out_dir;
  std::error_code ec;
  if (dir.empty()) {
    if (world > 1) {
      std::fprintf(stderr,
                   "ttap run: error: under a multi-rank launcher every rank needs the same "
                   "directory: pass -o DIR\n");
      return kExitUsage;
    }
    dir = next_run_dir();
  } else if (world == 1 && fs::exists(dir, ec)) {
    // Ranks of one job share the directory, so only a single-process run guards it.
    if (!args.force) {
      std::fprintf(stderr,
                   "ttap run: error: %s already exists (pass --force to replace its store)\n",
                   dir.c_str());
      return kExitUsage;
    }
    // Every writer's file (ttap.db, ttap.rank-R.db, with their WAL, shared-memory and lock files).
    std::string error;
    if (!remove_store_files(dir, &error)) {
      std::fprintf(stderr, "ttap run: error: --force: %s\n", error.c_str());
      return kExitUsage;
    }
  }
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "ttap run: error: cannot create %s: %s\n", dir.c_str(),
                 ec.message().c_str());
    return kExitUsage;
  }

  std::vector<std::string> env{"TTAP_RUN_DIR=" + dir};
  for (const auto &[k, value] : args.knobs) env.push_back(std::string(k->env) + "=" + value);
  if (!args.no_hooks) add_hook_environment(env, leader);

  std::unique_ptr<metrics_exporter> exporter;
  if (!args.prometheus.empty() && leader) {
    std::string error;
    exporter = metrics_exporter::start(args.prometheus, run_name(dir), &error);
    if (!exporter) {
      std::fprintf(stderr, "ttap run: error: %s\n", error.c_str());
      return kExitUsage;
    }
    // A cluster's Prometheus finds live runs through these files (file_sd); without them the
    // endpoint still serves.
    for (const std::string &file : target_files(args, dir)) {
      if (!write_prometheus_targets(file, dir, exporter->target(), &error))
        std::fprintf(stderr, "ttap: %s: Prometheus cannot discover this run there\n",
                     error.c_str());
    }
  }

  std::string cmdline;
  for (const auto &a : args.command) cmdline += (cmdline.empty() ? "" : " ") + a;
  if (leader) {
    // A skip or dump policy samples every step: the banner says so, as it changes the cost.
    for (const char *name : {"on_nonfinite", "on_spike"}) {
      const knob *k = find_knob(name);
      const std::string value = knob_text_for_command(args, *k);
      knob_value parsed;
      std::string ignored;
      if (!value.empty() && parse_knob(*k, value, &parsed, &ignored) &&
          response_policy_of_bits(parsed.integer).acts_at_verdict())
        std::fprintf(stderr,
                     "ttap: %s=%s: the watched tensors are sampled at every step, whatever "
                     "--every and --budget say (a verdict can only judge a step it saw)\n",
                     name, value.c_str());
    }
    if (store_kept) {
      std::fprintf(stderr,
                   "ttap: running `%s`: tensors it watches (C API, Python binding) are sampled "
                   "into %s/ttap.db%s%s; "
                   "Ctrl-C stops it and finalizes\n",
                   cmdline.c_str(), dir.c_str(), exporter ? ", metrics on http://" : "",
                   exporter ? (exporter->address() + "/metrics").c_str() : "");
    } else {
      std::fprintf(stderr,
                   "ttap: running `%s` with store=off: tensors it watches are sampled, but no "
                   "store is kept in %s (no live status and no summary; alerts still go to "
                   "stderr%s%s); Ctrl-C stops it\n",
                   cmdline.c_str(), dir.c_str(), jsonl.empty() ? "" : ", samples and alerts to ",
                   jsonl.c_str());
    }
  }

  install_forwarding_handlers();
  child_process child;
  std::string error;
  int exit_code = 0;
  if (!child.start(args.command, env, &error, &exit_code)) {
    std::fprintf(stderr, "ttap run: error: %s\n", error.c_str());
    return exit_code;
  }

  const bool live = leader && isatty(2) && store_kept;
  run_monitor monitor(dir);
  auto t0 = std::chrono::steady_clock::now();
  bool status_shown = false;
  bool monitor_failed = false;
  bool stopped_by_signal = false;
  for (;;) {
    bool done = child.wait_for(1000);
    if (int sig = take_pending_signal()) {
      stopped_by_signal = true;
      // Ctrl-C reaches the child through the terminal already; other signals are passed on.
      if (sig != SIGINT) child.signal(sig);
    }
    if (!monitor_failed && !monitor.poll()) {
      monitor_failed = true;
      if (leader)
        std::fprintf(stderr, "%sttap: cannot follow the store: %s\n",
                     status_shown ? "\r\x1b[K" : "", printable(monitor.error()).c_str());
    }
    if (exporter) exporter->update(monitor.snapshot());
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (live && !done) {
      std::fprintf(stderr, "\r\x1b[K%s", status_line(monitor.snapshot(), elapsed).c_str());
      std::fflush(stderr);
      status_shown = true;
    }
    if (done) break;
  }
  if (status_shown) std::fprintf(stderr, "\r\x1b[K");
  monitor.poll();
  monitor.close();
  // A writer cannot fold its WAL into the database at close while this monitor is inside a read
  // (a 60 MB WAL was left after a 10,000-tensor run): once the writers are gone, it is done here.
  // Every rank's launcher folds every finished file, so the line names the rank that says it.
  std::string fold_error;
  if (!fold_finished_wal_files(dir, &fold_error))
    std::fprintf(stderr, "%s: warning: %s (the run reads from the database and its -wal file)\n",
                 rank > 0 ? ("ttap[rank " + std::to_string(rank) + "]").c_str() : "ttap",
                 printable(fold_error).c_str());
  if (exporter) exporter->update(monitor.snapshot());
  if (leader) {
    if (child.exit_code() != 0)
      std::fprintf(stderr, "ttap: `%s` exited with status %d\n", cmdline.c_str(),
                   child.exit_code());
    if (store_kept)
      print_summary(monitor.snapshot(), dir);
    else
      print_no_store(dir, jsonl);
  }
  if (exporter) end_prometheus_target(*exporter, args, dir, stopped_by_signal);
  return child.exit_code();
}

std::vector<std::string> g_command_tail;  // CMD and its arguments, from after `--`
bool g_have_tail = false;

}  // namespace

// Hooks: libttap_inject (collectors/inject/) is preloaded into the command so that programs not
// written for tensortap are seen through their MPI/NCCL collectives, NVTX ranges and CUDA kernels.
// It lives in <dir of ttap>/../lib, both in the build tree and installed.
std::string inject_library_path() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  fs::path lib = exe.parent_path().parent_path() / "lib" / "libttap_inject.so";
  return fs::exists(lib, ec) ? lib.string() : "";
}

void set_run_command_tail(int argc, char **argv, int *kept_argc) {
  *kept_argc = argc;
  if (argc < 2 || std::string(argv[1]) != "run") return;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) != "--") continue;
    g_command_tail.assign(argv + i + 1, argv + argc);
    g_have_tail = true;
    *kept_argc = i;
    return;
  }
}

void add_run_command(CLI::App &app) {
  auto args = std::make_shared<run_args>();
  auto *cmd = app.add_subcommand(
      "run", "Run a training command under tensortap: ttap run [OPTIONS] -- CMD ARGS...");
  cmd->add_option("-o,--output", args->out_dir,
                  "Run directory (default: ttap-run-1, ttap-run-2, ...)");
  cmd->add_flag("--force", args->force, "Replace the store of an existing run directory");
  // Flags for the most used knobs, and --set for any session knob; each checked by the registry.
  for (const char *name : {"every", "budget", "on_nonfinite", "on_spike", "alert_webhook"}) {
    const knob *k = find_knob(name);
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    cmd->add_option_function<std::string>(
           flag, [args, k](const std::string &v) { args->knobs.emplace_back(k, v); },
           std::string(k->meaning) + " (" + k->env + ")")
        ->check(knob_validator(*k));
  }
  cmd->add_option_function<std::vector<std::string>>(
         "--set",
         [args](const std::vector<std::string> &items) {
           for (const std::string &item : items) {
             const size_t eq = item.find('=');
             args->knobs.emplace_back(find_knob(item.substr(0, eq)), item.substr(eq + 1));
           }
         },
         "KEY=VALUE: set any session knob (`ttap env` lists them), e.g. --set spike_threshold=6")
      ->check(CLI::Validator(
          [](std::string &item) -> std::string {
            const size_t eq = item.find('=');
            const knob *k = eq == std::string::npos ? nullptr : find_knob(item.substr(0, eq));
            if (!k || k->scope != knob_scope::session)
              return "'" + item + "' is not KEY=VALUE of a session knob (see `ttap env`)";
            knob_value v;
            std::string error;
            return parse_knob(*k, item.substr(eq + 1), &v, &error) ? "" : error;
          },
          "KEY=VALUE"));
  cmd->add_option("--prometheus", args->prometheus,
                  "Serve live metrics at HOST:PORT, :PORT or PORT (loopback by default)");
  cmd->add_option("--prometheus-linger", args->prometheus_linger,
                  "Seconds to keep serving the final metrics after CMD ends (default 0), so that "
                  "a scrape sees them; then the run's series go stale")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--prometheus-sd-dir", args->prometheus_sd_dir,
                  "Also list this run's endpoint in DIR/RUN-HOST-PID.json while it is live (a "
                  "shared directory a Prometheus file_sd globs: DIR/*.json)")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--no-hooks", args->no_hooks,
                "Do not preload libttap_inject (MPI/NCCL interposers, NVTX and CUPTI injection)");
  // Everything from the first positional (or after --) on is CMD and its arguments, untouched.
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->footer(
      "CMD and its arguments follow the options, best after --: ttap run -o my-run -- python "
      "train.py --lr 3e-4");
  cmd->callback([args, cmd] {
    std::vector<std::string> rest = cmd->remaining();
    if (g_have_tail) {
      // `ttap run CMD a -- b`: the -- was CMD's own argument.
      if (!rest.empty()) rest.push_back("--");
      rest.insert(rest.end(), g_command_tail.begin(), g_command_tail.end());
    }
    args->command = rest;
    int rc = run(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ttap::cli
