// Live Prometheus metrics of a run (ttap run --prometheus ADDR), served by prometheus-cpp from the
// supervisor's view of the store: the global gradient norm, per-tensor gauges for a bounded set of
// tensors (the largest norms plus any non-finite ones), alert and drop counters. Every series is
// labelled with the run, rank and host it describes, so one Prometheus can watch a fleet of runs.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "tools/run/run_monitor.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace ttap {

class metrics_exporter {
 public:
  // Per-tensor series at most: the top norms plus tensors with non-finite values, so the number of
  // series stays bounded whatever the model size.
  static constexpr size_t kMaxTensorSeries = 20;
  // Server threads (each holds one connection while it reads a request) and how long a client
  // may take to send a request; past it the connection is closed.
  static constexpr int kServerThreads = 4;
  static constexpr int kRequestTimeoutMs = 2000;

  // Binds `address`: "HOST:PORT", ":PORT" or "PORT" (loopback, 127.0.0.1, unless a host is named);
  // port 0 takes a free port (address() then names it). `run` is the value of every series' `run`
  // label. Null with *error when it cannot (bad address, port in use).
  static std::unique_ptr<metrics_exporter> start(const std::string &address, const std::string &run,
                                                 std::string *error);
  ~metrics_exporter();

  // Publishes the snapshot (called after every poll of the store).
  void update(const run_snapshot &s);
  // HOST:PORT as bound, with the port actually listened on.
  const std::string &address() const { return m_address; }
  // HOST:PORT as another machine reaches it: the host name instead of a wildcard address.
  std::string target() const;

 private:
  struct state;
  metrics_exporter() = default;
  std::string m_address;
  std::unique_ptr<state> m_state;
};

// Writes a Prometheus file_sd target group to `file`: `[{"targets": [TARGET], "labels":
// {"ttap_run_dir": RUN_DIR}}]`, or `[]` for an empty target (the run has ended: Prometheus stops
// scraping it and marks its series stale). Written to a temporary file next to it and renamed,
// so a Prometheus reading a shared directory never sees half a file. False with *error.
bool write_prometheus_targets(const std::string &file, const std::string &run_dir,
                              const std::string &target, std::string *error);

}  // namespace ttap
