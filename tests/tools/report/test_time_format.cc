// Start times and durations as the report, ls and watch show them, for any double a store may
// hold: a foreign or damaged store's 1e300 or infinity is shown as such, never converted to an
// integer it does not fit (undefined behaviour; fuzz_store found it in format_duration).
#include <gtest/gtest.h>

#include <limits>

#include "tools/report/run_digest.h"

namespace ttap::report {
namespace {

TEST(TimeFormat, DurationsOfOrdinaryRuns) {
  EXPECT_EQ(format_duration(2.5), "2.50 s");
  EXPECT_EQ(format_duration(75), "1 min 15 s");
  EXPECT_EQ(format_duration(3 * 3600 + 5 * 60), "3 h 05 min");
  EXPECT_EQ(format_duration(-4), "0.00 s");
}

TEST(TimeFormat, DurationsBeyondAnyRunAreShownInSeconds) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(format_duration(3.46638e+84 * 60), "2.08e+86 s");
  EXPECT_EQ(format_duration(inf), "inf s");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::quiet_NaN()), "0.00 s");
  EXPECT_EQ(format_duration(1e15), "1e+15 s");
}

TEST(TimeFormat, StartTimesOutOfRangeAreNamedSo) {
  EXPECT_EQ(format_utc(0), "1970-01-01 00:00:00 UTC");
  EXPECT_EQ(format_utc(1e300), "(time out of range)");
  EXPECT_EQ(format_utc(-std::numeric_limits<double>::infinity()), "(time out of range)");
  EXPECT_EQ(format_utc(std::numeric_limits<double>::quiet_NaN()), "(time out of range)");
}

}  // namespace
}  // namespace ttap::report
