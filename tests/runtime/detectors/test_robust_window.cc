// robust_window against the selection it replaced (copy the window, nth_element for the median and
// again for the MAD): the same median, scale and z, bit for bit, for odd and even sizes, ties, a
// window that has wrapped many times, and values of mixed signs and magnitudes.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "runtime/detectors/robust_window.h"

namespace ttap {
namespace {

double reference_median(std::vector<double> &v) {
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double upper = v[mid];
  if (v.size() % 2) return upper;
  double lower = *std::max_element(v.begin(), v.begin() + mid);
  return 0.5 * (lower + upper);
}

robust_score reference_score(const std::deque<double> &window, double x) {
  robust_score s;
  std::vector<double> v(window.begin(), window.end());
  s.median = reference_median(v);
  for (double &d : v) d = std::fabs(d - s.median);
  double mad = reference_median(v);
  s.scale = std::max(robust_window::kMadToSigma * mad,
                     robust_window::kRelativeScaleFloor * std::fabs(s.median));
  if (!(s.scale > 0)) return s;
  s.z = (x - s.median) / s.scale;
  s.valid = std::isfinite(s.z);
  return s;
}

uint64_t bits(double d) { return std::bit_cast<uint64_t>(d); }

TEST(RobustWindow, ScoresMatchTheSelectionBitForBit) {
  std::mt19937_64 rng(19);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> small(-3, 3);
  int compared = 0;
  for (int capacity : {1, 2, 3, 4, 5, 8, 9, 50, 51}) {
    for (int series = 0; series < 4; ++series) {
      robust_window w(capacity);
      std::deque<double> window;
      for (int i = 0; i < 6 * capacity + 20; ++i) {
        double x = series == 0   ? std::exp(normal(rng))  // l2-like, positive
                   : series == 1 ? double(small(rng))     // many ties, zeros
                   : series == 2 ? normal(rng) * 1e-300   // tiny, subnormal deviations
                                 : normal(rng) * std::exp2(40 * normal(rng));  // wild magnitudes
        if (!window.empty()) {
          robust_score got = w.score(x, 1);
          robust_score want = reference_score(window, x);
          ASSERT_EQ(got.valid, want.valid) << "capacity " << capacity << " push " << i;
          ASSERT_EQ(bits(got.median), bits(want.median))
              << "capacity " << capacity << " push " << i;
          ASSERT_EQ(bits(got.scale), bits(want.scale)) << "capacity " << capacity << " push " << i;
          ASSERT_EQ(bits(got.z), bits(want.z)) << "capacity " << capacity << " push " << i;
          ++compared;
        }
        w.push(x);
        window.push_back(x);
        if (int(window.size()) > capacity) window.pop_front();
        ASSERT_EQ(w.size(), int(window.size()));
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

TEST(RobustWindow, InvalidBeforeMinSamples) {
  robust_window w(10);
  for (int i = 0; i < 4; ++i) w.push(1.0 + i);
  EXPECT_FALSE(w.score(100.0, 5).valid);
  w.push(5.0);
  EXPECT_TRUE(w.score(100.0, 5).valid);
}

}  // namespace
}  // namespace ttap
