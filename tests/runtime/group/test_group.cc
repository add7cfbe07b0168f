// The group's reduction (runtime/group): the packing through the single-process communicator (the
// path every communicator shares, NCCL's included), the round protocol over an in-process group
// of four ranks (merged summaries against the concatenated data, absent ranks, the agreed stride,
// disagreements, closing, the number of collectives), the store's per-rank tables, and
// ttap_set_group through the C API.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/group/group_packing.h"
#include "runtime/group/group_reducer.h"
#include "runtime/group/tensor_roles.h"
#include "runtime/sampler.h"
#include "runtime/store/store.h"
#include "tests/runtime/group/thread_comm.h"
#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

using testing::comm_counts;
using testing::run_ranks;
using testing::thread_comm;
using testing::thread_hub;

std::vector<float> random_data(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto &x : v) x = dist(rng);
  return v;
}

summary summarize(const std::vector<float> &v, bool fingerprint = false) {
  cpu_executor exec(cpu_executor_options{1, fingerprint, true});
  return exec.summarize(tensor_view{v.data(), dtype::f32, v.size()});
}

summary summarize_f64(const std::vector<double> &v) {
  cpu_executor exec(cpu_executor_options{1, false, true});
  return exec.summarize(tensor_view{v.data(), dtype::f64, v.size()});
}

void expect_same_except_fingerprint(const summary &got, const summary &want) {
  EXPECT_EQ(got.count, want.count);
  EXPECT_EQ(got.nan, want.nan);
  EXPECT_EQ(got.pos_inf, want.pos_inf);
  EXPECT_EQ(got.neg_inf, want.neg_inf);
  EXPECT_EQ(got.zero, want.zero);
  EXPECT_EQ(got.subnormal, want.subnormal);
  EXPECT_EQ(got.min, want.min);
  EXPECT_EQ(got.max, want.max);
  EXPECT_EQ(got.abs_max, want.abs_max);
  EXPECT_EQ(got.sum, want.sum);
  EXPECT_EQ(got.sum_abs, want.sum_abs);
  EXPECT_EQ(got.sum_sq, want.sum_sq);
  EXPECT_EQ(got.sum_sq_exp2, want.sum_sq_exp2);
  for (int i = 0; i < kExpHistBins; ++i)
    EXPECT_EQ(got.exp_hist[i], want.exp_hist[i]) << "bin " << i;
}

// ---- the single-process communicator: packing and unpacking are lossless ----

TEST(GroupPacking, SingleProcessGroupGivesBackEachSummaryExactly) {
  std::vector<float> a = random_data(5000, 1, 0.02f);
  a[7] = NAN;
  a[8] = INFINITY;
  a[9] = -INFINITY;
  a[10] = 1e-40f;  // subnormal
  std::vector<float> empty;
  // fp64 data whose squares leave double's range: a sum_sq with its own power-of-two scale.
  std::vector<double> big = {1e200, -3e199, 2.5e201, 0.0};
  std::vector<summary> local = {summarize(a, true), summarize(empty), summarize_f64(big)};
  ASSERT_NE(local[2].sum_sq_exp2, 0);

  group_reducer reducer(make_single_comm(), 0, 1);
  std::string error;
  ASSERT_TRUE(reducer.agree_on_every(&error)) << error;
  group_proposal p;
  p.stats = local;
  p.step = 0;
  p.layout_hash = 42;
  p.step_seconds = 0.25;
  group_round r = reducer.run(p);
  ASSERT_EQ(r.kind, group_round::outcome::data) << r.message;
  EXPECT_TRUE(r.included);
  EXPECT_EQ(r.step, 0);
  EXPECT_EQ(r.layout_key, layout_key(42));
  ASSERT_EQ(r.merged.size(), 3u);
  for (size_t t = 0; t < 3; ++t) {
    SCOPED_TRACE(t);
    expect_same_except_fingerprint(r.merged[t], local[t]);
    EXPECT_EQ(r.merged[t].has_fingerprint, 0u);  // a merged tensor has no one fingerprint
  }
  ASSERT_EQ(r.ranks.size(), 1u);
  EXPECT_TRUE(r.ranks[0].present);
  EXPECT_EQ(r.ranks[0].step_seconds, 0.25);
  ASSERT_EQ(r.cells.size(), 3u);
  EXPECT_EQ(r.cells[0].nonfinite, 3u);
  EXPECT_TRUE(r.cells[0].has_fingerprint);
  EXPECT_EQ(r.cells[0].fingerprint, local[0].fingerprint);
  EXPECT_FALSE(r.cells[1].has_fingerprint);
  for (size_t t = 0; t < 3; ++t) EXPECT_EQ(r.cells[t].l2, summary_finalize(local[t]).l2) << t;
  // Finite although sum_sq itself is past double's range.
  const long double want_l2 = std::sqrt(1e400L + 9e398L + 6.25e402L);
  EXPECT_NEAR(double(r.cells[2].l2 / want_l2), 1.0, 1e-12);
  // One set-up check of `every`; then the header-and-maxima reduction twice (the tensor set is
  // new at the first sample), the sums, and the gather.
  EXPECT_EQ(reducer.allreduces(), 1u + 3u);
  EXPECT_EQ(reducer.allgathers(), 1u);
  // The next sample costs two reductions and one gather.
  p.step = 1;
  r = reducer.run(p);
  ASSERT_EQ(r.kind, group_round::outcome::data) << r.message;
  EXPECT_EQ(reducer.allreduces(), 1u + 3u + 2u);
  EXPECT_EQ(reducer.allgathers(), 2u);
}

