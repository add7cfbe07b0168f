// `ttap stats`: open the file (mapped, never read whole), select tensors, summarize all of them in
// one backend call, then print the table or JSON. Every failure becomes one message and status 2.
#include "tools/ttap/stats_command.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <memory>

#include "runtime/text/printable.h"
#include "tools/formats/dtype_names.h"
#include "tools/formats/tensor_file.h"
#include "tools/ttap/backend.h"
#include "tools/ttap/stats_report.h"
#include "tools/ttap/terminal.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::cli {
namespace {

// The file being summarized, for the SIGBUS handler. A mapped file that shrinks underneath us (a
// checkpoint being rewritten) faults on access; that must read as an error, not a crash.
char g_sigbus_path[512];

void on_sigbus(int) {
  static const char kPrefix[] = "ttap stats: error: ";
  static const char kSuffix[] = ": file shrank or became unreadable while being read\n";
  // Only async-signal-safe calls here: write(2) and _exit(2).
  ssize_t ignored = ::write(STDERR_FILENO, kPrefix, sizeof kPrefix - 1);
  ignored = ::write(STDERR_FILENO, g_sigbus_path, std::strlen(g_sigbus_path));
  ignored = ::write(STDERR_FILENO, kSuffix, sizeof kSuffix - 1);
  (void)ignored;
  ::_exit(kExitUsage);
}

void install_sigbus_handler(const std::string &path) {
  std::snprintf(g_sigbus_path, sizeof g_sigbus_path, "%s", path.c_str());
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_sigbus;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

// CLI11 converts "-1" for an unsigned option by wrapping it to 2^64 - 1; refuse the sign instead.
const CLI::Validator kNotNegative(
    [](std::string &text) {
      return text.find('-') == std::string::npos ? std::string() : "must not be negative";
    },
    "", "not negative");

// One line whatever the message holds (verb_error escapes it).
int fail(std::FILE *err, const std::string &message) { return verb_error(err, "stats", message); }

int run_stats_or_throw(const stats_options &options, std::FILE *out, std::FILE *err) {
  // Option checks first, so a typo is reported before a large file is touched.
  formats::open_options open;
  if (!options.dtype.empty()) {
    open.raw_dtype = formats::parse_dtype_option(options.dtype);
    if (!open.raw_dtype) {
      return fail(err, "--dtype '" + formats::printable_name(options.dtype) + "' is not one of " +
                           formats::dtype_option_list());
    }
  }
  if (options.has_offset) open.raw_offset = options.offset;
  if (options.has_count) open.raw_count = options.count;
  const backend_fn backend = find_backend(options.backend);

  auto file = formats::tensor_file::open(options.file, open);
  if (!options.tensors.empty()) file.select(options.tensors);

  std::vector<tensor_view> views;
  uint64_t bytes = 0;
  for (const auto &t : file.tensors()) {
    views.push_back(t.view);
    bytes += t.view.numel * uint64_t(dtype_size(t.view.type));
  }

  install_sigbus_handler(options.file);
  const auto start = std::chrono::steady_clock::now();
  backend_result result = backend(views, backend_options{options.threads});
  const auto stop = std::chrono::steady_clock::now();

  stats_report report;
  report.file = options.file;
  report.format = std::string(formats::format_name(file.format()));
  report.file_size = file.file_size();
  report.backend = options.backend;
  report.isa = result.isa;
  report.threads = result.threads;
  report.launches = result.launches;
  report.elapsed_s = std::chrono::duration<double>(stop - start).count();
  report.bytes = bytes;
  report.skipped = file.skipped();
  bool any_nonfinite = false;
  for (size_t i = 0; i < views.size(); ++i) {
    const auto &entry = file.tensors()[i];
    tensor_stats t{entry.name, entry.view.type, entry.shape, result.summaries[i],
                   summary_finalize(result.summaries[i])};
    any_nonfinite |= t.derived.nonfinite > 0;
    report.tensors.push_back(std::move(t));
  }

  if (options.format == "json") {
    // Names come from the file: replace invalid UTF-8 rather than fail at the last step.
    std::string text =
        report_json(report).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fprintf(out, "%s\n", text.c_str());
  } else {
    std::fputs(report_table(report, options.color).c_str(), out);
  }
  std::fflush(out);
  return options.fail_on_nonfinite && any_nonfinite ? kExitNonfinite : kExitOk;
}

}  // namespace

int run_stats(const stats_options &options, std::FILE *out, std::FILE *err) {
  return run_verb(err, "stats", options.file,
                  [&] { return run_stats_or_throw(options, out, err); });
}

void add_stats_command(CLI::App &app) {
  auto options = std::make_shared<stats_options>();
  auto *cmd = app.add_subcommand(
      "stats",
      "Summarize every tensor of a .safetensors, .npy or raw file: ranges, norms, NaN/Inf, "
      "exponent histogram, fp8 readiness");
  cmd->add_option("file", options->file, "Tensor file (.safetensors, .npy, or raw with --dtype)")
      ->required();
  cmd->add_option("--dtype", options->dtype,
                  "Element type of a raw file: " + formats::dtype_option_list());
  auto *offset = cmd->add_option("--offset", options->offset, "Raw files: bytes to skip first")
                     ->check(kNotNegative);
  auto *count = cmd->add_option("--count", options->count,
                                "Raw files: elements to read (default: all after --offset)")
                    ->check(kNotNegative);
  // One name per --tensor, so `--tensor a FILE` does not swallow FILE as a second name.
  cmd->add_option("--tensor", options->tensors, "Only this tensor (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--format", options->format, "Output: table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->add_option("--backend", options->backend, "Executor: cpu (default), emulated, cuda");
  cmd->add_option("--threads", options->threads, "CPU threads (default: all hardware threads)")
      ->check(CLI::Range(0, 4096));
  cmd->add_flag("--fail-on-nonfinite", options->fail_on_nonfinite,
                "Exit with status 1 when any tensor holds a NaN or Inf");
  cmd->callback([options, offset, count] {
    options->has_offset = offset->count() > 0;
    options->has_count = count->count() > 0;
    options->color = color_wanted(STDOUT_FILENO);
    int status = run_stats(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
