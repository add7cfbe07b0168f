// The ttap command-line tool: one binary, one subcommand per verb (run, report, watch, ls, diff,
// export, sql, stats, bench, selftest, env). main only wires the verbs together and maps every parse error to
// one line on stderr and exit status 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "benchmarks/bench_command.h"
#include "tools/selftest/selftest_command.h"
#include "tools/ttap/diff_command.h"
#include "tools/ttap/env_command.h"
#include "tools/ttap/export_command.h"
#include "tools/ttap/ls_command.h"
#include "tools/ttap/report_command.h"
#include "tools/ttap/run_command.h"
#include "tools/ttap/sql_command.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/watch_command.h"

int main(int argc, char **argv) {
  CLI::App app{
      "ttap: tensortap's command-line tool (GPU-side telemetry for neural-network training)",
      "ttap"};
  app.set_version_flag("--version", std::string("ttap (tensortap) ") + TTAP_VERSION_STRING);
  app.require_subcommand(1);
  app.footer("Run 'ttap VERB --help' for the options of a verb.");
  ttap::cli::add_run_command(app);
  ttap::cli::add_report_command(app);
  ttap::cli::add_watch_command(app);
  ttap::cli::add_ls_command(app);
  ttap::cli::add_diff_command(app);
  ttap::cli::add_export_command(app);
  ttap::cli::add_sql_command(app);
  ttap::cli::add_stats_command(app);
  ttap::add_bench_command(app);
  ttap::selftest::add_selftest_command(app);
  ttap::cli::add_env_command(app);

  int kept_argc = argc;
  ttap::cli::set_run_command_tail(argc, argv, &kept_argc);
  try {
    app.parse(kept_argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError &e) {
    return e.get_exit_code();  // a verb already printed its message
  } catch (const CLI::ParseError &e) {
    // Name the verb whose options were wrong, so the hint points at the right help page.
    std::string who = "ttap";
    if (!app.get_subcommands().empty()) who += " " + app.get_subcommands().front()->get_name();
    std::fprintf(stderr, "%s: error: %s (see '%s --help')\n", who.c_str(), e.what(), who.c_str());
    return ttap::cli::kExitUsage;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "ttap: error: %s\n", e.what());
    return ttap::cli::kExitUsage;
  }
  return ttap::cli::kExitOk;
}
