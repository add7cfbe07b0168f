// The non-finite policy as a sink: with on_nonfinite=abort, the first NaN/Inf alert ends the
// process with exit status 3 at the flush that follows it, which the collector makes at once and
// which reaches this sink after the store has committed the alert (make_sinks puts it last). The
// other sinks get before_exit() first, so the alert that explains the stop goes out (the
// webhook, bounded by its timeout).
#include <cstdio>
#include <cstdlib>

#include "runtime/config.h"
#include "runtime/sinks/sink.h"

namespace ttap {
namespace {

class nonfinite_policy final : public sink {
 public:
  nonfinite_policy(nonfinite_action action, sink *others) : m_action(action), m_others(others) {}
  const char *name() const override { return "nonfinite_policy"; }

  void on_alert(const alert &a) override {
    if (a.type == alert_type::nonfinite || a.type == alert_type::nonfinite_source) m_seen = true;
  }
  void flush(const run_counters &, bool) override {
    if (!m_seen || m_action != nonfinite_action::abort) return;
    if (m_others) m_others->before_exit();
    std::fprintf(stderr, "ttap: on_nonfinite=abort: stopping the process (exit status 3)\n");
    std::fflush(stderr);
    std::_Exit(3);
  }

 private:
  nonfinite_action m_action;
  sink *m_others;
  bool m_seen = false;
};

}  // namespace

std::unique_ptr<sink> make_nonfinite_policy(const session_config &config, sink *others) {
  return std::make_unique<nonfinite_policy>(config.on_nonfinite, others);
}

}  // namespace ttap
