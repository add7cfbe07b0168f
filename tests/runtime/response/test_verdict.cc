// ttap_verdict on host tensors (cpu executor) and device tensors (emulated device): the step with
// the NaN, and only it, is judged skip; the store's actions_v holds exactly that skip; warn only
// reports; a spike with on_spike=skip; the group of one; every step sampled under a skip policy.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

using testing::query;
using testing::temp_dir;

// A small trainer: a parameter and its gradient, one NaN planted in the gradient at `nan_step`;
// it steps the parameter unless the verdict says skip. Returns the steps judged skip.
struct trainer {
  std::vector<float> param = std::vector<float>(256, 0.5f);
  std::vector<float> grad = std::vector<float>(256);
  std::vector<int64_t> skipped;
  std::vector<ttap_verdict_t> verdicts;
  int32_t grad_handle = -1, param_handle = -1;

  void run(ttap_session *s, int steps, int64_t nan_step, int64_t nan_index = 3) {
    ASSERT_EQ(ttap_watch(s, "w", param.data(), TTAP_F32, param.size(), TTAP_PARAM, &param_handle),
              TTAP_OK)
        << ttap_last_error();
    ASSERT_EQ(ttap_watch(s, "w.grad", grad.data(), TTAP_F32, grad.size(), TTAP_GRAD, &grad_handle),
              TTAP_OK)
        << ttap_last_error();
    for (int step = 0; step < steps; ++step) {
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = 1e-3f * std::sin(float(i + step));
      if (step == nan_step) grad[size_t(nan_index)] = NAN;
      ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK) << ttap_last_error();
      ttap_verdict_t v;
      ASSERT_EQ(ttap_verdict(s, step, &v), TTAP_OK) << ttap_last_error();
      verdicts.push_back(v);
      if (v.action == TTAP_ACTION_SKIP) {
        skipped.push_back(step);
        continue;
      }
      for (size_t i = 0; i < param.size(); ++i) param[i] -= 0.1f * grad[i];
    }
  }
};

void skip_at_37_only(const char *backend) {
  temp_dir dir;
  ttap_session *s = nullptr;
  const std::string options = std::string("backend=") + backend + ",on_nonfinite=skip";
  ASSERT_EQ(ttap_open(dir.path.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  trainer t;
  t.run(s, 60, 37);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  EXPECT_EQ(t.skipped, std::vector<int64_t>{37});
  const ttap_verdict_t &v = t.verdicts[37];
  EXPECT_EQ(v.sampled, 1);
  EXPECT_EQ(v.nonfinite_tensors, 1);
  EXPECT_EQ(v.first_tensor, t.grad_handle);
  EXPECT_EQ(v.spike, 0);
  for (size_t step = 0; step < t.verdicts.size(); ++step) {
    EXPECT_EQ(t.verdicts[step].sampled, 1) << "step " << step;  // every step, whatever the budget
    if (step != 37) {
      EXPECT_EQ(t.verdicts[step].nonfinite_tensors, 0) << "step " << step;
    }
  }
  for (float w : t.param) ASSERT_TRUE(std::isfinite(w));  // the NaN never reached the parameter
  const auto actions = query(dir.path, "SELECT rank, step, action, reason, detail FROM actions_v");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], (std::vector<std::string>{"0", "37", "skip", "nonfinite", "w.grad"}));
  // The options of the run say what sampling the policy forced.
  const auto options_row = query(dir.path, "SELECT options FROM run_info");
  ASSERT_EQ(options_row.size(), 1u);
  EXPECT_NE(options_row[0][0].find("every=1,interval_ms=0,budget=0"), std::string::npos)
      << options_row[0][0];
  EXPECT_NE(options_row[0][0].find("on_nonfinite=skip"), std::string::npos) << options_row[0][0];
}

TEST(Verdict, HostTensorsSkipExactlyTheStepWithTheNan) { skip_at_37_only("cpu"); }

// Device tensors: the verdict waits for the step's device sample (the emulated device runs the
// fused kernel on its own stream thread).
TEST(Verdict, DeviceTensorsSkipExactlyTheStepWithTheNan) { skip_at_37_only("emulated"); }

// warn (the default) acts on nothing but still reports what the step holds.
TEST(Verdict, WarnReportsAndNeverSkips) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0", &s), TTAP_OK) << ttap_last_error();
  trainer t;
  t.run(s, 40, 37);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_TRUE(t.skipped.empty());
  EXPECT_EQ(t.verdicts[37].action, TTAP_ACTION_NONE);
  EXPECT_EQ(t.verdicts[37].nonfinite_tensors, 1);
  EXPECT_EQ(t.verdicts[37].first_tensor, t.grad_handle);
  EXPECT_EQ(query(dir.path, "SELECT count(*) FROM actions_v")[0][0], "0");
}

