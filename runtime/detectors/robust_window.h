// A rolling window of recent values with a robust score against it (median and MAD), shared by the
// gradient-norm spike and loss spike detectors. Internal to runtime/detectors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ttap {

// The verdict on one value against the window as it was before the value arrived.
struct robust_score {
  bool valid = false;  // false: too few values yet, or no scale to measure against
  double median = 0;
  double scale = 0;  // 1.4826 * MAD, raised to the relative floor (see robust_window::score)
  double z = 0;      // (x - median) / scale; signed, the callers decide which side they alert on
};

// Keeps the last `capacity` values in a ring, and the same values in sorted order, so a score reads
// the median directly and finds the MAD by walking outward from it: O(window) per push and per
// score, no copy, no allocation after the first push. Memory is taken on the first push, so a
// window per tensor costs nothing for tensors the detector never scores. Not thread-safe (collector
// thread).
class robust_window {
 public:
  // 1.4826 * MAD estimates the standard deviation of normally distributed data.
  static constexpr double kMadToSigma = 1.4826;
  // The smallest scale, as a fraction of |median|. A series that is constant, or nearly so, has a
  // MAD of zero and every tiny wobble would score as infinite; with this floor a flat series needs
  // a jump of threshold * 5% (40% at the default threshold 8) before it counts as a spike.
  static constexpr double kRelativeScaleFloor = 0.05;

  robust_window() = default;
  explicit robust_window(int capacity) : m_capacity(capacity > 0 ? capacity : 1) {}

  int size() const { return int(m_values.size()); }
  // x must not be NaN (the sorted copy needs an order); both detectors keep non-finite values out.
  void push(double x);

  // Scores x against the values pushed so far, without adding it. Invalid before `min_samples`
  // values, and when median and MAD are both zero (nothing to scale a deviation by).
  robust_score score(double x, int min_samples) const;

 private:
  int m_capacity = 1;
  int m_head = 0;                // next slot to overwrite once the ring is full
  std::vector<double> m_values;  // in arrival order (a ring once full)
  std::vector<double> m_sorted;  // the same values, ascending
};

// The median of `values` and 1.4826 * their MAD, at least `min_scale`: a group's values of one
// sample scored against each other (the group detectors). `values` is reordered; not empty.
struct robust_center {
  double median = 0;
  double scale = 0;
};
robust_center robust_center_of(std::vector<double> &values, double min_scale);

// "1234 is 100.0x the median 12.3 of the last 50 samples (robust z 812.4, threshold 8)": the
// shared wording of spike alerts. `what` names the unit ("samples", "values"). The ratio is left
// out when the median is not positive (a loss can be negative), where it would mislead.
std::string describe_jump(double x, const robust_score &s, int window_size, const char *what,
                          double threshold);

}  // namespace ttap
