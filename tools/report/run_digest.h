// What `ttap report` and `ttap watch` know about a run: its facts, counters and alerts, and each
// tensor's samples folded into a few numbers and a compact l2 history. Built from the run reader
// and updated incrementally (rows after the last ones seen in each store file), so a live run is
// followed cheaply.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/summary.h"
#include "runtime/store/run_reader.h"

namespace ttap::report {

// The name of the scalar plotted next to the gradient norm (what ttap_log_scalar calls "loss" and
// the loss-spike detector watches).
inline constexpr const char *kLossScalar = "loss";

// One sample of one tensor, reduced to what the plots and sparklines need.
struct l2_point {
  int64_t step = 0;
  double l2 = 0;  // over finite values (summary_finalize's l2)
  bool nonfinite = false;
};

// One sample's exponent histogram as fractions of its finite nonzero values, sparse.
struct hist_column {
  int64_t step = 0;
  bool nonfinite = false;
  std::vector<std::pair<int16_t, float>> bins;  // (e, fraction), fractions summing to 1
};

struct tensor_digest {
  int32_t rank = 0, id = 0;
  // Which of its rank's sessions registered it: 1, or 2, 3, ... in a run continued with
  // mode=append (session_ordinal_of_tensor).
  int session = 1;
  std::string name, kind, dtype;  // from the tensors table; empty while the row is missing
  uint64_t numel = 0;
  uint64_t samples = 0;
  int64_t first_step = 0, last_step = 0;
  double last_l2 = 0;
  bool last_nonfinite = false;
  std::optional<double> max_l2;  // the largest finite l2, and the step it was first seen at
  int64_t max_l2_step = 0;
  std::optional<double> min, max;  // over the finite values of every sample
  uint64_t nonfinite_total = 0;    // NaN and Inf elements, summed over samples
  std::optional<int64_t> first_nonfinite_step;
  // fp8 risks of the last sample (summary_finalize, unscaled cast); nullopt when that sample had
  // no finite nonzero value.
  std::optional<fp8_risk> e4m3, e5m2;
  std::vector<l2_point> history;  // oldest first; every sample, or the latest history_limit
};

// Per step, over the tensors sampled at that step: sums of l2^2 (the global norm is its root).
struct step_norm {
  double grad_sum_sq = 0, all_sum_sq = 0;
  bool grad_nonfinite = false, all_nonfinite = false;
  bool has_grad = false;
};

struct digest_options {
  size_t history_limit = 0;  // l2 points kept per tensor; 0 keeps every sample
  bool step_norms = true;    // keep the per-step global norms
  bool loss = true;          // read the loss scalar series
  std::string hist_tensor;   // keep this tensor's histograms over steps ("" = none)
};

class run_digest {
 public:
  explicit run_digest(digest_options options) : m_options(std::move(options)) {}

  // Reads what was committed since the last update (everything, the first time). False with
  // *error set when the store cannot be read (e.g. corruption); what was folded before the error
  // stays, and a later update goes on from there.
  bool update(run_reader &reader, std::string *error);

  const std::vector<run_session_info> &sessions() const { return m_sessions; }
  // The run's store files (one per writer), whether each is live, and what is wrong with any.
  const std::vector<store_file_status> &files() const { return m_files; }
  const std::vector<run_counters_row> &counters() const { return m_counters; }
  // Per rank of a group (empty without one).
  const std::vector<rank_total_row> &ranks() const { return m_ranks; }
  const std::vector<alert_row> &alerts() const { return m_alerts; }  // in time order
  // What the response policies did (skips, dumps, aborts), in time order.
  const std::vector<action_row> &actions() const { return m_actions; }
  // In the order first seen: the tensors table's (rank, id) order. In a group, the tensors the
  // other ranks registered are left out until one of them has a sample of its own (rank 0 of the
  // group stores the group's samples under its own tensors).
  const std::vector<tensor_digest> &tensors() const { return m_tensors; }
  const std::map<int64_t, step_norm> &step_norms() const { return m_step_norms; }
  const std::vector<scalar_row> &loss() const { return m_loss; }
  const std::vector<hist_column> &hist_columns() const { return m_hist_columns; }
  const std::string &hist_tensor() const { return m_options.hist_tensor; }

  uint64_t sample_rows() const { return m_sample_rows; }
  int64_t latest_step() const { return m_latest_step; }  // -1 without samples
  double first_time() const;  // the earliest session start (0 without sessions)
  double last_time() const;   // the latest time seen in counters, samples or alerts

  // Index into alerts() of the first non-finite alert in time order, if any.
  std::optional<size_t> first_nonfinite_alert() const;

  // Indices into alerts() in the order the reports list them: the first non-finite alert (where
  // a run usually went wrong), then every other alert in time order.
  std::vector<size_t> alert_order() const;

