// The stderr alert sink: one line per alert, rate-limited, so a run that goes wrong in a thousand
// tensors at once still leaves a readable log (every alert is in the store regardless).
#pragma once

#include <cstdint>
#include <cstdio>

#include "runtime/record.h"
#include "runtime/sinks/sink.h"

namespace ttap {

// A token bucket: `burst` lines at once, then `lines_per_second` on average.
struct alert_rate_limit {
  double lines_per_second = 1.0;
  double burst = 10.0;
};

// Prints `ttap: step <step>: <message>` (`ttap[rank R]: step ...` when world > 1) as one write per
// line, so lines from several ranks sharing a terminal do not interleave mid-line.
//
// Rate limit: each line takes a token; a line that finds none is suppressed and counted, and the
// next line printed is preceded by `ttap: N more alerts suppressed (see the store)`. The first
// nonfinite alert of each step is never suppressed (it takes a token when there is one): the first
// NaN is the line a user must see, and nonfinite alerts are already once per tensor per run.
// Messages longer than a line buffer (2 KiB) are cut and end in "[...]"; control characters in a
// message are printed as spaces so an alert stays one line.
//
// Never throws or allocates; write errors are ignored (a closed stderr must not stop training).
// A null `out` prints nothing and suppresses nothing. Not thread-safe: the collector thread is its
// only caller.
class alert_printer final : public sink {
 public:
  explicit alert_printer(FILE *out = stderr, int32_t rank = 0, int32_t world = 1,
                         alert_rate_limit limit = {}) noexcept;

  // Prints (or suppresses) one alert, timed by the steady clock.
  void print(const alert &a) noexcept;
  // The same at `now_s`, seconds on any monotonic clock (tests drive the bucket with it).
  void print(const alert &a, double now_s) noexcept;
  // Reports suppressed alerts not yet reported (call once at the end of the run).
  void finalize() noexcept;

  // As a sink: prints every alert, counts the suppressed ones for the run, and reports the last
  // suppressed ones at the end of the run.
  const char *name() const override { return "alert_printer"; }
  void on_alert(const alert &a) override { print(a); }
  void count(run_counters &c) const override { c.alerts_suppressed += m_suppressed; }
  void close() override { finalize(); }

  uint64_t printed() const { return m_printed; }        // alert lines written
  uint64_t suppressed() const { return m_suppressed; }  // alerts not printed, over the whole run

 private:
  void refill(double now_s) noexcept;
  void write_line(const alert *a) noexcept;

  FILE *m_out;
  char m_prefix[32];  // "ttap" or "ttap[rank R]"
  alert_rate_limit m_limit;
  double m_tokens;
  double m_last_refill = 0;
  bool m_clock_started = false;
  bool m_nonfinite_seen = false;
  int64_t m_nonfinite_step = 0;  // step of the last nonfinite alert
  uint64_t m_printed = 0;
  uint64_t m_suppressed = 0;
  uint64_t m_unreported = 0;  // suppressed since the last "N more alerts suppressed" line
};

}  // namespace ttap
