// `ttap export`: checks that exactly one output was asked for, opens the run read-only and hands it
// to the format writers in tools/export/; every failure becomes one line on stderr and status 2.
#include "tools/ttap/export_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <new>

#include "runtime/store/run_reader.h"
#include "runtime/text/printable.h"
#include "tools/export/run_export.h"
#include "tools/ttap/stats_command.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::cli {
namespace {

// One line whatever the message holds (verb_error escapes it).
int fail(std::FILE *err, const std::string &message) { return verb_error(err, "export", message); }

constexpr const char *kFooter = R"(Formats:
  --tensorboard OUTDIR  TensorBoard event files: OUTDIR/events.out.tfevents.<start>.<host> for a
                        one-rank run, OUTDIR/rank<R>/events... (one TensorBoard run per rank) for a
                        multi-rank one; exporting again replaces them. Open with
                        `tensorboard --logdir OUTDIR`. Tags, per tensor T: T/l2, T/abs_max, T/mean,
                        T/std (the last three only when the sample has a finite value),
                        T/nonfinite (NaN + Inf count), T/exp_hist; logged scalars as scalars/NAME;
                        alerts as text under "alerts". T/exp_hist is a histogram of log2|x|: the bar
                        from e to e+1 counts the finite nonzero values with 2^e <= |x| < 2^(e+1)
                        (zeros and NaN/Inf are not in it; everything below 2^-126 is in -127..-126).
                        Scalars are 32-bit floats in TensorBoard.
  --csv FILE            One row per sample with a header row: rank, step, time, tensor, kind, dtype,
                        count, nan, pos_inf, neg_inf, zero, subnormal, min, max, abs_max, sum,
                        sum_sq, sum_abs, l2, mean, std (the store's samples_v; empty cell = NULL).
  --jsonl FILE          One JSON object per line, each with "record": "sample" (the CSV's fields,
                        plus "exp_hist": exponent -> count of the nonzero bins), then "scalar"
                        (rank, step, time, name, value) and "alert" (rank, step, time, tensor, type,
                        message) lines; null for missing values and for NaN/Inf, which JSON cannot
                        spell (a NaN loss is a null value).
FILE may be "-" for stdout. Files are written to a temporary name and renamed when complete.
Exit status: 0 written; 2 usage error, missing or unreadable run, or unwritable output.)";

}  // namespace

int run_export(const export_options &options, std::FILE *err) {
  const int outputs = int(options.has_tensorboard) + int(options.has_csv) + int(options.has_jsonl);
  if (outputs != 1) {
    return fail(err, std::string(outputs == 0 ? "no output given" : "more than one output given") +
                         ": use exactly one of --tensorboard OUTDIR, --csv FILE, --jsonl FILE "
                         "(see 'ttap export --help')");
  }
  exports::export_format format = exports::export_format::tensorboard;
  std::string path = options.tensorboard, what = "--tensorboard";
  if (options.has_csv) {
    format = exports::export_format::csv;
    path = options.csv;
    what = "--csv";
  } else if (options.has_jsonl) {
    format = exports::export_format::jsonl;
    path = options.jsonl;
    what = "--jsonl";
  }
  if (path.empty()) return fail(err, what + " needs a non-empty path");
  if (format == exports::export_format::tensorboard && path == "-")
    return fail(err, "--tensorboard needs a directory, not stdout");

  return run_verb(err, "export", options.run_dir, [&] {
    std::string error;
    auto run = run_reader::open(options.run_dir, &error);
    if (!run) return fail(err, error);
    exports::export_progress progress(options.progress ? err : nullptr);
    const bool ok = exports::export_run(*run, format, path, &progress, &error);
    progress.finish();
    if (!ok) return fail(err, error);
    if (format == exports::export_format::csv) {
      std::fprintf(err, "wrote %llu samples to %s\n",
                   static_cast<unsigned long long>(progress.samples()), path.c_str());
    } else {
      std::fprintf(err, "wrote %llu samples, %llu scalars, %llu alerts to %s\n",
                   static_cast<unsigned long long>(progress.samples()),
                   static_cast<unsigned long long>(progress.scalars()),
                   static_cast<unsigned long long>(progress.alerts()), path.c_str());
    }
    return kExitOk;
  });
}

void add_export_command(CLI::App &app) {
  auto options = std::make_shared<export_options>();
  auto *cmd = app.add_subcommand(
      "export",
      "Write a run's samples, scalars and alerts as TensorBoard event files, CSV or JSONL");
  cmd->add_option("dir", options->run_dir, "Run directory (holding ttap.db)")->required();
  auto *tensorboard = cmd->add_option("--tensorboard", options->tensorboard,
                                      "Write TensorBoard event files into OUTDIR (created)");
  auto *csv = cmd->add_option("--csv", options->csv, "Write one CSV row per sample to FILE");
  auto *jsonl = cmd->add_option("--jsonl", options->jsonl,
                                "Write one JSON object per sample, scalar and alert to FILE");
  tensorboard->type_name("OUTDIR");
  csv->type_name("FILE");
  jsonl->type_name("FILE");
  cmd->footer(kFooter);
  cmd->callback([options, tensorboard, csv, jsonl] {
    options->has_tensorboard = tensorboard->count() > 0;
    options->has_csv = csv->count() > 0;
    options->has_jsonl = jsonl->count() > 0;
    options->progress = ::isatty(STDERR_FILENO) != 0;
    int status = run_export(*options, stderr);
    if (status != kExitOk) throw CLI::RuntimeError(status);
  });
}

}  // namespace ttap::cli