// ---- the protocol over four in-process ranks ----

// Four reducers on one hub; round() runs one round on every rank at once.
struct four_ranks {
  static constexpr int kRanks = 4;
  std::shared_ptr<thread_hub> hub = std::make_shared<thread_hub>(kRanks);
  comm_counts counts[kRanks];
  std::vector<std::unique_ptr<group_reducer>> reducers;

  explicit four_ranks(std::vector<int64_t> every = {1, 1, 1, 1}) {
    for (int r = 0; r < kRanks; ++r)
      reducers.push_back(std::make_unique<group_reducer>(
          std::make_unique<thread_comm>(hub, r, &counts[r]), 10 + r, every[size_t(r)]));
  }
  std::vector<group_round> round(const std::vector<group_proposal> &p) {
    std::vector<group_round> out(kRanks);
    run_ranks(kRanks, [&](int r) { out[size_t(r)] = reducers[size_t(r)]->run(p[size_t(r)]); });
    return out;
  }
};

group_proposal data_at(int64_t step, const std::vector<summary> &stats, uint64_t layout = 7) {
  group_proposal p;
  p.stats = stats;
  p.step = step;
  p.layout_hash = layout;
  return p;
}

group_proposal nothing_up_to(int64_t step) {
  group_proposal p;
  p.step = step;
  return p;
}

