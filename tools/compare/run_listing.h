// `ttap ls`: finds the run directories under some directories and describes each from its small
// tables only (run_info, run_counters, alerts, the newest step by index), so that hundreds of runs
// list in well under a second whatever their size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/store/run_reader.h"
#include "tools/report/run_digest.h"

namespace ttap::compare {

// How deep below each directory given `ttap ls` looks for runs (the directory itself is depth 0).
inline constexpr int kListDepth = 3;

// A run is "live" when its writer last wrote this long ago or less (and still runs on this host).
inline constexpr double kLiveSeconds = 60;

struct run_listing {
  std::string dir;
  // "live": a writer process is alive on this host and wrote in the last kLiveSeconds;
  // "finished": every writer closed the store cleanly (no write-ahead log left behind);
  // "crashed": neither; "unreadable": the store could not be read (see error).
  std::string state;
  std::string error;
  std::vector<int32_t> ranks;
  int32_t world = 1;
  int64_t last_step = -1;  // -1 without samples
  uint64_t samples = 0;    // samples taken, from the counters
  uint64_t alerts = 0;
  std::optional<alert_row> first_nonfinite;
  // s since the epoch: the first session's start, the last counters update (the end of a
  // finished run) and the last write seen (counters or the store files' modification times).
  double start_time = 0, end_time = 0, last_write = 0;
  std::optional<double> overhead_fraction;  // (host + device seconds) / step seconds when timed
  // What is missing, per rank, as `ttap report` says it (a rank with no samples taken counts as
  // one with no samples stored: the listing reads no samples).
  std::vector<report::run_gap> gaps;
};

// The run directories (those holding ttap.db) at most kListDepth below each root, without looking
// inside a run directory. False with *error set when a root is missing or not a directory.
bool find_run_dirs(const std::vector<std::string> &roots, std::vector<std::string> *out,
                   std::string *error);

// One run's line. `now` is the current time (s since the epoch) and `host` this host's name.
run_listing describe_run(const std::string &dir, double now, const std::string &host);

// Every run under `roots`, sorted by start time (unreadable ones last).
bool list_runs(const std::vector<std::string> &roots, std::vector<run_listing> *out,
               std::string *error);

}  // namespace ttap::compare
