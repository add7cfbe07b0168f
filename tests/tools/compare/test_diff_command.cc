// `ttap diff` end to end on runs written through the C API: identical runs, runs that part at a
// known step by a known factor, a tolerance that hides a small difference, a planted NaN, different
// tensor sets and sampling grids, several ranks and a group's per-rank parts, and the bad inputs
// (not a run, a corrupt store, one run twice) that must end in status 2 with one clear line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/tools/compare/compare_test_runs.h"
#include "tests/tools/ttap/tool_runner.h"

namespace ttap::test {
namespace {

using json = nlohmann::json;

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

json diff_json(const std::string &a, const std::string &b, const temp_dir &dir, int *status,
               const std::vector<std::string> &more = {}) {
  std::vector<std::string> args = {"diff", a, b, "--format", "json"};
  args.insert(args.end(), more.begin(), more.end());
  const tool_run r = run_ttap(args, dir);
  *status = r.status;
  EXPECT_TRUE(r.err.empty()) << r.err;
  return json::parse(r.out);
}

TEST(Diff, TheSameRecipeTwiceIsIdenticalToTheBit) {
  temp_dir dir;
  write_recipe_run(dir.path("a"), {});
  write_recipe_run(dir.path("b"), {});
  const tool_run r = run_ttap({"diff", dir.path("a"), dir.path("b")}, dir);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "identical to the bit through step 19 (20 common steps)")) << r.out;
  int status = -1;
  const json j = diff_json(dir.path("a"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(j["verdict"], "identical");
  EXPECT_EQ(j["common_steps"], 20);
  EXPECT_TRUE(j["first_difference"].is_null());
  EXPECT_EQ(j["tensors"].size(), 3u);
  for (const auto &t : j["tensors"]) {
    EXPECT_EQ(t["l2_ratio"], 1.0) << t;
    EXPECT_EQ(t["max_rel_diff"], 0.0) << t;
    EXPECT_TRUE(t["identical"].get<bool>()) << t;
  }
  EXPECT_TRUE(j["tensors_only_in_a"].empty() && j["tensors_only_in_b"].empty());
  EXPECT_TRUE(j["alerts_only_in_a"].empty() && j["alerts_only_in_b"].empty());
}

TEST(Diff, NamesTheFirstStepTensorValuesAndRatioWhereRunsPart) {
  temp_dir dir;
  write_recipe_run(dir.path("a"), {});
  run_recipe changed;
  changed.scale = 1.001;
  changed.scale_from = 7;
  write_recipe_run(dir.path("b"), changed);
  const tool_run r = run_ttap({"diff", dir.path("a"), dir.path("b")}, dir);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "differ: first at step 7: b.grad: l2 ")) << r.out;
  int status = -1;
  const json j = diff_json(dir.path("a"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(j["verdict"], "different");
  const json &first = j["first_difference"];
  EXPECT_EQ(first["step"], 7);
  EXPECT_EQ(first["tensor"], "b.grad");
  EXPECT_EQ(first["field"], "l2");
  // Every value of b.grad was scaled by 1.001 in fp32: the l2 ratio is 1.001 to fp32 precision.
  EXPECT_NEAR(first["ratio"].get<double>(), 1.001, 1e-6) << first;
  EXPECT_NEAR(first["b"].get<double>() / first["a"].get<double>(), 1.001, 1e-6);
  for (const auto &t : j["tensors"]) {
    if (t["tensor"] == "b.grad") {
      EXPECT_EQ(t["first_beyond"]["step"], 7) << t;
      EXPECT_NEAR(t["l2_ratio"].get<double>(), 1.001, 1e-6) << t;
      EXPECT_NEAR(t["max_rel_diff"].get<double>(), 0.001 / 1.001, 1e-6) << t;
    } else {
      EXPECT_TRUE(t["first_beyond"].is_null()) << t;  // w and a.grad did not change
      EXPECT_TRUE(t["identical"].get<bool>()) << t;
    }
  }
  // The loss was scaled too: the scalar parts at the same step.
  ASSERT_EQ(j["scalars"].size(), 1u);
  EXPECT_EQ(j["scalars"][0]["name"], "loss");
  EXPECT_EQ(j["scalars"][0]["first_beyond"]["step"], 7);
}

TEST(Diff, ToleranceDecidesBetweenEqualAndDifferent) {
  temp_dir dir;
  write_recipe_run(dir.path("a"), {});
  run_recipe nudged;
  nudged.scale = 1.0 + 3e-7;  // a few fp32 ulps
  nudged.scale_from = 3;
  write_recipe_run(dir.path("b"), nudged);
  int status = -1;
  json j = diff_json(dir.path("a"), dir.path("b"), dir, &status, {"--rtol", "1e-5"});
  EXPECT_EQ(status, 0) << j["findings"];
  EXPECT_EQ(j["verdict"], "equal") << j["findings"];
  j = diff_json(dir.path("a"), dir.path("b"), dir, &status, {"--rtol", "0"});
  EXPECT_EQ(status, 1) << j["findings"];
  EXPECT_EQ(j["first_difference"]["step"], 3) << j["first_difference"];
  // An absolute tolerance larger than any difference makes them equal again.
  j = diff_json(dir.path("a"), dir.path("b"), dir, &status, {"--rtol", "0", "--atol", "1e-3"});
  EXPECT_EQ(status, 0) << j["findings"];
}

TEST(Diff, APlantedNanIsTheFirstDifferenceAndItsAlertIsOnlyInB) {
  temp_dir dir;
  write_recipe_run(dir.path("clean"), {});
  run_recipe nan;
  nan.nan_step = 9;
  write_recipe_run(dir.path("nan"), nan);
  int status = -1;
  const json j = diff_json(dir.path("clean"), dir.path("nan"), dir, &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(j["first_difference"]["step"], 9);
  EXPECT_EQ(j["first_difference"]["tensor"], "b.grad");
  ASSERT_FALSE(j["alerts_only_in_b"].empty());
  bool found = false;
  for (const auto &a : j["alerts_only_in_b"])
    found = found || (a["type"] == "nonfinite" && a["step"] == 9 && a["tensor"] == "b.grad");
  EXPECT_TRUE(found) << j["alerts_only_in_b"];
  EXPECT_TRUE(j["alerts_only_in_a"].empty());
  const tool_run r = run_ttap({"diff", dir.path("clean"), dir.path("nan")}, dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.out, "alerts only in B")) << r.out;
  EXPECT_TRUE(contains(r.out, "step 9 nonfinite b.grad")) << r.out;
}

TEST(Diff, DifferentTensorsAndGridsReportUnionAndIntersection) {
  temp_dir dir;
  run_recipe every_step;
  every_step.extra_tensor = true;
  write_recipe_run(dir.path("a"), every_step);
  run_recipe every_third;
  every_third.every = 3;
  write_recipe_run(dir.path("b"), every_third);
  int status = -1;
  const json j = diff_json(dir.path("a"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 1);  // a tensor only one run has is a difference
  EXPECT_EQ(j["run_a"]["steps"], 20);
  EXPECT_EQ(j["run_b"]["steps"], 7);  // 0, 3, ..., 18
  EXPECT_EQ(j["common_steps"], 7);
  EXPECT_EQ(j["last_common_step"], 18);
  ASSERT_EQ(j["tensors_only_in_a"].size(), 1u);
  EXPECT_EQ(j["tensors_only_in_a"][0]["tensor"], "extra.grad");
  EXPECT_TRUE(j["tensors_only_in_b"].empty());
  EXPECT_EQ(j["tensors"].size(), 3u);
  for (const auto &t : j["tensors"]) EXPECT_TRUE(t["first_beyond"].is_null()) << t;

  // The same tensors on different grids are equal on the steps both sampled.
  run_recipe plain;
  write_recipe_run(dir.path("c"), plain);
  const json k = diff_json(dir.path("c"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 0) << k["findings"];
  EXPECT_EQ(k["verdict"], "identical");
}

TEST(Diff, MultiRankRunsDifferPerRank) {
  temp_dir dir;
  for (const char *name : {"a", "b"}) {
    for (int32_t rank = 0; rank < 2; ++rank) {
      run_recipe r;
      r.rank = rank;
      r.world = 2;
      // Only rank 1 of run b changes, from step 5.
      if (std::string(name) == "b" && rank == 1) {
        r.scale = 2;
        r.scale_from = 5;
      }
      write_recipe_run_in_child(dir.path(name), r);
    }
  }
  int status = -1;
  const json j = diff_json(dir.path("a"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(j["first_difference"]["tensor"], "b.grad");
  EXPECT_EQ(j["first_difference"]["rank"], 1);
  EXPECT_EQ(j["first_difference"]["step"], 5);
  EXPECT_NEAR(j["first_difference"]["ratio"].get<double>(), 2.0, 1e-12);
  EXPECT_EQ(j["tensors"].size(), 6u);  // three tensors on each of two ranks
  for (const auto &t : j["tensors"]) {
    if (t["rank"] == 0) EXPECT_TRUE(t["identical"].get<bool>()) << t;
  }
  const tool_run r = run_ttap({"diff", dir.path("a"), dir.path("b")}, dir);
  EXPECT_TRUE(contains(r.out, "b.grad (rank 1): l2 ")) << r.out;
}

TEST(Diff, AGroupRunComparesEachRanksOwnPartAndFingerprints) {
  temp_dir dir;
  run_recipe grouped;
  grouped.group = "single";
  write_recipe_run(dir.path("a"), grouped);
  write_recipe_run(dir.path("b"), grouped);
  int status = -1;
  json j = diff_json(dir.path("a"), dir.path("b"), dir, &status);
  EXPECT_EQ(status, 0) << j["findings"];
  EXPECT_EQ(j["verdict"], "identical");
  // The parameter is a replica: its per-rank part carries a fingerprint, compared to the bit.
  EXPECT_GT(j["fingerprints"]["compared"].get<int>(), 0) << j["fingerprints"];
  EXPECT_EQ(j["fingerprints"]["identical_through"], 19);
  bool part_seen = false;
  for (const auto &t : j["tensors"]) part_seen = part_seen || t["part"].get<bool>();
  EXPECT_TRUE(part_seen);

  run_recipe changed = grouped;
  changed.scale = 1.5;
  changed.scale_from = 11;
  write_recipe_run(dir.path("c"), changed);
  j = diff_json(dir.path("a"), dir.path("c"), dir, &status);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(j["first_difference"]["step"], 11);
  EXPECT_EQ(j["first_difference"]["tensor"], "b.grad");
}

TEST(Diff, BadInputsAreOneLineAndStatusTwo) {
  temp_dir dir;
  write_recipe_run(dir.path("run"), {});
  std::filesystem::create_directories(dir.path("empty"));
  struct bad_case {
    std::vector<std::string> args;
    std::string message;
  };
  std::filesystem::create_directories(dir.path("corrupt"));
  dir.write("corrupt/ttap.db", std::string(8192, 'x'));
  const std::vector<bad_case> cases = {
      {{"diff", dir.path("run"), dir.path("empty")}, "not a tensortap run (no ttap.db in it)"},
      {{"diff", dir.path("missing"), dir.path("run")}, "no such directory"},
      {{"diff", dir.path("run"), dir.path("corrupt")}, "not a readable SQLite database"},
      {{"diff", dir.path("run"), dir.path("run")}, "are the same run directory"},
      {{"diff", dir.path("run"), dir.path("run") + "/."}, "are the same run directory"},
      {{"diff", dir.path("run"), dir.path("run"), "--rtol", "-1"}, "must be finite and >= 0"},
  };
  for (const auto &c : cases) {
    const tool_run r = run_ttap(c.args, dir);
    EXPECT_EQ(r.status, 2) << c.args[2] << ": " << r.out << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_TRUE(contains(r.err, "ttap diff: error: ")) << r.err;
    EXPECT_TRUE(contains(r.err, c.message)) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace ttap::test