TEST(GroupRounds, MergedSummaryIsTheSummaryOfTheConcatenatedData) {
  // Four ranks hold four parts of one gradient (different scales, one NaN on rank 2); the merged
  // summary is the summary of the whole.
  std::vector<std::vector<float>> parts;
  std::vector<float> whole;
  for (int r = 0; r < 4; ++r) {
    parts.push_back(random_data(3000 + 1000 * size_t(r), 100 + r, 0.01f * float(r + 1)));
    whole.insert(whole.end(), parts.back().begin(), parts.back().end());
  }
  parts[2][5] = NAN;
  whole[3000 + 4000 + 5] = NAN;
  std::vector<std::vector<summary>> local(4);
  for (int r = 0; r < 4; ++r) local[size_t(r)] = {summarize(parts[size_t(r)])};
  four_ranks g;
  std::vector<group_proposal> p;
  for (int r = 0; r < 4; ++r) p.push_back(data_at(0, local[size_t(r)]));
  std::vector<group_round> rounds = g.round(p);
  const summary want = summarize(whole);
  long double ref_sum_sq = 0;
  for (float x : whole)
    if (std::isfinite(x)) ref_sum_sq += (long double)x * x;
  for (int r = 0; r < 4; ++r) {
    SCOPED_TRACE(r);
    const group_round &rr = rounds[size_t(r)];
    ASSERT_EQ(rr.kind, group_round::outcome::data) << rr.message;
    EXPECT_TRUE(rr.included);
    const summary &m = rr.merged[0];
    EXPECT_EQ(m.count, want.count);
    EXPECT_EQ(m.nan, 1u);
    EXPECT_EQ(m.min, want.min);
    EXPECT_EQ(m.max, want.max);
    EXPECT_EQ(m.abs_max, want.abs_max);
    for (int i = 0; i < kExpHistBins; ++i) EXPECT_EQ(m.exp_hist[i], want.exp_hist[i]);
    // The float sums differ only by where fp32 partial sums of 16 values start (the parts split
    // the data differently): the executors' stated accuracy, 2e-6 relative.
    EXPECT_NEAR(m.sum, want.sum, 2e-6 * want.sum_abs);
    EXPECT_NEAR(m.sum_abs / want.sum_abs, 1.0, 2e-6);
    const double l2 = summary_finalize(m).l2;
    const double ref = double(std::sqrt(ref_sum_sq));
    EXPECT_NEAR(l2 / ref, 1.0, 1e-6) << "merged l2 " << l2 << ", l2 of the concatenation " << ref;
    // Per rank: its own part, labelled, in group-rank order.
    for (int q = 0; q < 4; ++q) {
      EXPECT_EQ(rr.ranks[size_t(q)].rank, 10 + q);
      EXPECT_EQ(rr.cells[size_t(q)].l2, summary_finalize(local[size_t(q)][0]).l2);
      EXPECT_EQ(rr.cells[size_t(q)].nonfinite, q == 2 ? 1u : 0u);
    }
  }
}

group_proposal with_roles(group_proposal p, const std::vector<tensor_role> &roles) {
  p.roles = roles;
  return p;
}

TEST(GroupRounds, ReplicatedTensorsMergeToOneReplicaNotTheSumOfThem) {
  // Tensor 0 is replicated (a data-parallel gradient after its all-reduce): the same data on every
  // rank; tensor 1 is each rank's contribution. Summing a replica's squares over four ranks would
  // make its l2 twice (sqrt 4) the replica's.
  const std::vector<float> replica = random_data(4000, 21, 0.03f);
  const std::vector<tensor_role> roles = {tensor_role::replicated, tensor_role::contribution};
  std::vector<std::vector<summary>> local(4);
  std::vector<float> whole;
  for (int r = 0; r < 4; ++r) {
    const std::vector<float> part = random_data(1000, 200 + uint32_t(r), 1.0f);
    whole.insert(whole.end(), part.begin(), part.end());
    local[size_t(r)] = {summarize(replica, true), summarize(part)};
  }
  const summary want_replica = summarize(replica);
  const double want_l2 = summary_finalize(want_replica).l2;
  {
    four_ranks g;
    std::vector<group_proposal> p;
    for (int r = 0; r < 4; ++r) p.push_back(with_roles(data_at(0, local[size_t(r)]), roles));
    std::vector<group_round> rounds = g.round(p);
    for (int r = 0; r < 4; ++r) {
      SCOPED_TRACE(r);
      ASSERT_EQ(rounds[size_t(r)].kind, group_round::outcome::data) << rounds[size_t(r)].message;
      const summary &m = rounds[size_t(r)].merged[0];
      // Identical replicas: exactly the replica's summary.
      expect_same_except_fingerprint(m, want_replica);
      EXPECT_NEAR(summary_finalize(m).l2 / want_l2, 1.0, 1e-12);
      // The contributions still add up to the concatenation.
      EXPECT_EQ(rounds[size_t(r)].merged[1].count, 4000u);
      EXPECT_NEAR(
          summary_finalize(rounds[size_t(r)].merged[1]).l2 / summary_finalize(summarize(whole)).l2,
          1.0, 1e-6);
    }
  }
  {
    // Rank 0 skipped the step (rank 1's replica stands for all) and rank 3's copy diverged: one
    // NaN and one value past the others' range. The merged summary is rank 1's, with the NaN
    // counted and the range covering rank 3's copy: nothing a replica holds is hidden.
    std::vector<float> diverged = replica;
    diverged[17] = NAN;
    diverged[18] = 50.0f;
    local[3][0] = summarize(diverged, true);
    four_ranks g;
    std::vector<group_proposal> p = {nothing_up_to(0)};
    for (int r = 1; r < 4; ++r) p.push_back(with_roles(data_at(0, local[size_t(r)]), roles));
    std::vector<group_round> rounds = g.round(p);
    for (int r = 0; r < 4; ++r) {
      SCOPED_TRACE(r);
      ASSERT_EQ(rounds[size_t(r)].kind, group_round::outcome::data) << rounds[size_t(r)].message;
      const summary &m = rounds[size_t(r)].merged[0];
      EXPECT_EQ(m.count, want_replica.count);
      EXPECT_EQ(m.sum, want_replica.sum);
      EXPECT_EQ(m.sum_sq, want_replica.sum_sq);
      EXPECT_EQ(m.nan, 1u);
      EXPECT_EQ(m.max, 50.0);
      EXPECT_EQ(m.abs_max, 50.0);
      EXPECT_EQ(m.min, want_replica.min);
      // The per-rank rows tell the replicas apart (the divergence detector compares these).
      EXPECT_EQ(rounds[size_t(r)].cells[0 * 4 + 1].fingerprint,
                rounds[size_t(r)].cells[0 * 4 + 2].fingerprint);
      EXPECT_NE(rounds[size_t(r)].cells[0 * 4 + 3].fingerprint,
                rounds[size_t(r)].cells[0 * 4 + 1].fingerprint);
      EXPECT_EQ(rounds[size_t(r)].cells[0 * 4 + 3].nonfinite, 1u);
      // Contributions: the three present ranks' parts.
      EXPECT_EQ(rounds[size_t(r)].merged[1].count, 3000u);
    }
  }
}

