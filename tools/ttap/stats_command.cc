// `ttap stats`: open the file (mapped, never read whole), select tensors, summarize all of them in
// one backend call, then print the table or JSON. Every failure becomes one message and status 2.
#include "tools/ttap/stats_command.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "runtime/text/printable.h"
#include "tools/formats/dtype_names.h"
#include "tools/formats/tensor_file.h"
#include "tools/ttap/backend.h"
#include "tools/ttap/nonfinite_positions.h"
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

  // A forensic dump's directory (RUN_DIR/dumps/step-S-rank-R) stands for its tensors file.
  std::string path = options.file;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    const std::string tensors = path + "/tensors.safetensors";
    if (!std::filesystem::exists(tensors, ec))
      return fail(err, path + ": a directory, and not a forensic dump (no tensors.safetensors)");
    path = tensors;
  }
  auto file = formats::tensor_file::open(path, open);
  if (!options.tensors.empty()) file.select(options.tensors);

  std::vector<tensor_view> views;
  uint64_t bytes = 0;
  for (const auto &t : file.tensors()) {
    views.push_back(t.view);
    bytes += t.view.numel * uint64_t(dtype_size(t.view.type));
  }

  install_sigbus_handler(path);
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

  // --where-nonfinite: the positions, read from the mapped data (only tensors that have any).
  std::vector<std::vector<nonfinite_position>> positions(views.size());
  if (options.where_nonfinite > 0) {
    for (size_t i = 0; i < views.size(); ++i)
      if (report.tensors[i].derived.nonfinite > 0)
        positions[i] = find_nonfinite(views[i], options.where_nonfinite);
  }
  if (options.format == "json") {
    nlohmann::ordered_json j = report_json(report);
    if (options.where_nonfinite > 0 && j.contains("tensors")) {
      for (size_t i = 0; i < views.size() && i < j["tensors"].size(); ++i) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const nonfinite_position &p : positions[i])
          list.push_back(
              {{"index", index_text(p.flat, report.tensors[i].shape)}, {"value", p.what}});
        j["tensors"][i]["nonfinite_positions"] = std::move(list);
      }
    }
    // Names come from the file: replace invalid UTF-8 rather than fail at the last step.
    std::string text = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fprintf(out, "%s\n", text.c_str());
  } else {
    std::fputs(report_table(report, options.color).c_str(), out);
    if (options.where_nonfinite > 0) {
      std::fprintf(out, "\nnon-finite positions (the first %zu of each tensor, row-major):\n",
                   options.where_nonfinite);
      bool any = false;
      for (size_t i = 0; i < views.size(); ++i) {
        if (positions[i].empty()) continue;
        any = true;
        const tensor_stats &t = report.tensors[i];
        std::string shape;
        for (uint64_t d : t.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
        std::fprintf(out, "  %s [%s]: %llu non-finite\n", text::printable(t.name).c_str(),
                     shape.c_str(), (unsigned long long)t.derived.nonfinite);
        for (const nonfinite_position &p : positions[i])
          std::fprintf(out, "    %s %s\n", index_text(p.flat, t.shape).c_str(), p.what);
      }
      if (!any) std::fprintf(out, "  none\n");
    }
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
  cmd->add_option("file", options->file,
                  "Tensor file (.safetensors, .npy, or raw with --dtype), or a forensic dump's "
                  "directory (RUN_DIR/dumps/step-S-rank-R)")
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
  cmd->add_flag("--where-nonfinite{10}", options->where_nonfinite,
                "Also print where the NaN/Inf values are: the first K of each tensor (default 10; "
                "--where-nonfinite=K) as indices of its shape")
      ->check(CLI::Range(size_t(1), size_t(1) << 30));
  cmd->callback([options, offset, count] {
    options->has_offset = offset->count() > 0;
    options->has_count = count->count() > 0;
    options->color = color_wanted(STDOUT_FILENO);
    int status = run_stats(*options, stdout, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
