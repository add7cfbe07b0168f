// The webhook alert sink (alert_webhook=URL): POSTs each alert as JSON from its own thread, so that
// an alert reaches a person (Slack, Mattermost, an on-call bridge) while the run is still going.
// The collector thread only offers; delivery, timeouts and retries happen on the sink's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/sinks/alert_printer.h"
#include "runtime/record.h"
#include "runtime/sinks/redacted_url.h"
#include "runtime/sinks/sink.h"

namespace ttap {

struct webhook_options {
  std::string url;  // http:// or https://
  // Who raised the alerts: the JSON's `run`, `host`, `rank` fields.
  std::string run, host;
  int32_t rank = 0;
  int32_t world = 1;
  // One POST attempt may take this long (connect included); finish() waits at most this long for
  // the queue to drain before it gives up on what is left.
  double timeout_s = 5.0;
  // Attempts per alert while the receiver answers: a failed attempt (no answer, 5xx, 429) is
  // retried after a backoff that doubles from `backoff_s`. Once an alert has failed every
  // attempt, later alerts get one attempt each until one is delivered again, so a dead receiver
  // does not hold the queue for attempts x timeout per alert.
  int attempts = 3;
  double backoff_s = 0.25;
  // Alerts waiting for delivery; an offer that finds the queue full is dropped and counted.
  size_t queue_capacity = 256;
  // Per alert type, the stderr printer's token bucket (a burst, then a rate); the first
  // non-finite alert of a step is never suppressed.
  alert_rate_limit limit = {};
  // Where the sink's own warnings and its closing summary go (null: nowhere).
  FILE *log = stderr;
};

// What became of the alerts offered, over the sink's life.
struct webhook_counts {
  uint64_t offered = 0;
  uint64_t delivered = 0;   // a 2xx answer
  uint64_t suppressed = 0;  // rate limit: never queued
  uint64_t dropped = 0;     // queue full, or still queued when finish() gave up
  uint64_t failed = 0;      // every attempt failed, or the receiver refused it (4xx)
  size_t peak_queue = 0;
};

class webhook_sink final : public sink {
 public:
  // Null with *error when the URL is not http(s) or libcurl cannot start.
  static std::unique_ptr<webhook_sink> start(const webhook_options &options, std::string *error);
  ~webhook_sink() override;  // finish()
  webhook_sink(const webhook_sink &) = delete;
  webhook_sink &operator=(const webhook_sink &) = delete;

  // Queues `a` for delivery, or counts it suppressed or dropped. Never blocks on the network:
  // it takes one short lock (the sender holds it only to pop). Not thread-safe against itself
  // (one caller, the collector thread); safe against the sender thread.
  void offer(const alert &a) noexcept;
  // The same at `now_s` on a monotonic clock (tests drive the rate limit with it).
  void offer(const alert &a, double now_s) noexcept;

  // Delivers what is queued for at most timeout_s, drops the rest, stops the thread and writes one
  // summary line to `log`: `ttap: alert webhook URL: N delivered, N suppressed (rate limit), N
  // dropped (queue full or closing), N failed; queue peak N of N`. Idempotent; returns the final
  // counts.
  webhook_counts finish() noexcept;

  // As a sink: every alert is offered; the end of the run, or an abort, finishes the queue.
  const char *name() const override { return "alert_webhook"; }
  void on_alert(const alert &a) override { offer(a); }
  void before_exit() override { finish(); }
  void close() override { finish(); }

  webhook_counts counts() const;
  // The JSON body posted for `a` (also used by tests).
  std::string payload(const alert &a, uint64_t suppressed_before) const;

 private:
  struct queued_alert {
    alert value;
    uint64_t suppressed_before = 0;  // of its type, since the last one queued
  };
  struct type_bucket {
    double tokens = 0;
    double last_refill = 0;
    bool started = false;
    uint64_t unreported = 0;
  };

  explicit webhook_sink(const webhook_options &options);
  void run();
  // One alert, with retries; true when delivered. Gives up early when `m_deadline` passes.
  bool deliver(const queued_alert &q);
  // One POST; 0 on a 2xx, else the HTTP status (or -1 for no answer). `why` says what failed.
  long post(const std::string &body, double timeout_s, std::string *why);
  bool past_deadline() const;
  void warn_once_unreachable(const std::string &why);

  webhook_options m_options;
  void *m_curl = nullptr;   // CURL easy handle, used by the sender thread only
  void *m_multi = nullptr;  // CURLM, so a close can interrupt a transfer at its deadline

  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<queued_alert> m_queue;
  bool m_closing = false;
  double m_deadline = 0;  // steady seconds; finish() sets it, under m_mutex
  webhook_counts m_counts;

  // Offer-side state (the single offering thread).
  type_bucket m_buckets[size_t(kLastAlertType) + 1];
  bool m_nonfinite_seen = false;
  int64_t m_nonfinite_step = 0;

  // Sender-side state.
  bool m_receiver_down = false;
  bool m_warned = false;

  bool m_closed = false;
  std::thread m_thread;
};

}  // namespace ttap