TEST(GroupRounds, ARankWithoutTheSampleIsAbsentAndTheOthersGoOn) {
  std::vector<summary> stats = {summarize(random_data(100, 5, 1.0f))};
  four_ranks g;
  // Rank 2 skipped step 0 and has got to step 3: the others' sample goes on without it.
  std::vector<group_proposal> p = {data_at(0, stats), data_at(0, stats), nothing_up_to(3),
                                   data_at(0, stats)};
  std::vector<group_round> rounds = g.round(p);
  for (int r = 0; r < 4; ++r) {
    ASSERT_EQ(rounds[size_t(r)].kind, group_round::outcome::data) << rounds[size_t(r)].message;
    EXPECT_EQ(rounds[size_t(r)].step, 0);
    EXPECT_EQ(rounds[size_t(r)].included, r != 2);
    EXPECT_FALSE(rounds[size_t(r)].ranks[2].present);
    EXPECT_EQ(rounds[size_t(r)].merged[0].count, 300u);
  }
  // Next: nobody has data up to step 3 (rank 2 said so, the others have nothing either).
  rounds = g.round({nothing_up_to(3), nothing_up_to(3), nothing_up_to(3), nothing_up_to(3)});
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::settled);
    EXPECT_EQ(g.reducers[size_t(r)]->settled(), 3);
    EXPECT_EQ(g.reducers[size_t(r)]->next_step(), 4);
  }
  // A settled round is one reduction and no gather.
  EXPECT_EQ(g.counts[0].max, 3);  // the first sample's repeat (new tensor set), the settled one
  EXPECT_EQ(g.counts[0].sum, 1);
  EXPECT_EQ(g.counts[0].gather, 1);
}

