// The group detectors on hand-made group samples: nonfinite_source, divergence, outlier_rank,
// straggler, each with the case it must catch, the cases it must leave alone, and its repeats.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/detectors/detector.h"

namespace ttap {
namespace {

// A group sample of `world` ranks (labels 0..world-1, all present) over tensors with these roles;
// every cell starts finite with l2 1, the same fingerprint, step time 0.1 s.
struct sample_builder {
  group_sample g;
  std::vector<tensor_info> tensors;

  sample_builder(int world, std::vector<tensor_role> roles, int64_t step = 10) {
    g.step = step;
    g.time = 1.7e9;
    for (int r = 0; r < world; ++r) g.ranks.push_back({r, true, 0.1});
    g.roles = roles;
    for (size_t t = 0; t < roles.size(); ++t) {
      g.tensor_ids.push_back(int32_t(t));
      tensor_info info;
      info.id = int32_t(t);
      info.name = "t" + std::to_string(t);
      tensors.push_back(info);
    }
    g.cells.resize(roles.size() * size_t(world));
    for (auto &c : g.cells) {
      c.l2 = 1.0;
      c.sum_sq = 1.0;
      c.has_fingerprint = true;
      c.fingerprint = 0xabc;
    }
  }
  rank_tensor_record &cell(size_t t, size_t r) { return g.cells[t * g.ranks.size() + r]; }
};

std::vector<alert> feed(group_detector &d, const sample_builder &b) {
  std::vector<alert> out;
  d.on_group_sample(b.g, b.tensors, out);
  return out;
}

std::unique_ptr<group_detector> detector_named(const char *name,
                                               const detector_config &config = {}) {
  for (auto &d : make_group_detectors(config))
    if (std::string(d->name()) == name) return std::move(d);
  return nullptr;
}

TEST(GroupDetectors, SetInOrder) {
  auto ds = make_group_detectors(detector_config{});
  const char *expected[] = {"nonfinite_source", "divergence", "outlier_rank", "straggler"};
  ASSERT_EQ(ds.size(), std::size(expected));
  for (size_t i = 0; i < ds.size(); ++i) EXPECT_EQ(std::string(ds[i]->name()), expected[i]);
}

TEST(NonfiniteSource, NamesTheOnlyRankHoldingNaNOnce) {
  auto d = detector_named("nonfinite_source");
  sample_builder clean(4, {tensor_role::replicated, tensor_role::contribution});
  EXPECT_TRUE(feed(*d, clean).empty());
  sample_builder b(4, {tensor_role::replicated, tensor_role::contribution});
  b.cell(1, 2).nonfinite = 5;
  auto alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type, alert_type::nonfinite_source);
  EXPECT_EQ(alerts[0].rank, 2);
  EXPECT_EQ(alerts[0].tensor, "t1");
  EXPECT_EQ(alerts[0].tensor_id, 1);
  EXPECT_EQ(alerts[0].step, 10);
  EXPECT_NE(alerts[0].message.find("first seen on rank 2 only: 5 in t1"), std::string::npos)
      << alerts[0].message;
  // Later samples, NaN everywhere after the all-reduce: the source was already named.
  for (size_t r = 0; r < 4; ++r) b.cell(0, r).nonfinite = 1;
  EXPECT_TRUE(feed(*d, b).empty());
}

TEST(NonfiniteSource, SeveralSourcesOrEveryRankAtOnce) {
  auto d = detector_named("nonfinite_source");
  sample_builder b(4, {tensor_role::contribution});
  b.cell(0, 1).nonfinite = 1;
  b.cell(0, 3).nonfinite = 2;
  auto alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 1);
  EXPECT_NE(alerts[0].message.find("first seen on ranks 1 and 3"), std::string::npos)
      << alerts[0].message;

  auto e = detector_named("nonfinite_source");
  for (size_t r = 0; r < 4; ++r) b.cell(0, r).nonfinite = 1;
  alerts = feed(*e, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].message.find("every rank at once"), std::string::npos) << alerts[0].message;

  // An absent rank is not counted as finite: with one present rank there is no telling.
  auto f = detector_named("nonfinite_source");
  sample_builder lone(2, {tensor_role::contribution});
  lone.g.ranks[1].present = false;
  lone.cell(0, 0).nonfinite = 1;
  EXPECT_TRUE(feed(*f, lone).empty());
}

