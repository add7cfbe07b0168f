// Follows a run's store while it is written (and after): incremental reads once per poll, folded
// into a snapshot the live status line, the Prometheus endpoint and the final summary all read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/store/run_reader.h"

namespace ttap {

struct monitored_tensor {
  int32_t rank = 0, id = 0;
  std::string name, kind;
  uint64_t samples = 0;
  int64_t first_step = 0, last_step = 0;
  double first_l2 = 0, last_l2 = 0, max_l2 = 0;
  double last_abs_max = 0;
  uint64_t last_nonfinite = 0, nonfinite_total = 0;
};

// One rank of the run, as the fleet sees it (the Prometheus endpoint labels every series with its
// rank and host).
struct rank_snapshot {
  std::string host;
  int64_t latest_step = -1;
  double latest_time = 0;  // wall clock of its newest sample, seconds since the Unix epoch
  double global_grad_norm = 0;
  std::map<std::string, uint64_t> alerts_by_type;
  uint64_t samples_taken = 0, samples_skipped = 0, records_dropped = 0;
  double overhead_seconds = 0, step_seconds = 0;
  double device_seconds = 0;  // device time; overhead_seconds is the host's
  double budget = -1;  // the session's overhead budget (from its options); < 0: unknown
  bool has_loss = false;
  double loss = 0;  // the newest scalar named "loss" (NaN when it was not finite)
};

struct run_snapshot {
  bool store_present = false;
  int64_t latest_step = -1;
  uint64_t sample_rows = 0;
  uint64_t alerts_total = 0;
  std::map<std::string, uint64_t> alerts_by_type;
  std::vector<alert_row> first_alerts;  // the first few, in time order
  alert_row first_nonfinite;            // step < 0 when none
  // What the response policies did: counts by action ("skip", "dump", "abort"), and the dumps'
  // details (their directories) in time order.
  uint64_t actions_total = 0;
  std::map<std::string, uint64_t> actions_by_kind;
  std::vector<std::string> dump_details;
  std::vector<run_session_info> sessions;
  double global_grad_norm = 0;  // over grad tensors (all tensors if none) at the latest step
  uint64_t samples_taken = 0, samples_skipped = 0, records_dropped = 0, samples_rejected = 0;
  uint64_t records_lost = 0;  // rows the store could not keep (store failures), all ranks
  std::vector<store_file_status> files;
  double overhead_seconds = 0, step_seconds = 0;
  double device_seconds = 0;  // tensortap's device time; overhead_seconds is the host's
  std::vector<monitored_tensor> tensors;   // in registration order
  std::map<int32_t, rank_snapshot> ranks;  // every rank with a session, a sample or an alert
};

class run_monitor {
 public:
  static constexpr size_t kFirstAlertsKept = 20;

  explicit run_monitor(std::string run_dir) : m_dir(std::move(run_dir)) {
    m_snapshot.first_nonfinite.step = -1;
  }

  // Reads what was committed since the last poll. False when the store cannot be read (not
  // created yet is not an error: store_present stays false); the message is in error().
  bool poll();
  // Closes the store files (the snapshot stays), so that the run's WAL files can be removed.
  void close() { m_reader.reset(); }
  const run_snapshot &snapshot() const { return m_snapshot; }
  const std::string &error() const { return m_error; }

 private:
  monitored_tensor *tensor_for(int32_t rank, int32_t id);

  std::string m_dir;
  std::unique_ptr<run_reader> m_reader;
  run_snapshot m_snapshot;
  std::map<std::pair<int32_t, int32_t>, size_t> m_index;  // (rank, id) -> tensors[]
  read_cursor m_sample_cursor, m_alert_cursor, m_action_cursor;
  // The global norm of the newest step, summed per rank as its rows arrive.
  struct norm_sum {
    int64_t step = -1;
    double grad_sq = 0, all_sq = 0;
    bool has_grad = false;
  };
  norm_sum m_norm;
  std::map<int32_t, norm_sum> m_rank_norms;
  std::string m_error;
};

}  // namespace ttap
