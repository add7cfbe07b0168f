// fp8_range: tensors that would lose much of their content if cast to fp8 e4m3, read off the
// exponent histogram, so fp8 readiness is known before trying it.
#include <vector>

#include "runtime/detectors/detector.h"
#include "runtime/detectors/detector_support.h"

namespace ttap {
namespace {

// e4m3's range in histogram bins (summary.h): values below 2^-9 flush to zero (its smallest
// subnormal is 2^-9), values from 2^9 up are past its largest finite value, 448.
constexpr int kE4m3LowestBin = -9;
constexpr int kE4m3HighestBin = 8;

// Sum of hist[begin, end), the bounds clamped to the histogram.
uint64_t hist_mass(const uint64_t *hist, int begin, int end = kExpHistBins) {
  begin = begin < 0 ? 0 : begin;
  end = end > kExpHistBins ? kExpHistBins : end;
  uint64_t n = 0;
  for (int i = begin; i < end; ++i) n += hist[i];
  return n;
}

// Rules:
// - every kind: fp8 recipes cast weights, activations and gradients alike;
// - fractions are of the finite nonzero values (zeros and non-finite values survive any cast or
//   are someone else's alert);
// - underflow is judged *after* per-tensor amax scaling (the standard fp8 recipe: the largest
//   magnitude is scaled to e4m3's top binade), so it flags tensors whose values span more binades
//   than e4m3 holds, which no scale can fix; small gradients that a scale would lift are not
//   flagged (every gradient of every model would be, unscaled);
// - overflow is judged unscaled: values past 448 in a tensor cast as it is;
// - underflow above `fp8_underflow_threshold` and overflow above `fp8_overflow_threshold` are
//   separate risks, each alerted at most once per tensor per run: the tensor's range is a property
//   of the model, and repeating it every step would drown every other alert.
class fp8_range_detector final : public detector {
 public:
  explicit fp8_range_detector(const detector_config &c) : m_config(c) {}
  const char *name() const override { return "fp8_range"; }

  void on_sample(const tensor_info &info, const sample_record &r,
                 std::vector<alert> &out) override {
    const summary &s = r.stats;
    if (s.count == s.zero + s.nan + s.pos_inf + s.neg_inf) return;  // no finite nonzero value
    uint8_t *alerted = tensor_state(m_alerted, r.tensor_id);
    if (!alerted || (*alerted & (kUnderflow | kOverflow)) == (kUnderflow | kOverflow)) return;

    // The same fractions as fp8_risk_from_hist (unscaled, and scaled so the top bin lands on
    // e4m3's), as sums over contiguous bin ranges: the collector ran this for every record of
    // every sample, and the two full passes with a condition per bin were a tenth of its time.
    int top = kExpHistMax;
    while (top > kExpHistMin && s.exp_hist[top - kExpHistMin] == 0) --top;
    const int lo = kE4m3LowestBin - kExpHistMin, hi = kE4m3HighestBin - kExpHistMin + 1;
    const uint64_t below = hist_mass(s.exp_hist, 0, lo), above = hist_mass(s.exp_hist, hi);
    const uint64_t total = below + hist_mass(s.exp_hist, lo, hi) + above;
    if (total == 0) return;
    // Scaled by 2^(kE4m3HighestBin - top): bin i lands below e4m3 when i < lo - that shift.
    const uint64_t scaled_below = hist_mass(s.exp_hist, 0, lo - (kE4m3HighestBin - top));
    const fp8_risk risk{double(below) / double(total), double(above) / double(total)};
    const fp8_risk scaled{double(scaled_below) / double(total), 0.0};
    if (!(*alerted & kUnderflow) && scaled.underflow > m_config.fp8_underflow_threshold) {
      *alerted |= kUnderflow;
      out.push_back(make_alert(
          r, info, alert_type::fp8_range,
          format_text("fp8 e4m3 range risk in %s: %.1f%% of nonzero values lie more than 2^%d "
                      "below its largest (2^%d) and would flush to zero even with amax scaling "
                      "(threshold %g%%)",
                      info.name.c_str(), 100.0 * scaled.underflow, kE4m3HighestBin - kE4m3LowestBin,
                      top, 100.0 * m_config.fp8_underflow_threshold)));
    }
    if (!(*alerted & kOverflow) && risk.overflow > m_config.fp8_overflow_threshold) {
      *alerted |= kOverflow;
      out.push_back(make_alert(
          r, info, alert_type::fp8_range,
          format_text("fp8 e4m3 overflow risk in %s: %.2g%% of nonzero values are at or above "
                      "2^9, past e4m3's largest value 448, unscaled (threshold %g%%)",
                      info.name.c_str(), 100.0 * risk.overflow,
                      100.0 * m_config.fp8_overflow_threshold)));
    }
  }

 private:
  static constexpr uint8_t kUnderflow = 1;
  static constexpr uint8_t kOverflow = 2;

  detector_config m_config;
  std::vector<uint8_t> m_alerted;  // by tensor id: kUnderflow | kOverflow once alerted
};

}  // namespace

std::unique_ptr<detector> make_fp8_range_detector(const detector_config &config) {
  return std::make_unique<fp8_range_detector>(config);
}

}  // namespace ttap
