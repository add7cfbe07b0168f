// The response sink: the collector-thread half of the response policies (on_nonfinite,
// on_spike; the training thread's half is ttap_verdict, runtime/response/).
// - Forensic dumps: the verdict copies the offending tensors to host memory and hands them over;
//   this sink writes them (disk I/O never on the training thread) and hands on the dump's action
//   (its directory, or why it failed: said once, training goes on).
// - on_nonfinite=abort: the first NaN/Inf alert is recorded as an abort action, and the process
//   ends with exit status 3 at the flush that follows it, which the collector makes at once and
//   which reaches this sink after the store has committed the alert and the action (make_sinks
//   puts it last). The other sinks get before_exit() first, so the alert that explains the stop
//   goes out (the webhook, bounded by its timeout).
// - Every alert goes into the training thread's inbox (ttap_next_alert).
#include <cstdio>
#include <cstdlib>

#include "runtime/clock.h"
#include "runtime/config.h"
#include "runtime/log.h"
#include "runtime/response/forensic_dump.h"
#include "runtime/sinks/sink.h"

namespace ttap {
namespace {

class response_sink final : public sink {
 public:
  response_sink(const session_config &config, sink *others, std::shared_ptr<alert_inbox> inbox)
      : m_abort(config.on_nonfinite.abort),
        m_rank(config.rank),
        m_run_dir(config.run_dir),
        m_others(others),
        m_inbox(std::move(inbox)) {}
  const char *name() const override { return "response"; }

  void on_alert(const alert &a) override {
    if (m_inbox) m_inbox->put(a);
    const bool nonfinite =
        a.type == alert_type::nonfinite || a.type == alert_type::nonfinite_source;
    if (!nonfinite || !m_abort || m_stopping) return;
    m_stopping = true;
    hand_on({m_rank, a.step, wall_seconds(), action_kind::abort, "nonfinite", a.tensor});
  }

  void on_dump(const dump_contents &d) override {
    const std::string dir = dump_directory(m_run_dir, d.step, d.rank);
    std::string error;
    action_record a{d.rank, d.step, 0, action_kind::dump, d.reason, dir};
    if (write_forensic_dump(dir, d, &error)) {
      TTAP_INFO("step %lld: forensic dump written to %s", (long long)d.step, dir.c_str());
    } else {
      // Said once; each attempt is still recorded (dump_max bounds them), and training goes on.
      warn_once("dump", "a forensic dump could not be written (%s); training goes on",
                error.c_str());
      a.detail = "failed: " + error;
    }
    a.time = wall_seconds();
    hand_on(a);
  }

  void flush(const run_counters &, bool) override {
    if (!m_stopping) return;
    if (m_others) m_others->before_exit();
    std::fprintf(stderr, "ttap: on_nonfinite=abort: stopping the process (exit status 3)\n");
    std::fflush(stderr);
    std::_Exit(3);
  }

 private:
  // To the other sinks (the store keeps it before the next commit); this sink ignores actions.
  void hand_on(const action_record &a) {
    if (m_others) m_others->on_action(a);
  }

  bool m_abort;
  int32_t m_rank;
  std::string m_run_dir;
  sink *m_others;
  std::shared_ptr<alert_inbox> m_inbox;
  bool m_stopping = false;  // a NaN/Inf met on_nonfinite=abort: the next flush ends the process
};

}  // namespace

std::unique_ptr<sink> make_response_sink(const session_config &config, sink *others,
                                         std::shared_ptr<alert_inbox> inbox) {
  return std::make_unique<response_sink>(config, others, std::move(inbox));
}

}  // namespace ttap
