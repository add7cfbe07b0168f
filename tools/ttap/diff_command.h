// `ttap diff RUN_A RUN_B`: whether two runs are identical, equal within a tolerance or where they
// first part, as text, JSON or an HTML page; the exit status makes it a CI gate.
#pragma once

#include <cstdio>
#include <string>

namespace CLI {
class App;
}

namespace ttap::cli {

inline constexpr int kExitDiffer = 1;  // ttap diff: the runs differ beyond the tolerance

struct diff_options {
  std::string run_a, run_b;
  std::string format = "text";  // "text", "json" or "html"
  std::string output;           // file to write; "" = stdout (text, json) or ./ttap-diff.html
  double rtol = 1e-6, atol = 0;
  bool color = false;
};

// Adds the `diff` subcommand; a nonzero status is reported by throwing CLI::RuntimeError.
void add_diff_command(CLI::App &app);

// Runs the verb. Returns 0 when the runs are equal within the tolerance (identical or not), 1 when
// they differ, 2 with one line on `err` on every error (a directory that is not a run, a corrupt
// store, the same run twice, a bad tolerance, an unwritable output). Never throws.
int run_diff(const diff_options &options, std::FILE *out, std::FILE *err);

}  // namespace ttap::cli
