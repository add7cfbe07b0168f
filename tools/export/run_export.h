// `ttap export`'s formats behind one entry point: a run's samples, scalars and alerts written as
// TensorBoard event files, CSV or JSONL, with progress counting shared by all three.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/store/run_reader.h"

namespace ttap::exports {

enum class export_format { tensorboard, csv, jsonl };

// What an export wrote, and a running count on a terminal while it writes.
class export_progress {
 public:
  // display: where to show "N rows written" at most once a second (a terminal), or null for none.
  explicit export_progress(std::FILE *display = nullptr)
      : m_display(display), m_last_shown(std::chrono::steady_clock::now()) {}

  void sample_written() { tick(++m_samples); }
  void scalar_written() { tick(++m_scalars); }
  void alert_written() { tick(++m_alerts); }
  // Erases the running count, so the summary line that follows starts on a clean line.
  void finish();

  uint64_t samples() const { return m_samples; }
  uint64_t scalars() const { return m_scalars; }
  uint64_t alerts() const { return m_alerts; }

 private:
  // Looking at the clock costs ~20 ns; every 4096 rows keeps it off the per-row path.
  void tick(uint64_t n) {
    if (m_display && (n & 4095) == 0) show();
  }
  void show();

  std::FILE *m_display;
  uint64_t m_samples = 0, m_scalars = 0, m_alerts = 0;
  std::chrono::steady_clock::time_point m_last_shown;
  bool m_shown = false;
};

// Writes the run to `path` (a directory for TensorBoard, a file or "-" for stdout otherwise).
// Returns false with *error set to one line naming the path or the run and the problem; a failed
// export leaves no partial output file behind.
bool export_run(run_reader &run, export_format format, const std::string &path,
                export_progress *progress, std::string *error);

bool export_tensorboard(run_reader &run, const std::string &out_dir, export_progress *progress,
                        std::string *error);
bool export_csv(run_reader &run, const std::string &path, export_progress *progress,
                std::string *error);
bool export_jsonl(run_reader &run, const std::string &path, export_progress *progress,
                  std::string *error);

// Shared by the formats ---------------------------------------------------------------------

// The kind and dtype of each tensor, by (rank, id); samples_v's columns the sample rows lack.
class tensor_catalog {
 public:
  bool load(run_reader &run, std::string *error);
  // Null when the sample's tensor was never registered.
  const tensor_row *find(int32_t rank, int32_t id) const;

 private:
  std::map<std::pair<int32_t, int32_t>, tensor_row> m_tensors;
};

// Reads the run's samples in rowid (= time) order and hands them to `consume` a batch at a time;
// stops at the first batch that comes back empty, so rows committed by a live run while the export
// runs are included up to that point. Returns false with *error on a read error or when `consume`
// returns false (having set *error).
bool for_each_sample_batch(run_reader &run, bool with_histograms,
                           const std::function<bool(const std::vector<sample_row> &)> &consume,
                           std::string *error);

// Shortest text that reads back as the same double ("0.1", "1e-30", "inf", "-inf", "nan").
std::string format_double(double v);

}  // namespace ttap::exports
