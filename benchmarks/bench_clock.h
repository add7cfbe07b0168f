// The clocks the benchmarks time with and the median they report, in one place: the wall clock,
// or (--cpu-time) CPU time, which other load on a shared machine does not inflate.
#pragma once

#include <time.h>

#include <algorithm>
#include <vector>

#include "runtime/clock.h"

namespace ttap::bench {

// Seconds on the monotonic wall clock, or with cpu_time of CPU time used by the whole process
// (every thread: a pool's work counts).
inline double process_seconds(bool cpu_time) {
  if (!cpu_time) return monotonic_seconds();
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Nanoseconds on the monotonic wall clock, or with cpu_time of the calling thread's CPU time
// (work on other threads is not counted).
inline double thread_ns(bool cpu_time) {
  if (!cpu_time) return double(monotonic_ns());
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return 1e9 * double(ts.tv_sec) + double(ts.tv_nsec);
}

// The middle value (the upper one of an even count); 0 for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace ttap::bench