TEST(GroupRounds, TheLargestStrideAskedForAppliesToEveryRank) {
  std::vector<summary> stats = {summarize(random_data(10, 6, 1.0f))};
  four_ranks g({2, 2, 2, 2});
  std::vector<group_proposal> p(4, data_at(0, stats));
  p[1].desired_stride = 5;  // rank 1's budget wants a sample every 5 steps: 2 * 4 = 8
  std::vector<group_round> rounds = g.round(p);
  for (int r = 0; r < 4; ++r) {
    ASSERT_EQ(rounds[size_t(r)].kind, group_round::outcome::data);
    EXPECT_EQ(g.reducers[size_t(r)]->stride(), 8);
    EXPECT_EQ(g.reducers[size_t(r)]->next_step(), 8);
  }
  EXPECT_EQ(group_reducer::stride_for(2, 5), 8);
  EXPECT_EQ(group_reducer::stride_for(3, 1), 3);
  EXPECT_EQ(group_reducer::stride_for(1, 1000), 1024);
}

TEST(GroupRounds, RanksWithDifferentTensorsTurnTheGroupOffTogether) {
  std::vector<summary> three(3, summarize(random_data(10, 7, 1.0f)));
  std::vector<summary> two(2, three[0]);
  four_ranks g;
  std::vector<group_round> rounds =
      g.round({data_at(0, three), data_at(0, three), data_at(0, three), data_at(0, two)});
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::disabled);
    EXPECT_NE(rounds[size_t(r)].message.find("different tensors"), std::string::npos)
        << rounds[size_t(r)].message;
    EXPECT_FALSE(g.reducers[size_t(r)]->active());
  }
  // The same count of tensors but other names: the layout hashes differ.
  four_ranks h;
  rounds = h.round(
      {data_at(0, three, 1), data_at(0, three, 1), data_at(0, three, 2), data_at(0, three, 1)});
  for (int r = 0; r < 4; ++r) EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::disabled);
}

TEST(GroupRounds, ClosingEndsTheGroupOnceEveryEarlierSampleIsReduced) {
  std::vector<summary> stats = {summarize(random_data(10, 8, 1.0f))};
  four_ranks g;
  // Rank 0 closes after step 0; the others still have their step-0 sample: it is reduced first,
  // rank 0 absent.
  group_proposal closing = nothing_up_to(0);
  closing.closing = true;
  std::vector<group_round> rounds =
      g.round({closing, data_at(0, stats), data_at(0, stats), data_at(0, stats)});
  for (int r = 0; r < 4; ++r) EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::data);
  // Then everyone closes: the group ends on every rank.
  rounds = g.round({closing, closing, closing, closing});
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::ended);
    EXPECT_FALSE(g.reducers[size_t(r)]->active());
  }
}

TEST(GroupRounds, ARankGoingOnAfterAnotherClosedEndsTheGroup) {
  std::vector<summary> stats = {summarize(random_data(10, 9, 1.0f))};
  four_ranks g;
  group_proposal closing = nothing_up_to(-1);
  closing.closing = true;
  std::vector<group_round> rounds =
      g.round({closing, data_at(0, stats), data_at(0, stats), data_at(0, stats)});
  for (int r = 0; r < 4; ++r) EXPECT_EQ(rounds[size_t(r)].kind, group_round::outcome::ended);
}

TEST(GroupRounds, EveryRankMustSampleAtTheSameBaseStride) {
  four_ranks g({1, 1, 2, 1});
  std::vector<std::string> errors(4);
  std::vector<char> ok(4);
  run_ranks(
      4, [&](int r) { ok[size_t(r)] = g.reducers[size_t(r)]->agree_on_every(&errors[size_t(r)]); });
  for (int r = 0; r < 4; ++r) {
    EXPECT_FALSE(ok[size_t(r)]);
    EXPECT_NE(errors[size_t(r)].find("every=1 to 2"), std::string::npos) << errors[size_t(r)];
  }
}

// ---- the sampler on the group's grid ----

