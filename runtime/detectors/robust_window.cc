// Rolling median/MAD for the spike detectors. A score runs for every gradient of every sample, so
// the window keeps a sorted copy (one memmove per push) instead of copying and partially sorting
// twice per score; the result is the same order statistics, bit for bit.
#include "runtime/detectors/robust_window.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "runtime/detectors/detector_support.h"

namespace ttap {
namespace {

// Median of v (reordered in place); v is not empty.
double median_of(std::vector<double> &v) {
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double upper = v[mid];
  if (v.size() % 2) return upper;
  // Even size: nth_element leaves the lower half before mid, so its largest is the other middle.
  double lower = *std::max_element(v.begin(), v.begin() + mid);
  return 0.5 * (lower + upper);
}

}  // namespace

void robust_window::push(double x) {
  if (m_values.empty()) {
    m_values.reserve(size_t(m_capacity));
    m_sorted.reserve(size_t(m_capacity));
  }
  if (int(m_values.size()) < m_capacity) {
    m_values.push_back(x);
  } else {
    double &oldest = m_values[size_t(m_head)];
    m_sorted.erase(std::lower_bound(m_sorted.begin(), m_sorted.end(), oldest));
    oldest = x;
    m_head = (m_head + 1) % m_capacity;
  }
  m_sorted.insert(std::upper_bound(m_sorted.begin(), m_sorted.end(), x), x);
}

robust_score robust_window::score(double x, int min_samples) const {
  robust_score s;
  if (m_values.empty() || size() < min_samples) return s;
  const std::vector<double> &v = m_sorted;
  const size_t n = v.size(), mid = n / 2;
  // The same expressions median_of evaluates on a selection, so the same bits.
  s.median = n % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
  // |v - median| ascends walking down from mid - 1 and up from mid (every value below mid is at
  // most the median, every one from mid on at least it, and rounding is monotone): merging the two
  // walks yields the deviations in ascending order, so the MAD is the merge's element mid (and mid
  // - 1).
  std::ptrdiff_t down = std::ptrdiff_t(mid) - 1;
  size_t up = mid;
  double previous = 0, current = 0;
  for (size_t k = 0; k <= mid; ++k) {
    const double below = down >= 0 ? std::fabs(v[size_t(down)] - s.median) : HUGE_VAL;
    const double above = up < n ? std::fabs(v[up] - s.median) : HUGE_VAL;
    previous = current;
    if (down >= 0 && (up >= n || below <= above)) {
      current = below;
      --down;
    } else {
      current = above;
      ++up;
    }
  }
  const double mad = n % 2 ? current : 0.5 * (previous + current);
  s.scale = std::max(kMadToSigma * mad, kRelativeScaleFloor * std::fabs(s.median));
  if (!(s.scale > 0)) return s;
  s.z = (x - s.median) / s.scale;
  s.valid = std::isfinite(s.z);
  return s;
}

robust_center robust_center_of(std::vector<double> &values, double min_scale) {
  robust_center c;
  c.median = median_of(values);
  for (double &v : values) v = std::fabs(v - c.median);
  c.scale = std::max(robust_window::kMadToSigma * median_of(values), min_scale);
  return c;
}

std::string describe_jump(double x, const robust_score &s, int window_size, const char *what,
                          double threshold) {
  if (s.median > 0)
    return format_text(
        "%.4g is %.1fx the median %.4g of the last %d %s (robust z %.1f, threshold %g)", x,
        x / s.median, s.median, window_size, what, s.z, threshold);
  return format_text("%.4g against the median %.4g of the last %d %s (robust z %.1f, threshold %g)",
                     x, s.median, window_size, what, s.z, threshold);
}

}  // namespace ttap
