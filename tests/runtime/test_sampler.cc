// The sampler on its own, with a made-up clock: every N steps, the minimum interval, the budget's
// stride arithmetic, a stalled sample's bounded effect, and the group grid.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "runtime/sampler.h"

namespace ttap {
namespace {

constexpr int64_t kMs = 1'000'000;

session_config config_with(int64_t every, double interval_ms, double budget) {
  session_config c;
  c.every = every;
  c.interval_ms = interval_ms;
  c.budget = budget;
  return c;
}

// Steps `first`..`last`, one every `step_ns`, each sample costing `cost_ns`; the steps sampled.
std::vector<int64_t> sampled_steps(sampler &s, int64_t first, int64_t last, int64_t step_ns,
                                   int64_t cost_ns) {
  std::vector<int64_t> taken;
  for (int64_t step = first; step <= last; ++step) {
    const int64_t now = step * step_ns;
    if (s.due(step, now)) {
      s.sample_taken(step, now, cost_ns);
      taken.push_back(step);
    }
  }
  return taken;
}

TEST(Sampler, EveryNthStepWithoutBudget) {
  sampler s(config_with(3, 0, 0));
  EXPECT_EQ(sampled_steps(s, 0, 10, kMs, 1'000'000'000),  // a huge cost changes nothing: no budget
            (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(s.stride(), 3);
}

TEST(Sampler, StrideCountsFromTheLastSampleNotFromZero) {
  sampler s(config_with(4, 0, 0));
  // The first step seen is due whatever its number; the next one `every` steps after it.
  EXPECT_EQ(sampled_steps(s, 5, 14, kMs, 1000), (std::vector<int64_t>{5, 9, 13}));
}

TEST(Sampler, MinimumIntervalBetweenSamples) {
  sampler s(config_with(1, 10, 0));
  // Steps 3 ms apart: a sample at most every 10 ms, i.e. at steps 0, 4 (12 ms), 8 (24 ms).
  EXPECT_EQ(sampled_steps(s, 0, 9, 3 * kMs, 1000), (std::vector<int64_t>{0, 4, 8}));
}

TEST(Sampler, BudgetStretchesTheStride) {
  // 1 ms steps, 55 us per sample, budget 1 %: a sample pays for itself over
  // ceil(55 us / (0.01 * 1 ms)) = 6 steps.
  sampler s(config_with(1, 0, 0.01));
  const auto taken = sampled_steps(s, 0, 30, kMs, 55'000);
  EXPECT_EQ(s.stride(), 6);
  // Step 0 samples before any step time is known (stride 1), step 1 too, then every 6th step.
  EXPECT_EQ(taken, (std::vector<int64_t>{0, 1, 7, 13, 19, 25}));
  EXPECT_NEAR(s.overhead_seconds(), 6 * 55e-6, 1e-12);
  EXPECT_NEAR(s.step_seconds(), 30e-3, 1e-12);
}

TEST(Sampler, BudgetNeverGoesBelowEvery) {
  // A sample far cheaper than the budget allows: the stride stays `every`.
  sampler s(config_with(5, 0, 0.5));
  EXPECT_EQ(sampled_steps(s, 0, 20, kMs, 1000), (std::vector<int64_t>{0, 5, 10, 15, 20}));
  EXPECT_EQ(s.stride(), 5);
}

TEST(Sampler, OneStalledSampleMovesTheStrideByAtMostFourTimesItsCost) {
  sampler s(config_with(1, 0, 0.01));
  sampled_steps(s, 0, 20, kMs, 55'000);
  ASSERT_EQ(s.stride(), 6);
  // One sample stalled for 100 ms (the thread was preempted): counted as 4 x 55 us in the average,
  // so the stride becomes ceil((0.8 * 55 + 0.2 * 220) us / 10 us) = 9, not some 2,000 steps.
  ASSERT_TRUE(sampled_steps(s, 21, 24, kMs, 55'000).empty());
  const int64_t step = 25;  // the next due step after 19
  ASSERT_TRUE(s.due(step, step * kMs));
  s.sample_taken(step, step * kMs, 100 * kMs);
  EXPECT_EQ(s.stride(), 9);
  // The full cost is still counted as overhead.
  EXPECT_GT(s.overhead_seconds(), 0.1);
}

TEST(Sampler, GroupGridSamplesMultiplesOfTheStrideOnce) {
  sampler s(config_with(1, 0, 0));
  std::vector<int64_t> taken;
  for (int64_t step : {0, 1, 2, 3, 4, 4, 5, 8, 9, 12}) {
    if (s.due_on_grid(step, step * kMs, 4)) {
      s.sample_taken(step, step * kMs, 1000);
      taken.push_back(step);
    }
  }
  EXPECT_EQ(taken, (std::vector<int64_t>{0, 4, 8, 12}));
  EXPECT_FALSE(s.due_on_grid(16, 16 * kMs, 0));  // the group is off: stride 0 is never due
}

TEST(Sampler, DesiredStrideCoversTheInterval) {
  // 2 ms steps, interval 10 ms: a group should sample every 5 steps at least.
  sampler s(config_with(1, 10, 0));
  sampled_steps(s, 0, 20, 2 * kMs, 1000);
  EXPECT_EQ(s.desired_stride(), 5);
  EXPECT_NEAR(s.mean_step_seconds(), 2e-3, 1e-9);
}

}  // namespace
}  // namespace ttap
