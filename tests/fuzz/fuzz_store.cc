// libFuzzer harness: a mutated ttap.db read the way every reader verb reads it: the run reader's
// open checks and every query, the report's digest and its JSON and HTML pages (axes over any
// values and steps), and the CSV, JSONL and TensorBoard exporters. Every outcome must be a result
// or a one-line error; a crash, a sanitizer report or a hang (libFuzzer -timeout) is a defect.
// Run through scripts/run-fuzz.sh.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runtime/store/run_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/export/run_export.h"
#include "tools/report/report_html.h"
#include "tools/report/report_json.h"
#include "tools/report/run_digest.h"

namespace {

// A run's error messages are printed as one line each by the verbs; they must at least exist.
void expect_message(const std::string &error) {
  if (error.empty()) std::abort();
}

// Every query of the reader (the store's per-file status, the cursor reads in batches as a live run
// is followed, the lookups of ttap ls and the values of ttap diff); returns the first tensor's name
// (for the histogram view), or "".
std::string read_everything(ttap::run_reader &run) {
  std::vector<ttap::run_session_info> sessions;
  std::vector<ttap::run_counters_row> counters;
  std::vector<ttap::tensor_row> tensors;
  std::vector<ttap::sample_row> samples;
  std::vector<ttap::alert_row> alerts;
  std::vector<ttap::scalar_row> scalars;
  std::vector<ttap::rank_total_row> ranks;
  std::vector<ttap::sample_values_row> values;
  std::vector<ttap::rank_part_row> parts;
  int64_t latest = 0;
  uint64_t alert_count = 0;
  std::optional<ttap::alert_row> first_alert;
  for (const ttap::store_file_status &f : run.files()) (void)f.problem.size();
  (void)run.live();
  if (!run.refresh()) expect_message(run.last_error());
  if (!run.sessions(&sessions)) expect_message(run.last_error());
  if (!run.counters(&counters)) expect_message(run.last_error());
  if (!run.tensors(&tensors)) expect_message(run.last_error());
  ttap::read_cursor sample_cursor;  // in batches of 1000, as a large or live run is read
  for (int batch = 0; batch < 16; ++batch) {
    samples.clear();
    if (!run.samples(&sample_cursor, true, &samples, 1000)) {
      expect_message(run.last_error());
      break;
    }
    if (samples.empty()) break;
  }
  if (!run.samples(nullptr, false, &samples)) expect_message(run.last_error());
  if (!tensors.empty() && !run.samples_of(tensors.front().name, true, &samples))
    expect_message(run.last_error());
  ttap::read_cursor alert_cursor;
  if (!run.alerts(&alert_cursor, &alerts)) expect_message(run.last_error());
  if (!run.alerts(&alert_cursor, &alerts)) expect_message(run.last_error());  // nothing new
  if (!run.scalars("", &scalars)) expect_message(run.last_error());
  if (!run.latest_step(&latest)) expect_message(run.last_error());
  if (!run.rank_totals(&ranks)) expect_message(run.last_error());
  ttap::read_cursor values_cursor;
  for (int batch = 0; batch < 16; ++batch) {
    values.clear();
    if (!run.sample_values(&values_cursor, 1000, &values)) {
      expect_message(run.last_error());
      break;
    }
    if (values.empty()) break;
  }
  if (!run.rank_parts(&parts)) expect_message(run.last_error());
  if (!run.alert_count(&alert_count)) expect_message(run.last_error());
  if (!run.first_alert_of_type("nonfinite", &first_alert)) expect_message(run.last_error());
  return tensors.empty() ? "" : tensors.front().name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  namespace fs = std::filesystem;
  const std::string dir = ttap::fuzz::scratch_dir() + "/run";
  std::error_code ec;
  fs::remove_all(dir, ec);  // the previous input's store and its -wal/-shm files
  fs::create_directories(dir);
  ttap::fuzz::write_file(dir + "/ttap.db", data, size);

  std::string error;
  auto run = ttap::run_reader::open(dir, &error);
  if (!run) {
    expect_message(error);
    return 0;
  }
  ttap::report::digest_options options;
  options.hist_tensor = read_everything(*run);
  ttap::report::run_digest digest(options);
  if (digest.update(*run, &error)) {
    (void)ttap::report::report_json(digest, dir)
        .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    ttap::report::html_options html;
    html.run_dir = dir;
    (void)ttap::report::report_html(digest, html);
  } else {
    expect_message(error);
  }

  for (auto format : {ttap::exports::export_format::csv, ttap::exports::export_format::jsonl,
                      ttap::exports::export_format::tensorboard}) {
    const std::string out =
        dir + (format == ttap::exports::export_format::tensorboard ? "/tb" : "/export.txt");
    ttap::exports::export_progress progress;  // counts only: no display
    if (!ttap::exports::export_run(*run, format, out, &progress, &error)) expect_message(error);
  }
  return 0;
}
