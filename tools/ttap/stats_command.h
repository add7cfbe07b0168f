// `ttap stats FILE`: per-tensor summaries of a raw, .npy or .safetensors file, as a table or JSON.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ttap::cli {

struct stats_options {
  std::string file;
  std::string dtype;  // raw files: element type; empty = not given
  bool has_offset = false;
  uint64_t offset = 0;  // raw files: bytes to skip
  bool has_count = false;
  uint64_t count = 0;                // raw files: elements to read
  std::vector<std::string> tensors;  // names to keep; empty = all
  std::string format = "table";      // "table" or "json"
  std::string backend = "cpu";
  int threads = 0;  // 0 = every hardware thread
  bool fail_on_nonfinite = false;
  bool color = false;  // ANSI colors in the table
  // --where-nonfinite[=K]: also the first K NaN/Inf positions of each tensor (0: not asked).
  size_t where_nonfinite = 0;
};

// Exit statuses of the verb.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNonfinite = 1;  // --fail-on-nonfinite and some tensor has a NaN or Inf
inline constexpr int kExitUsage = 2;      // bad options, unreadable or malformed file

// Adds the `stats` subcommand. Its callback runs run_stats on stdout/stderr and reports a nonzero
// status by throwing CLI::RuntimeError(status), which main turns into the exit status.
void add_stats_command(CLI::App &app);

// Runs the verb: results to `out`, and on failure exactly one line to `err` naming the file and the
// problem. Returns one of the exit statuses above; never throws.
int run_stats(const stats_options &options, std::FILE *out, std::FILE *err);

}  // namespace ttap::cli
