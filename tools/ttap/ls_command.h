// `ttap ls [DIR...]`: every run directory under the given directories, one line each (state,
// ranks, last step, samples, alerts, duration, overhead), oldest first; or the same as JSON.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ttap::cli {

struct ls_options {
  std::vector<std::string> dirs;  // empty: "."
  std::string format = "text";    // "text" or "json"
};

// Adds the `ls` subcommand; a nonzero status is reported by throwing CLI::RuntimeError.
void add_ls_command(CLI::App &app);

// Runs the verb: the listing to `out`. Returns 0 (a run whose store cannot be read is listed as
// "unreadable", with the reason on `err`), or 2 with one line on `err` when a directory given is
// missing or not a directory. Never throws.
int run_ls(const ls_options &options, std::FILE *out, std::FILE *err);

}  // namespace ttap::cli
