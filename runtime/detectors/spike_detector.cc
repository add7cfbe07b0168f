// spike: a gradient's l2 norm far above its own recent history (robust z-score against the rolling
// median/MAD), the usual first sign of a loss spike or an instability a few steps later.
#include <cmath>
#include <vector>

#include "runtime/detectors/detector.h"
#include "runtime/detectors/detector_support.h"
#include "runtime/detectors/robust_window.h"

namespace ttap {
namespace {

// Rules:
// - gradients only: parameter norms drift slowly and activations depend on the batch, so a robust
//   z-score on them mostly measures the data;
// - upward only: a norm that collapses is the vanishing detector's business;
// - samples with a non-finite value (or an l2 that overflowed) are skipped and kept out of the
//   window: the nonfinite detector reports them, and a partial norm would skew the median;
// - one alert per episode: a tensor alerts when its score first exceeds the threshold and again
//   only after a sample scores at or below it;
// - a spiking value still enters the window, so a lasting new level becomes the baseline after
//   about half a window instead of alerting forever.
class spike_detector final : public detector {
 public:
  explicit spike_detector(const detector_config &c) : m_config(c) {}
  const char *name() const override { return "spike"; }

  void on_sample(const tensor_info &info, const sample_record &r,
                 std::vector<alert> &out) override {
    if (info.kind != tensor_kind::grad) return;
    const summary &s = r.stats;
    if (s.count == 0 || s.nan + s.pos_inf + s.neg_inf > 0) return;
    double l2 = summary_finalize(s).l2;
    if (!std::isfinite(l2)) return;
    tensor_spike_state *st = tensor_state(m_states, r.tensor_id);
    if (!st) return;
    if (!st->ready) {
      st->window = robust_window(m_config.spike_window);
      st->ready = true;
    }

    robust_score sc = st->window.score(l2, m_config.spike_min_samples);
    bool spiking = sc.valid && sc.z > m_config.spike_threshold;
    if (spiking && !st->in_spike) {
      out.push_back(make_alert(
          r, info, alert_type::spike,
          format_text("gradient norm spike in %s: l2 %s", info.name.c_str(),
                      describe_jump(l2, sc, st->window.size(), "samples", m_config.spike_threshold)
                          .c_str())));
    }
    st->in_spike = spiking;
    st->window.push(l2);
  }

 private:
  struct tensor_spike_state {
    robust_window window;
    bool ready = false;
    bool in_spike = false;
  };

  detector_config m_config;
  std::vector<tensor_spike_state> m_states;  // by tensor id
};

}  // namespace

std::unique_ptr<detector> make_spike_detector(const detector_config &config) {
  return std::make_unique<spike_detector>(config);
}

}  // namespace ttap
