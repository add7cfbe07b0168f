// Sinks: where the collector's output goes (records, scalars, alerts), each a small class behind
// one interface, and the fan-out that hands everything to every sink in a fixed order. Adding a
// sink is one new file plus one line in make_sinks.cc.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "runtime/record.h"
#include "runtime/store/store.h"

namespace ttap {

struct session_config;
struct dump_contents;

// Called on the collector thread only, in the order things happened. A sink never throws and
// never takes the process down on its own failure: it says so once, stops, and reports it through
// healthy(); the trainer goes on.
class sink {
 public:
  virtual ~sink() = default;
  virtual const char *name() const = 0;

  virtual void on_tensor(const tensor_info &) {}
  virtual void on_group(const group_info &) {}
  // One sample's records in sample order; `group`: the per-rank part when it is a group sample.
  virtual void on_records(std::span<const sample_record>, const group_sample *) {}
  virtual void on_scalar(const scalar_record &) {}
  virtual void on_alert(const alert &) {}
  // What a response policy did (a skip decided at ttap_verdict, a dump written, an abort).
  virtual void on_action(const action_record &) {}
  // A forensic dump the verdict gathered (tensors already copied to host memory); the response
  // sink writes it and hands on its action.
  virtual void on_dump(const dump_contents &) {}
  // Adds what this sink counts to the run's counters (the alert printer: suppressed lines).
  virtual void count(run_counters &) const {}
  // Makes everything handed over so far durable or visible. The collector calls it every flush
  // interval, and with `now` at once after a non-finite alert and at ttap_flush/ttap_close (a
  // store that is failing retries at once instead of after its backoff).
  virtual void flush(const run_counters &, bool /*now*/) {}
  // The process is about to end without close() (on_nonfinite=abort): hand on what is pending,
  // within the sink's own time bound (the webhook delivers its queue).
  virtual void before_exit() {}
  // The end of the run, after the last flush.
  virtual void close() {}
  // False (and *why) once the sink has failed.
  virtual bool healthy(std::string *) const { return true; }
};

// Hands every call to each sink in order (make_sinks puts the store first and the response sink
// last, so an abort comes after the alert is stored).
class sink_fanout final : public sink {
 public:
  void add(std::unique_ptr<sink> s) { m_sinks.push_back(std::move(s)); }
  const char *name() const override { return "fanout"; }
  void on_tensor(const tensor_info &t) override {
    for (auto &s : m_sinks) s->on_tensor(t);
  }
  void on_group(const group_info &g) override {
    for (auto &s : m_sinks) s->on_group(g);
  }
  void on_records(std::span<const sample_record> r, const group_sample *g) override {
    for (auto &s : m_sinks) s->on_records(r, g);
  }
  void on_scalar(const scalar_record &r) override {
    for (auto &s : m_sinks) s->on_scalar(r);
  }
  void on_alert(const alert &a) override {
    for (auto &s : m_sinks) s->on_alert(a);
  }
  void on_action(const action_record &a) override {
    for (auto &s : m_sinks) s->on_action(a);
  }
  void on_dump(const dump_contents &d) override {
    for (auto &s : m_sinks) s->on_dump(d);
  }
  void count(run_counters &c) const override {
    for (auto &s : m_sinks) s->count(c);
  }
  void flush(const run_counters &c, bool now) override {
    for (auto &s : m_sinks) s->flush(c, now);
  }
  void before_exit() override {
    for (auto &s : m_sinks) s->before_exit();
  }
  void close() override {
    for (auto &s : m_sinks) s->close();
  }
  // The first failed sink's reason.
  bool healthy(std::string *why) const override {
    for (auto &s : m_sinks)
      if (!s->healthy(why)) return false;
    return true;
  }

 private:
  std::vector<std::unique_ptr<sink>> m_sinks;
};

// Alerts on their way to the training thread (ttap_next_alert, Python's on_alert): the response
// sink puts each alert here on the collector thread, the session takes them on the training
// thread. The latest kMaxAlerts are kept (the store keeps every alert). Never blocks for long:
// a lock of its own.
class alert_inbox {
 public:
  static constexpr size_t kMaxAlerts = 1024;
  void put(const alert &a) {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_alerts.size() == kMaxAlerts) m_alerts.pop_front();
    m_alerts.push_back(a);
  }
  // The oldest alert not yet taken; false when there is none.
  bool take(alert *out) {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_alerts.empty()) return false;
    *out = std::move(m_alerts.front());
    m_alerts.pop_front();
    return true;
  }

 private:
  std::mutex m_mutex;
  std::deque<alert> m_alerts;
};

// The sinks of a session: the store (none when `st` is null: store=off), the stderr alert
// printer, the JSONL stream when `jsonl` is set, the alert webhook when `alert_webhook` is set,
// and the response sink (dumps, actions, abort; alerts into `inbox` when given). `host` names
// this machine in the webhook's alerts. Null with *error when one cannot start (a JSONL file that
// cannot be opened, libcurl that cannot start).
std::unique_ptr<sink> make_sinks(const session_config &config, const std::string &host,
                                 std::unique_ptr<store> st, std::string *error,
                                 std::shared_ptr<alert_inbox> inbox = nullptr);

// The sinks one by one (each in its own file).
std::unique_ptr<sink> make_store_sink(std::unique_ptr<store> st);
std::unique_ptr<sink> make_jsonl_sink(const std::string &path, std::string *error);
std::unique_ptr<sink> make_webhook_sink(const session_config &config, const std::string &host,
                                        std::string *error);
// `others`: the sinks that get the actions it takes, and before_exit() before an abort (the
// fan-out that holds it).
std::unique_ptr<sink> make_response_sink(const session_config &config, sink *others,
                                         std::shared_ptr<alert_inbox> inbox);

}  // namespace ttap