  // Sums over sessions.
  run_counters_row counter_totals() const;

 private:
  tensor_digest &tensor_for(int32_t rank, int32_t id);
  void add_sample(const sample_row &row);

  digest_options m_options;
  std::vector<run_session_info> m_sessions;
  std::vector<store_file_status> m_files;
  std::vector<run_counters_row> m_counters;
  std::vector<rank_total_row> m_ranks;
  std::map<std::pair<int32_t, int32_t>, tensor_row> m_unlisted;  // a group's other ranks' tensors
  std::vector<alert_row> m_alerts;
  std::vector<action_row> m_actions;
  std::vector<tensor_digest> m_tensors;
  std::map<std::pair<int32_t, int32_t>, size_t> m_tensor_index;  // (rank, id) -> m_tensors
  std::map<int64_t, step_norm> m_step_norms;
  std::vector<scalar_row> m_loss;
  std::vector<hist_column> m_hist_columns;
  std::optional<int32_t> m_hist_rank;  // the rank whose hist_tensor is followed
  read_cursor m_sample_cursor, m_alert_cursor, m_action_cursor;
  uint64_t m_sample_rows = 0;
  int64_t m_latest_step = -1;
  double m_last_seen_time = 0;
};

// The run as a whole, for the report headers: the latest session names host, pid, options and
// version (a resumed run adds a session; the first one's start is the run's start).
struct run_facts {
  std::vector<int32_t> ranks;  // distinct ranks that opened the store
  int32_t world = 1;
  size_t sessions = 0;
  std::string host, options, version;
  int64_t pid = 0;
  double start_time = 0, end_time = 0;  // s since the epoch; end = the latest time seen
  // (host overhead_seconds + device_seconds) / step_seconds, when timed.
  std::optional<double> overhead_fraction;
  // The group, when the run had one (ttap_set_group): its kind and size, and the rank that wrote
  // the merged samples (the group's rank 0).
  std::string group_kind;
  int32_t group_size = 0;
  std::optional<int32_t> group_writer;
};
run_facts facts_of(const run_digest &digest);

// Whether the run is complete: every store file closed cleanly, a writer still live, or a file
// whose writer went away without closing it (killed, crashed, or its last write failed).
enum class run_state { closed, live, not_closed };
run_state state_of(const run_digest &digest);
// One line: "closed", "live (a writer is running)", "NOT CLOSED: ...".
std::string state_text(const run_digest &digest);

// Something missing from the run, per rank (rank -1: the run as a whole).
struct run_gap {
  int32_t rank = -1;
  std::string what;
};
// Every gap the stored rows reveal: ranks of the job with no store file or no rows, store files
// that could not be read, store failures and the records they lost, records dropped by a full
// queue, samples rejected, sessions that did not close. Empty when nothing is missing.
std::vector<run_gap> gaps_of(const run_digest &digest);
// The gaps the sessions and counters reveal, given the samples stored per rank: all of the above
// but unreadable store files (`ttap ls`, which reads no samples, passes the samples taken).
std::vector<run_gap> gaps_of(const std::vector<run_session_info> &sessions,
                             const std::vector<run_counters_row> &counters,
                             const std::map<int32_t, uint64_t> &samples);

// A run continued with mode=append holds more than one session per rank; the reports keep them
// apart by ordinal: 1 is each rank's first session in its store file, 2 the first appended one,
// and so on. One span gathers that ordinal's sessions over the ranks.
struct session_span {
  int ordinal = 1;
  double start_time = 0;           // the earliest start among its ranks
  std::optional<double> end_time;  // the latest clean close; nullopt when one did not close
  std::vector<int32_t> ranks;
  std::vector<int64_t> pids;
};
// In ordinal order; empty without sessions.
std::vector<session_span> session_spans(const run_digest &digest);
// Whether some rank has more than one session in its store file: the reports then label tensors
// and alerts with their session.
bool has_appended_sessions(const run_digest &digest);
// The session each alert was raised in, by index into alerts(): the latest of its rank's sessions
// in its store file that had started by then.
std::vector<int> alert_sessions(const run_digest &digest);

// The reductions the hooks summarized (tensors stored by libttap_inject: mpi.* and nccl.* names,
// and any under an NVTX path), by name; empty without hooks.
std::vector<std::string> summarized_collectives(const run_digest &digest);

// "2026-11-22 01:16:42 UTC"
std::string format_utc(double epoch_seconds);

// "0.84 s", "12.3 s", "5 min 03 s", "2 h 05 min"
std::string format_duration(double seconds);

// The tensor whose histograms `ttap report` shows by default: the one named by the first
// non-finite alert (else the first alert about a tensor), else the largest by numel. "" when the
// run has no tensor.
std::string default_hist_tensor(const std::vector<alert_row> &alerts,
                                const std::vector<tensor_row> &tensors);

}  // namespace ttap::report