TEST(Divergence, MajorityVoteNamesTheCorruptedReplicaOnce) {
  auto d = detector_named("divergence");
  sample_builder b(5, {tensor_role::replicated, tensor_role::contribution, tensor_role::sharded});
  // Contributions and shards differ by design: never compared.
  for (size_t r = 0; r < 5; ++r) {
    b.cell(1, r).fingerprint = r;
    b.cell(2, r).fingerprint = 100 + r;
  }
  EXPECT_TRUE(feed(*d, b).empty());
  b.cell(0, 3).fingerprint = 0xdef;
  auto alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type, alert_type::divergence);
  EXPECT_EQ(alerts[0].rank, 3);
  EXPECT_EQ(alerts[0].tensor, "t0");
  EXPECT_EQ(alerts[0].message.rfind("silent data corruption suspected on rank 3: ", 0), 0u)
      << alerts[0].message;
  EXPECT_NE(alerts[0].message.find("differs from the 4 other replicas"), std::string::npos);
  // The same replica still differs at the next sample: no repeat.
  EXPECT_TRUE(feed(*d, b).empty());
  // Another rank goes astray as well (3 of 5 still agree): a new alert naming both.
  b.cell(0, 1).fingerprint = 0x123;
  alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].message.find("on ranks 1 and 3"), std::string::npos) << alerts[0].message;
  // Back in agreement, then a new divergence alerts again.
  b.cell(0, 1).fingerprint = b.cell(0, 3).fingerprint = 0xabc;
  EXPECT_TRUE(feed(*d, b).empty());
  b.cell(0, 2).fingerprint = 0x9;
  alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 2);
}

TEST(Divergence, NoMajorityIsSaidAsSuch) {
  auto d = detector_named("divergence");
  sample_builder b(4, {tensor_role::replicated});
  b.cell(0, 2).fingerprint = b.cell(0, 3).fingerprint = 0x5;
  auto alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].message.find("no majority"), std::string::npos) << alerts[0].message;
  // Two ranks: one against one is no majority either.
  auto e = detector_named("divergence");
  sample_builder two(2, {tensor_role::replicated});
  two.cell(0, 1).fingerprint = 0x5;
  alerts = feed(*e, two);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].message.find("no majority"), std::string::npos);
}

TEST(OutlierRank, ARankFarFromTheMedianContributionIsNamed) {
  auto d = detector_named("outlier_rank");
  sample_builder b(4,
                   {tensor_role::contribution, tensor_role::contribution, tensor_role::replicated});
  // Ordinary spread between ranks (each has its own batch): nothing.
  const double spread[4] = {1.0, 1.2, 0.85, 1.1};
  for (size_t r = 0; r < 4; ++r) b.cell(0, r).l2 = b.cell(1, r).l2 = spread[r];
  EXPECT_TRUE(feed(*d, b).empty());
  // Rank 1's second gradient is 50x: its contribution norm stands out.
  b.cell(1, 1).l2 = 60.0;
  b.cell(2, 1).l2 = 1e6;  // a replicated tensor's norm is not a contribution: ignored
  auto alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type, alert_type::outlier_rank);
  EXPECT_EQ(alerts[0].rank, 1);
  EXPECT_EQ(alerts[0].tensor, "t1");  // the tensor most off for that rank
  EXPECT_NE(alerts[0].message.find("rank 1's contribution norm"), std::string::npos)
      << alerts[0].message;
  EXPECT_TRUE(feed(*d, b).empty());  // still out: said once
  // A rank contributing nothing at all (a dead data loader) is an outlier too.
  b.cell(1, 1).l2 = 1.2;
  EXPECT_TRUE(feed(*d, b).empty());
  b.cell(0, 3).l2 = b.cell(1, 3).l2 = 0.0;
  alerts = feed(*d, b);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 3);
}