TEST(GroupSampler, DueAtTheMultiplesOfTheGroupStrideOncePerStep) {
  session_config c;
  c.every = 1;
  c.budget = 0;
  c.interval_ms = 50;
  sampler s(c);
  std::vector<int64_t> due;
  int64_t now = 0;
  for (int64_t step = 0; step < 13; ++step) {
    now += 10'000'000;  // 10 ms per step
    if (s.due_on_grid(step, now, 4)) {
      due.push_back(step);
      s.sample_taken(step, now, 1000);
    }
    EXPECT_FALSE(s.due_on_grid(step, now, 4)) << "a repeated step is not sampled twice";
  }
  EXPECT_EQ(due, (std::vector<int64_t>{0, 4, 8, 12}));
  // interval_ms=50 at 10 ms per step asks the group for 5 steps between samples (the group makes
  // it 8: `every` times a power of two).
  EXPECT_EQ(s.desired_stride(), 5);
  EXPECT_EQ(group_reducer::stride_for(c.every, s.desired_stride()), 8);
  EXPECT_NEAR(s.mean_step_seconds(), 0.010, 1e-9);
}

// ---- roles ----

TEST(GroupRoles, ADeclaredRoleComesAfterTheGlobsAndBeforeTheKind) {
  session_config c;
  EXPECT_EQ(role_of("w.grad", tensor_kind::grad, c, tensor_role::replicated),
            tensor_role::replicated);
  EXPECT_EQ(role_of("w", tensor_kind::param, c, tensor_role::sharded), tensor_role::sharded);
  c.sharded = "w.*";
  c.replicated = "v.*";
  EXPECT_EQ(role_of("w.grad", tensor_kind::grad, c, tensor_role::replicated), tensor_role::sharded);
  EXPECT_EQ(role_of("v.grad", tensor_kind::grad, c, tensor_role::sharded), tensor_role::replicated);
}

TEST(GroupRoles, GlobsFirstShardedWinningThenTheKind) {
  session_config c;
  EXPECT_EQ(role_of("w", tensor_kind::param, c), tensor_role::replicated);
  EXPECT_EQ(role_of("w.grad", tensor_kind::grad, c), tensor_role::contribution);
  EXPECT_EQ(role_of("act", tensor_kind::activation, c), tensor_role::contribution);
  EXPECT_EQ(role_of("x", tensor_kind::other, c), tensor_role::sharded);
  EXPECT_EQ(role_of("mpi.allreduce.0", tensor_kind::collective, c), tensor_role::sharded);
  c.replicated = "*.grad.out|x";
  c.sharded = "layers.*.mlp.*";
  EXPECT_EQ(role_of("w.grad.out", tensor_kind::grad, c), tensor_role::replicated);
  EXPECT_EQ(role_of("x", tensor_kind::other, c), tensor_role::replicated);
  EXPECT_EQ(role_of("layers.3.mlp.weight", tensor_kind::param, c), tensor_role::sharded);
  c.replicated = "layers.*";
  EXPECT_EQ(role_of("layers.3.mlp.weight", tensor_kind::param, c), tensor_role::sharded);
}

// ---- the store's per-rank tables ----

using testing::query;
using testing::query_double;

using testing::temp_dir;

