// The clocks tensortap reads, in one place: a monotonic clock for costs, intervals and deadlines
// (never goes back, unaffected by the wall clock being set) and the wall clock for the times stored
// with records, alerts and sessions (seconds since the Unix epoch, comparable across processes).
#pragma once

#include <chrono>
#include <cstdint>

namespace ttap {

// Monotonic nanoseconds (steady_clock); only differences mean anything.
inline int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Monotonic milliseconds, for deadlines counted in whole milliseconds.
inline int64_t monotonic_ms() { return monotonic_ns() / 1000000; }

// Monotonic seconds, for rate limits and timeouts kept as doubles.
inline double monotonic_seconds() { return double(monotonic_ns()) * 1e-9; }

// Wall-clock seconds since the Unix epoch (system_clock), as stored in every time column.
inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace ttap