TEST(OutlierRank, NeedsThreeRanksAndLeavesNaNRanksToNonfiniteSource) {
  auto d = detector_named("outlier_rank");
  sample_builder two(2, {tensor_role::contribution});
  two.cell(0, 1).l2 = 1000.0;
  EXPECT_TRUE(feed(*d, two).empty());
  sample_builder four(4, {tensor_role::contribution});
  four.cell(0, 2).l2 = 1000.0;
  four.cell(0, 2).nonfinite = 1;
  EXPECT_TRUE(feed(*d, four).empty());
}

TEST(Straggler, ASteadilySlowerRankIsNamedNotOneSlowStep) {
  auto d = detector_named("straggler");
  std::vector<alert> alerts;
  // One slow step of rank 0 (a checkpoint): the medians over recent samples do not move.
  for (int i = 0; i < 6; ++i) {
    sample_builder b(4, {tensor_role::contribution}, i);
    if (i == 3) b.g.ranks[0].step_seconds = 2.0;
    auto a = feed(*d, b);
    alerts.insert(alerts.end(), a.begin(), a.end());
  }
  EXPECT_TRUE(alerts.empty());
  // Rank 2 becomes 3x slower and stays so: named once its recent median moves.
  for (int i = 6; i < 16; ++i) {
    sample_builder b(4, {tensor_role::contribution}, i);
    b.g.ranks[2].step_seconds = 0.3;
    auto a = feed(*d, b);
    alerts.insert(alerts.end(), a.begin(), a.end());
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type, alert_type::straggler);
  EXPECT_EQ(alerts[0].rank, 2);
  EXPECT_EQ(alerts[0].tensor_id, -1);
  EXPECT_NE(alerts[0].message.find("rank 2 is a straggler"), std::string::npos);
}

TEST(Straggler, RanksThatAreOnlyAFewPercentApartAreNotStragglers) {
  auto d = detector_named("straggler");
  for (int i = 0; i < 20; ++i) {
    sample_builder b(4, {tensor_role::contribution}, i);
    for (size_t r = 0; r < 4; ++r) b.g.ranks[r].step_seconds = 0.1 * (1.0 + 0.08 * double(r));
    EXPECT_TRUE(feed(*d, b).empty()) << i;
  }
}

// Millisecond steps on a loaded host: a rank the scheduler keeps waiting is several times slower
// than the others, yet costs the group only milliseconds per step; that is noise, not a straggler.
// The same ratio on steps long enough to matter is one.
TEST(Straggler, MillisecondsOfSchedulerNoiseAreNotAStraggler) {
  auto run = [](double base_seconds, double slow_seconds) {
    auto d = detector_named("straggler");
    std::vector<alert> alerts;
    for (int i = 0; i < 12; ++i) {
      sample_builder b(4, {tensor_role::contribution}, i);
      for (auto &r : b.g.ranks) r.step_seconds = base_seconds;
      b.g.ranks[1].step_seconds = slow_seconds;
      auto a = feed(*d, b);
      alerts.insert(alerts.end(), a.begin(), a.end());
    }
    return alerts;
  };
  EXPECT_TRUE(run(0.002, 0.012).empty());  // 6x slower, 10 ms per step over the median
  EXPECT_TRUE(run(0.002, 0.045).empty());  // 22x slower, still under the 50 ms margin
  auto alerts = run(0.002, 0.3);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 1);
  EXPECT_EQ(run(0.1, 0.6).size(), 1u);  // the same ratio on 100 ms steps
}

// The other ranks' step times spread under contention (a wider scale, a lower z) while the
// straggler stays as slow: it is named once, not again each time z crosses the threshold.
TEST(Straggler, NamedOnceWhileTheOthersSpreadUnderContention) {
  auto d = detector_named("straggler");
  std::vector<alert> alerts;
  for (int i = 0; i < 20; ++i) {
    sample_builder b(4, {tensor_role::contribution}, i);
    const bool spread = i >= 6 && i % 2 == 0;
    b.g.ranks[0].step_seconds = 0.004;
    b.g.ranks[2].step_seconds = spread ? 0.002 : 0.004;
    b.g.ranks[3].step_seconds = spread ? 0.012 : 0.004;
    b.g.ranks[1].step_seconds = 0.3;
    auto a = feed(*d, b);
    alerts.insert(alerts.end(), a.begin(), a.end());
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 1);
}

}  // namespace
}  // namespace ttap