TEST(GroupStore, PerRankRowsGroupColumnsAndGroupAlerts) {
  temp_dir dir;
  run_info info;
  info.run_dir = dir.path;
  info.rank = 0;
  info.world = 2;
  std::string error;
  auto st = store::open(info, &error);
  ASSERT_TRUE(st) << error;
  ASSERT_TRUE(st->set_group(group_info{"mpi", 2, 0}));
  tensor_info t;
  t.id = 0;
  t.name = "w";
  t.kind = tensor_kind::param;
  ASSERT_TRUE(st->add_tensor(t));
  group_sample g;
  g.step = 4;
  g.time = 1.7e9;
  g.ranks = {{0, true, 0.5}, {1, false, 0}};
  g.tensor_ids = {0};
  g.roles = {tensor_role::replicated};
  g.cells.resize(2);
  g.cells[0].l2 = 3.0;
  g.cells[0].nonfinite = 2;
  g.cells[0].has_fingerprint = true;
  g.cells[0].fingerprint = 0xfedcba9876543210ull;
  ASSERT_TRUE(st->add_group_sample(g));
  for (alert_type type : {alert_type::nonfinite_source, alert_type::divergence,
                          alert_type::outlier_rank, alert_type::straggler}) {
    alert a;
    a.rank = 1;
    a.step = 4;
    a.tensor = "w";
    a.type = type;
    a.message = "m";
    ASSERT_TRUE(st->add_alert(a)) << st->last_error();
  }
  ASSERT_TRUE(st->commit());
  st.reset();
  EXPECT_EQ(query(dir.path, "SELECT group_kind, group_size, group_rank FROM run_info"),
            (std::vector<std::vector<std::string>>{{"mpi", "2", "0"}}));
  // The absent rank has a rank_steps row, no rank_samples row.
  EXPECT_EQ(query(dir.path, "SELECT step, tensor, rank, l2, nonfinite, fingerprint FROM ranks_v"),
            (std::vector<std::vector<std::string>>{
                {"4", "w", "0", "3.0", "2", std::to_string(int64_t(0xfedcba9876543210ull))}}));
  EXPECT_EQ(query(dir.path, "SELECT rank, present, step_seconds FROM rank_steps ORDER BY rank"),
            (std::vector<std::vector<std::string>>{{"0", "1", "0.5"}, {"1", "0", "NULL"}}));
  EXPECT_EQ(query(dir.path, "SELECT group_concat(type) FROM alerts_v"),
            (std::vector<std::vector<std::string>>{
                {"nonfinite_source,divergence,outlier_rank,straggler"}}));
}

// ---- ttap_set_group through the C API ----

