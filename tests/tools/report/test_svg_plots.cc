// Axis ticks of the HTML report's plots on every finite range a run can produce: a bounded number
// of distinct ascending ticks inside the range, so a diverged loss (-1e20 moving by 16384) or step
// counters near 2^63 can neither hang the report nor overflow.
#include <gtest/gtest.h>

#include <cfloat>
#include <chrono>
#include <cmath>
#include <limits>

#include "tools/report/svg_plots.h"

namespace ttap::report {
namespace {

// Ticks ascend, are distinct, lie in [lo, hi] up to rounding, and are at most 2 * wanted + 2.
void expect_sane_ticks(double lo, double hi, int wanted) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<double> ticks = axis_ticks(lo, hi, wanted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << lo << " " << hi;
  ASSERT_FALSE(ticks.empty()) << lo << " " << hi;
  EXPECT_LE(ticks.size(), size_t(2 * wanted + 2)) << lo << " " << hi;
  const double slack = std::max(std::abs(lo), std::abs(hi)) * 1e-12;
  for (size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_TRUE(std::isfinite(ticks[i]));
    EXPECT_GE(ticks[i], lo - slack) << lo << " " << hi;
    EXPECT_LE(ticks[i], hi + slack) << lo << " " << hi;
    if (i) {
      EXPECT_GT(ticks[i], ticks[i - 1]) << lo << " " << hi;
    }
  }
}

TEST(AxisTicks, OrdinaryRangesGiveNiceSteps) {
  EXPECT_EQ(axis_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(axis_ticks(-1, 1, 4), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(axis_ticks(0.3, 0.3, 5), (std::vector<double>{0.3}));
  EXPECT_EQ(axis_ticks(2, 1, 5), (std::vector<double>{2}));
  EXPECT_TRUE(axis_ticks(0, INFINITY, 5).empty());
  EXPECT_TRUE(axis_ticks(NAN, 1, 5).empty());
}

TEST(AxisTicks, EveryFiniteRangeIsBounded) {
  // The hang: values near -1e20 that differ by 16384 (one ulp), with the 5% headroom.
  expect_sane_ticks(-1e20, -1e20 + 16384 + 0.05 * 16384, 5);
  expect_sane_ticks(-1e20, std::nextafter(-1e20, 0.0), 5);
  // Steps near 2^62 as doubles.
  expect_sane_ticks(0x1p62, 0x1p62 + 4096, 8);
  expect_sane_ticks(0x1p62, std::nextafter(0x1p62, INFINITY), 8);
  expect_sane_ticks(-1e300, 1e300, 5);
  expect_sane_ticks(-DBL_MAX, DBL_MAX, 5);
  expect_sane_ticks(0, DBL_MAX, 5);
  expect_sane_ticks(-DBL_MAX, 0, 5);
  expect_sane_ticks(0, std::numeric_limits<double>::denorm_min(), 5);
  expect_sane_ticks(0, 4 * std::numeric_limits<double>::denorm_min(), 5);
  expect_sane_ticks(1e-300, 2e-300, 5);
  expect_sane_ticks(1.0, std::nextafter(1.0, 2.0), 5);
  expect_sane_ticks(1e300, std::nextafter(1e300, INFINITY), 5);
  expect_sane_ticks(-5e-324, 5e-324, 1);
}

// Ticks are exact step numbers inside [lo, hi], ascending, at most wanted + 2 of them.
void expect_sane_step_ticks(int64_t lo, int64_t hi, int wanted) {
  const std::vector<int64_t> ticks = step_ticks(lo, hi, wanted);
  ASSERT_FALSE(ticks.empty());
  EXPECT_LE(ticks.size(), size_t(wanted + 2)) << lo << " " << hi;
  for (size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_GE(ticks[i], lo);
    EXPECT_LE(ticks[i], hi);
    if (i) {
      EXPECT_GT(ticks[i], ticks[i - 1]);
    }
  }
}

TEST(StepTicks, ExactOverTheWholeInt64Range) {
  EXPECT_EQ(step_ticks(0, 29, 8), (std::vector<int64_t>{0, 5, 10, 15, 20, 25}));
  EXPECT_EQ(step_ticks(-7, 7, 3), (std::vector<int64_t>{-5, 0, 5}));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(step_ticks(kMax, kMax, 8), (std::vector<int64_t>{kMax}));
  EXPECT_EQ(step_ticks((int64_t(1) << 62) + 3, (int64_t(1) << 62) + 5, 8),
            (std::vector<int64_t>{(int64_t(1) << 62) + 3, (int64_t(1) << 62) + 4,
                                  (int64_t(1) << 62) + 5}));
  expect_sane_step_ticks(kMax - 1000, kMax, 8);
  expect_sane_step_ticks(kMin, kMax, 8);
  expect_sane_step_ticks(kMin, kMin + 3, 8);
  expect_sane_step_ticks(0, kMax, 8);
  expect_sane_step_ticks(-1, kMax, 8);
}

}  // namespace
}  // namespace ttap::report
