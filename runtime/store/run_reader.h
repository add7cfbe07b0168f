// Read-only access to a run directory's store for the tools (ttap run's live status and summary,
// report, watch, export): opens RUN_DIR/ttap.db without ever blocking the writer, and turns every
// way a directory can fail to be a run into one clear message.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/store/histogram_blob.h"

struct sqlite3;

namespace ttap {

struct run_session_info {
  int64_t session = 0;
  int32_t rank = 0, world = 1;
  std::string options, version, host;
  int64_t pid = 0;
  double start_time = 0;
  // The session's group (ttap_set_group): kind "" when it was in none (always, in a version 1
  // store).
  std::string group_kind;
  int32_t group_size = 0, group_rank = -1;
};

// One rank of a group over the run, from the per-rank tables rank 0 of the group wrote.
struct rank_total_row {
  int32_t rank = 0;
  uint64_t samples = 0;                // group samples it contributed to
  uint64_t absent = 0;                 // group samples it had no sample for
  std::optional<double> step_seconds;  // mean of the step times it reported
  uint64_t nonfinite = 0;              // NaN/Inf values in its parts, over every sample
  std::optional<double> last_grad_l2;  // l2 over its grad tensors at the latest group step
};

struct run_counters_row {
  int32_t rank = 0;
  double time = 0;
  uint64_t samples_taken = 0, samples_skipped = 0, records_dropped = 0, alerts_suppressed = 0,
           samples_rejected = 0;
  double overhead_seconds = 0, step_seconds = 0;
};

// The counters of every session added up (time: the latest).
run_counters_row sum_counters(const std::vector<run_counters_row> &rows);

struct tensor_row {
  int32_t rank = 0, id = 0;
  std::string name, kind, dtype;
  uint64_t numel = 0;
};

// One row of samples_v, plus the histogram when asked for. Optional doubles are SQL NULLs.
struct sample_row {
  int64_t rowid = 0;
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  int32_t tensor_id = 0;
  std::string tensor;  // name ("" when the tensor row is missing)
  uint64_t count = 0, nan = 0, pos_inf = 0, neg_inf = 0, zero = 0, subnormal = 0;
  std::optional<double> min, max, abs_max, sum, sum_sq, sum_abs, l2, mean, std;
  std::optional<exp_histogram> hist;  // only with with_histograms
  uint64_t nonfinite() const { return nan + pos_inf + neg_inf; }
};

struct alert_row {
  int64_t rowid = 0;
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string tensor, type, message;
};

struct scalar_row {
  int32_t rank = 0;
  int64_t step = 0;
  double time = 0;
  std::string name;
  std::optional<double> value;  // NULL: the value was NaN
};

// What `ttap diff` compares of one sample, without its name or histogram, so that a million rows
// read quickly. summary_hash covers every stored field of the summary (histogram included): two
// samples whose summaries are identical to the bit have the same hash.
struct sample_values_row {
  int64_t rowid = 0;
  int32_t rank = 0, tensor_id = 0;
  int64_t step = 0;
  double l2 = 0;  // over finite values
  std::optional<double> abs_max;
  uint64_t nonfinite = 0;
  std::optional<uint64_t> fingerprint;  // when the sample was fingerprinted
  uint64_t summary_hash = 0;
};

// One rank's own part of a tensor at a group sample (rank_samples); the tensor is the writer's.
struct rank_part_row {
  int32_t writer = 0, rank = 0, tensor_id = 0;
  int64_t step = 0;
  std::optional<double> l2;
  uint64_t nonfinite = 0;
  std::optional<uint64_t> fingerprint;
};

class run_reader {
 public:
  // Opens RUN_DIR's store read-only. Null with *error set (naming the directory) when the directory
  // is missing, is not a run (no ttap.db), or holds a file that is not a tensortap store of a
  // version this build reads (1, without groups, or the current one).
  static std::unique_ptr<run_reader> open(const std::string &run_dir, std::string *error);
  ~run_reader();
  run_reader(const run_reader &) = delete;
  run_reader &operator=(const run_reader &) = delete;

  const std::string &dir() const { return m_dir; }

  // Every query returns false (message in last_error()) on a database error, e.g. corruption found
  // while reading; the tools print it and exit 2.
  bool sessions(std::vector<run_session_info> *out);
  bool counters(std::vector<run_counters_row> *out);
  bool tensors(std::vector<tensor_row> *out);
  // Samples with rowid > after_rowid (0: all), in rowid (= time) order, at most `limit` of them
  // (0: no limit). Reading in batches from the last rowid seen is how a live run is followed and
  // how a large run is read without holding it all in memory.
  bool samples(int64_t after_rowid, bool with_histograms, std::vector<sample_row> *out,
               size_t limit = 0);
  // The samples of one tensor (by name), in step order.
  bool samples_of(const std::string &tensor, bool with_histograms, std::vector<sample_row> *out);
  bool alerts(int64_t after_rowid, std::vector<alert_row> *out);
  bool scalars(const std::string &name, std::vector<scalar_row> *out);  // "" = every name
  // The largest step stored so far (-1 when there is no sample).
  bool latest_step(int64_t *out);
  // Per rank of a group, in rank order; empty when the run had no group (or the store is of
  // version 1, which predates groups).
  bool rank_totals(std::vector<rank_total_row> *out);

  // The values ttap diff compares, in rowid order from after_rowid, at most `limit` rows (0: all).
  bool sample_values(int64_t after_rowid, size_t limit, std::vector<sample_values_row> *out);
  // Every rank's own part of every group sample, in step order; empty without a group.
  bool rank_parts(std::vector<rank_part_row> *out);
  // For listings of many runs: lookups on the small tables that never scan the samples.
  bool alert_count(uint64_t *out);
  // The first alert of `type` (by step, then rowid); nullopt when there is none.
  bool first_alert_of_type(const std::string &type, std::optional<alert_row> *out);

  const std::string &last_error() const { return m_error; }

 private:
  run_reader() = default;
  bool fail(const std::string &what);
  // Prepares sql, lets bind() bind its parameters, calls row() on every row; false (message in
  // last_error(), naming `what`) on any error.
  template <class Bind, class Row>
  bool query(const char *what, const std::string &sql, Bind &&bind, Row &&row);

  std::string m_dir;
  sqlite3 *m_db = nullptr;
  int m_version = 0;
  std::string m_error;
};

}  // namespace ttap