TEST(GroupApi, StatusesOfEveryWrongCall) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_OK);
  EXPECT_EQ(ttap_set_group(nullptr, "single", nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_set_group(s, nullptr, nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_set_group(s, "gloo", nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("unknown group kind 'gloo'"), std::string::npos);
  EXPECT_EQ(ttap_set_group(s, "mpi", nullptr), TTAP_ERR_INVALID_ARGUMENT);
  // This test program has neither MPI nor NCCL: found missing at run time, not at link time.
  int fake_comm = 0;
  EXPECT_EQ(ttap_set_group(s, "mpi", &fake_comm), TTAP_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(ttap_last_error()).find("not found in the process"), std::string::npos)
      << ttap_last_error();
  // A cpu session has no GPU for an NCCL group.
  EXPECT_EQ(ttap_set_group(s, "nccl", &fake_comm), TTAP_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(ttap_last_error()).find("needs a session with a GPU"), std::string::npos);
  ASSERT_EQ(ttap_set_group(s, "single", nullptr), TTAP_OK) << ttap_last_error();
  EXPECT_EQ(ttap_set_group(s, "single", nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("already in a group"), std::string::npos);
  EXPECT_EQ(ttap_close(s), TTAP_OK);

  // After a sample it is too late: the first samples would not be the group's. (A second session
  // in the same directory: mode=append.)
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,mode=append", &s), TTAP_OK)
      << ttap_last_error();
  float x[4] = {1, 2, 3, 4};
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "x", x, TTAP_F32, 4, TTAP_GRAD, &h), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
  EXPECT_EQ(ttap_set_group(s, "single", nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("before the first"), std::string::npos);
  EXPECT_EQ(ttap_close(s), TTAP_OK);
}

TEST(GroupApi, SetRoleDeclaresWhatIsFingerprintedAndChecksItsArguments) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0,sharded=b.grad", &s), TTAP_OK);
  ASSERT_EQ(ttap_set_group(s, "single", nullptr), TTAP_OK) << ttap_last_error();
  std::vector<float> param = random_data(300, 13, 0.1f), a = random_data(400, 14, 1.0f),
                     b = random_data(500, 15, 1.0f);
  int32_t hp, ha, hb;
  ASSERT_EQ(ttap_watch(s, "w", param.data(), TTAP_F32, param.size(), TTAP_PARAM, &hp), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "a.grad", a.data(), TTAP_F32, a.size(), TTAP_GRAD, &ha), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "b.grad", b.data(), TTAP_F32, b.size(), TTAP_GRAD, &hb), TTAP_OK);
  // Statuses (roles out of range: test_api_handles.cc, which passes them as C ints).
  EXPECT_EQ(ttap_set_role(nullptr, ha, TTAP_ROLE_SHARDED), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_set_role(s, 99, TTAP_ROLE_SHARDED), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("unknown handle 99"), std::string::npos);
  // The parameter declared sharded (not compared), a.grad replicated (compared), b.grad declared
  // replicated but the sharded= glob wins.
  ASSERT_EQ(ttap_set_role(s, hp, TTAP_ROLE_SHARDED), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_set_role(s, ha, TTAP_ROLE_REPLICATED), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_set_role(s, hb, TTAP_ROLE_REPLICATED), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
  // AUTO takes the declaration back: the parameter is a replica again from the next sample.
  ASSERT_EQ(ttap_set_role(s, hp, TTAP_ROLE_AUTO), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 1, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_unwatch(s, hb), TTAP_OK);
  EXPECT_EQ(ttap_set_role(s, hb, TTAP_ROLE_SHARDED), TTAP_ERR_INVALID_ARGUMENT);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(
      query(dir.path,
            "SELECT step, tensor, fingerprint IS NOT NULL FROM ranks_v ORDER BY step, tensor"),
      (std::vector<std::vector<std::string>>{{"0", "a.grad", "1"},
                                             {"0", "b.grad", "0"},
                                             {"0", "w", "0"},
                                             {"1", "a.grad", "1"},
                                             {"1", "b.grad", "0"},
                                             {"1", "w", "1"}}));
  EXPECT_EQ(ttap_set_role(s, ha, TTAP_ROLE_SHARDED), TTAP_ERR_INVALID_ARGUMENT);  // closed
}

TEST(GroupApi, SingleProcessGroupStoresMergedSamplesRanksAndFingerprints) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0,every=2", &s), TTAP_OK);
  ASSERT_EQ(ttap_set_group(s, "single", nullptr), TTAP_OK) << ttap_last_error();
  std::vector<float> param = random_data(1000, 11, 0.1f), grad = random_data(2000, 12, 1.0f);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "w", param.data(), TTAP_F32, param.size(), TTAP_PARAM, &h), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "w.grad", grad.data(), TTAP_F32, grad.size(), TTAP_GRAD, &h), TTAP_OK);
  for (int64_t step = 0; step < 7; ++step) ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  // The group samples the multiples of every=2, on the group's grid.
  EXPECT_EQ(query(dir.path,
                  "SELECT group_concat(step) FROM (SELECT DISTINCT step FROM samples "
                  "ORDER BY step)"),
            (std::vector<std::vector<std::string>>{{"0,2,4,6"}}));
  // The merged sample of a group of one is the rank's own summary.
  const summary want = summarize(grad);
  const std::string where = " FROM samples_v WHERE tensor = 'w.grad' AND step = 6";
  EXPECT_EQ(query_double(dir.path, "SELECT count" + where), double(want.count));
  EXPECT_EQ(query_double(dir.path, "SELECT min" + where), want.min);
  EXPECT_EQ(query_double(dir.path, "SELECT max" + where), want.max);
  EXPECT_EQ(query_double(dir.path, "SELECT l2" + where), summary_finalize(want).l2);
  // Per-rank rows: the parameter (a replica) is fingerprinted, the gradient is not.
  const summary fp = summarize(param, true);
  EXPECT_EQ(
      query(dir.path, "SELECT tensor, fingerprint FROM ranks_v WHERE step = 6 ORDER BY tensor"),
      (std::vector<std::vector<std::string>>{{"w", std::to_string(int64_t(fp.fingerprint))},
                                             {"w.grad", "NULL"}}));
  EXPECT_EQ(query(dir.path, "SELECT group_kind, group_size, group_rank FROM run_info"),
            (std::vector<std::vector<std::string>>{{"single", "1", "0"}}));
  EXPECT_EQ(query(dir.path, "SELECT count(*) FROM alerts"),
            (std::vector<std::vector<std::string>>{{"0"}}));
}

}  // namespace
}  // namespace ttap