// Without a skip policy the sampler's cadence holds: a step that was not sampled is not judged.
TEST(Verdict, AStepThatWasNotSampledSaysSo) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0,every=10", &s), TTAP_OK);
  trainer t;
  t.run(s, 40, 37);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(t.verdicts[30].sampled, 1);
  EXPECT_EQ(t.verdicts[37].sampled, 0);
  EXPECT_EQ(t.verdicts[37].nonfinite_tensors, 0);
  EXPECT_EQ(t.verdicts[37].first_tensor, -1);
}

TEST(Verdict, SpikeWithOnSpikeSkip) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,on_spike=skip", &s), TTAP_OK)
      << ttap_last_error();
  std::vector<float> g(128);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "g", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h), TTAP_OK);
  std::vector<int64_t> skipped;
  for (int step = 0; step < 40; ++step) {
    const float scale = step == 30 ? 1000.0f : 1.0f + 0.01f * float(step % 3);
    for (size_t i = 0; i < g.size(); ++i) g[i] = scale * std::cos(float(i));
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
    ttap_verdict_t v;
    ASSERT_EQ(ttap_verdict(s, step, &v), TTAP_OK);
    if (v.action == TTAP_ACTION_SKIP) {
      skipped.push_back(step);
      EXPECT_EQ(v.spike, 1);
      EXPECT_EQ(v.first_tensor, h);
    }
  }
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(skipped, std::vector<int64_t>{30});
  const auto actions = query(dir.path, "SELECT step, action, reason, detail FROM actions_v");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0], (std::vector<std::string>{"30", "skip", "spike", "g"}));
}

TEST(Verdict, GroupOfOneAndRepeatedQuestions) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,on_nonfinite=skip", &s), TTAP_OK);
  ASSERT_EQ(ttap_set_group(s, "single", nullptr), TTAP_OK) << ttap_last_error();
  trainer t;
  t.run(s, 30, 12);
  ttap_verdict_t again;
  ASSERT_EQ(ttap_verdict(s, -1, &again), TTAP_OK);
  EXPECT_EQ(again.action, TTAP_ACTION_NONE);  // step 29, the last one
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(t.skipped, std::vector<int64_t>{12});
  EXPECT_EQ(query(dir.path, "SELECT count(*) FROM actions_v WHERE action = 'skip'")[0][0], "1");
}

TEST(Verdict, BadArguments) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_OK);
  ttap_verdict_t v;
  EXPECT_EQ(ttap_verdict(nullptr, 0, &v), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_verdict(s, 0, nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_verdict(s, 0, &v), TTAP_ERR_INVALID_ARGUMENT);  // no step marked yet
  EXPECT_NE(std::string(ttap_last_error()).find("has not been marked by ttap_step yet"),
            std::string::npos)
      << ttap_last_error();
  ASSERT_EQ(ttap_step(s, 5, nullptr), TTAP_OK);
  EXPECT_EQ(ttap_verdict(s, 6, &v), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_verdict(s, -2, &v), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_verdict(s, 5, &v), TTAP_OK);
  EXPECT_EQ(v.sampled, 0);  // nothing watched
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(ttap_verdict(s, 5, &v), TTAP_ERR_INVALID_ARGUMENT);  // closed
}

TEST(WatchShaped, ChecksTheShapeAgainstTheElements) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_OK);
  std::vector<float> x(24);
  const uint64_t good[] = {2, 3, 4};
  int32_t h;
  EXPECT_EQ(ttap_watch_shaped(s, "x", x.data(), TTAP_F32, good, 3, TTAP_GRAD, &h), TTAP_OK)
      << ttap_last_error();
  const uint64_t huge[] = {uint64_t(1) << 33, uint64_t(1) << 33, 4};
  EXPECT_EQ(ttap_watch_shaped(s, "y", x.data(), TTAP_F32, huge, 3, TTAP_GRAD, &h),
            TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_watch_shaped(s, "z", x.data(), TTAP_F32, good, 9, TTAP_GRAD, &h),
            TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("ndim 9 is not in 0..8"), std::string::npos)
      << ttap_last_error();
  EXPECT_EQ(ttap_watch_shaped(s, "z", x.data(), TTAP_F32, nullptr, 2, TTAP_GRAD, &h),
            TTAP_ERR_INVALID_ARGUMENT);
  const uint64_t scalar_shape[] = {1};
  EXPECT_EQ(ttap_watch_shaped(s, "s", x.data(), TTAP_F32, nullptr, 0, TTAP_GRAD, &h), TTAP_OK);
  EXPECT_EQ(ttap_watch_shaped(s, "s1", x.data(), TTAP_F32, scalar_shape, 1, TTAP_GRAD, &h),
            TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
}

}  // namespace
}  // namespace ttap
