// The SQLite store as a sink: records, scalars, alerts and actions are buffered by the store (one file per
// writer), each flush writes the run's counters and commits, and close marks the session closed.
// A failing store keeps its rows and retries (runtime/store/store.h); the sink says so once and
// reports it through healthy() until a commit succeeds again. The other sinks go on regardless.
#include "runtime/log.h"
#include "runtime/sinks/sink.h"

namespace ttap {
namespace {

class store_sink final : public sink {
 public:
  explicit store_sink(std::unique_ptr<store> st) : m_store(std::move(st)) {}
  const char *name() const override { return "store"; }

  void on_tensor(const tensor_info &t) override {
    if (!m_store->add_tensor(t)) failed("writing a tensor");
  }
  void on_group(const group_info &g) override {
    if (!m_store->set_group(g)) failed("writing the group");
  }
  void on_records(std::span<const sample_record> records, const group_sample *group) override {
    if (!m_store->add_samples(records)) failed("writing samples");
    if (group && !m_store->add_group_sample(*group)) failed("writing ranks");
  }
  void on_scalar(const scalar_record &s) override {
    if (!m_store->add_scalar(s)) failed("writing a scalar");
  }
  void on_alert(const alert &a) override {
    if (!m_store->add_alert(a)) failed("writing an alert");
  }
  void on_action(const action_record &a) override {
    if (!m_store->add_action(a)) failed("writing an action");
  }
  void flush(const run_counters &c, bool now) override {
    if (!m_store->set_counters(c)) return failed("writing counters");
    if (!m_store->commit(now)) return failed("commit");
    m_ok = true;
  }
  // Retries a failing last write for a bounded time, marks the session closed and folds the WAL
  // into the database file.
  void close() override {
    if (m_store->close()) {
      // Nothing lost, but the database file alone is not the whole run yet: said once, here.
      if (!m_store->folded()) TTAP_WARN("closing the store: %s", m_store->last_error().c_str());
      return;
    }
    failed("closing the store");
    // Said even after the failure line above (once per process): only now is it known what was
    // lost for good. The trainer may ignore ttap_close's status; tensortap must not be silent.
    TTAP_WARN("closing the store: %s", m_store->last_error().c_str());
  }
  bool healthy(std::string *why) const override {
    if (!m_ok && why) *why = m_error;
    return m_ok;
  }

 private:
  void failed(const char *what) {
    m_ok = false;
    m_error = std::string(what) + ": " + m_store->last_error();
    // The trainer goes on, and so does the store: it keeps what it could not write, retries with
    // backoff and counts what it had to drop (runtime/store/store.h). Said once per process.
    warn_once("store",
              "the store failed (%s); it keeps the rows and retries, and counts any it loses",
              m_error.c_str());
  }

  std::unique_ptr<store> m_store;
  bool m_ok = true;
  std::string m_error;
};

}  // namespace

std::unique_ptr<sink> make_store_sink(std::unique_ptr<store> st) {
  return std::make_unique<store_sink>(std::move(st));
}

}  // namespace ttap
