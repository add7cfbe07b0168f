// loss_spike: the logged scalar named "loss" jumping far above its recent values, or turning
// non-finite. The loss is what the user watches; this catches a jump between two glances.
#include <cmath>
#include <vector>

#include "runtime/detectors/detector.h"
#include "runtime/detectors/detector_support.h"
#include "runtime/detectors/robust_window.h"

namespace ttap {
namespace {

// Rules:
// - only the scalar named exactly "loss";
// - the score is the gradient spike's: robust z against the median/MAD of the last `spike_window`
//   finite values, after `spike_min_samples` of them, threshold `loss_spike_threshold`;
// - upward only: a loss that falls fast is training going well;
// - one alert per episode, as for gradient spikes; a spiking value enters the window;
// - a NaN or infinite loss alerts at once, whatever the window holds, once per run of non-finite
//   values (a finite loss re-arms it), and stays out of the window.
class loss_spike_detector final : public detector {
 public:
  explicit loss_spike_detector(const detector_config &c) : m_config(c), m_window(c.spike_window) {}
  const char *name() const override { return "loss_spike"; }

  void on_sample(const tensor_info &, const sample_record &, std::vector<alert> &) override {}

  void on_scalar(const scalar_record &r, std::vector<alert> &out) override {
    if (r.name != "loss") return;
    double x = r.value;
    if (!std::isfinite(x)) {
      if (!m_nonfinite) {
        const char *kind = std::isnan(x) ? "NaN" : (x > 0 ? "+Inf" : "-Inf");
        out.push_back(make_alert(r, alert_type::loss_spike,
                                 format_text("loss is %s (non-finite loss)", kind)));
      }
      m_nonfinite = true;
      return;
    }
    m_nonfinite = false;

    robust_score sc = m_window.score(x, m_config.spike_min_samples);
    bool spiking = sc.valid && sc.z > m_config.loss_spike_threshold;
    if (spiking && !m_in_spike) {
      out.push_back(make_alert(
          r, alert_type::loss_spike,
          format_text("loss spike: %s",
                      describe_jump(x, sc, m_window.size(), "values", m_config.loss_spike_threshold)
                          .c_str())));
    }
    m_in_spike = spiking;
    m_window.push(x);
  }

 private:
  detector_config m_config;
  robust_window m_window;
  bool m_in_spike = false;
  bool m_nonfinite = false;
};

}  // namespace

std::unique_ptr<detector> make_loss_spike_detector(const detector_config &config) {
  return std::make_unique<loss_spike_detector>(config);
}

}  // namespace ttap
