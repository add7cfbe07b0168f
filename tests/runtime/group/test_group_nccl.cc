// The NCCL communicator end to end without a GPU: the stand-in NCCL of the hook tests (one rank,
// host buffers) and the emulated device stand in for NCCL and CUDA, so ncclCommSplit, the staging
// copies on the telemetry stream, ncclAllReduce (sum, max) and ncclAllGather run for real, with
// the same packing as MPI. What only a GPU can show (stream ordering on a device, NCCL kernels next
// to the trainer's) is not tested here.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "tests/collectors/inject/nccl_standin.h"
#include "tests/runtime/store_query.h"
#include "ttap/ttap.h"

namespace {

using ttap::testing::query_double;
using ttap::testing::query_one;

TEST(GroupNccl, SplitsReducesAndGathersThroughNccl) {
  char tmpl[] = "/tmp/ttap-nccl-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ncclUniqueId id;
  ncclComm_t job = nullptr;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  ASSERT_EQ(ncclCommInitRank(&job, 1, id, 0), ncclSuccess);

  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> param(4000), grad(6000);
  for (auto &x : param) x = dist(rng);
  for (auto &x : grad) x = dist(rng);

  ttap_session *s = nullptr;
  // The emulated device reads host memory as its own: both tensors go through the fused kernel.
  ASSERT_EQ(ttap_open(dir.c_str(), "backend=emulated,budget=0", &s), TTAP_OK);
  ASSERT_EQ(ttap_set_group(s, "nccl", job), TTAP_OK) << ttap_last_error();
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "w", param.data(), TTAP_F32, param.size(), TTAP_PARAM, &h), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "w.grad", grad.data(), TTAP_F32, grad.size(), TTAP_GRAD, &h), TTAP_OK);
  for (int64_t step = 0; step < 4; ++step) ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK);

  // tensortap's collectives went to a communicator split from the job's, not to the job's.
  const standin_call *last = standin_last_call();
  ASSERT_NE(last->fn, nullptr);
  EXPECT_NE(last->comm, job);
  EXPECT_STREQ(last->fn, "ncclAllReduce");  // the closing round: the header's max
  EXPECT_EQ(last->op, ncclMax);
  EXPECT_EQ(last->dtype, ncclFloat64);

  EXPECT_EQ(query_one(dir,
                      "SELECT group_kind || ',' || group_size || ',' || group_rank "
                      "FROM run_info"),
            "nccl,1,0");
  EXPECT_EQ(query_one(dir, "SELECT count(*) FROM samples_v WHERE rank = 0"), "8");
  EXPECT_EQ(query_one(dir, "SELECT count(*) FROM ranks_v"), "8");
  // The merged summaries and the per-rank rows came back through the device buffers intact.
  ttap::cpu_executor exec(ttap::cpu_executor_options{1, true, true});
  const ttap::summary want_grad =
      exec.summarize(ttap::tensor_view{grad.data(), ttap::dtype::f32, grad.size()});
  const ttap::summary want_param =
      exec.summarize(ttap::tensor_view{param.data(), ttap::dtype::f32, param.size()});
  EXPECT_EQ(query_one(dir, "SELECT count FROM samples_v WHERE tensor = 'w.grad' AND step = 3"),
            std::to_string(want_grad.count));
  EXPECT_EQ(query_double(dir, "SELECT max FROM samples_v WHERE tensor = 'w.grad' AND step = 3"),
            want_grad.max);
  EXPECT_NEAR(std::stod(query_one(dir,
                                  "SELECT l2 FROM ranks_v WHERE tensor = 'w.grad' AND "
                                  "step = 3")) /
                  ttap::summary_finalize(want_grad).l2,
              1.0, 1e-6);
  EXPECT_EQ(query_one(dir, "SELECT fingerprint FROM ranks_v WHERE tensor = 'w' AND step = 3"),
            std::to_string(int64_t(want_param.fingerprint)));
  ncclCommDestroy(job);
  std::filesystem::remove_all(dir);
}

// Two ranks in one process, one thread each (the stand-in's ncclCommInitAll): the group reduces
// over both, and closing a session of a group of two, which also holds the verdicts' NCCL
// communicator on the session's device, returns cleanly (it crashed when the device went first).
TEST(GroupNccl, TwoRanksReduceAndClose) {
  ncclComm_t job[2] = {nullptr, nullptr};
  const int devices[2] = {0, 1};
  ASSERT_EQ(ncclCommInitAll(job, 2, devices), ncclSuccess);
  std::vector<float> grad[2];
  for (int r = 0; r < 2; ++r) grad[r].assign(3000, r == 0 ? 0.5f : -2.0f);
  std::string dirs[2];
  ttap_status status[2][3] = {};
  std::thread ranks[2];
  for (int r = 0; r < 2; ++r) {
    char tmpl[] = "/tmp/ttap-nccl2-XXXXXX";
    dirs[r] = mkdtemp(tmpl);
    ranks[r] = std::thread([&, r] {
      ttap_session *s = nullptr;
      const std::string options =
          "backend=emulated,budget=0,rank=" + std::to_string(r) + ",world=2";
      status[r][0] = ttap_open(dirs[r].c_str(), options.c_str(), &s);
      if (status[r][0] != TTAP_OK) return;
      status[r][1] = ttap_set_group(s, "nccl", job[r]);
      int32_t h;
      ttap_watch(s, "g", grad[r].data(), TTAP_F32, grad[r].size(), TTAP_GRAD, &h);
      for (int64_t step = 0; step < 3; ++step) ttap_step(s, step, nullptr);
      status[r][2] = ttap_close(s);
    });
  }
  for (auto &t : ranks) t.join();
  for (int r = 0; r < 2; ++r)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(status[r][k], TTAP_OK) << "rank " << r << " call " << k;
  EXPECT_EQ(query_one(dirs[0], "SELECT group_kind || ',' || group_size FROM run_info"), "nccl,2");
  // Rank 0 stores the merged summary: both parts, 6000 values, min from rank 1, max from rank 0.
  EXPECT_EQ(query_one(dirs[0],
                      "SELECT count || ',' || min || ',' || max || ',' || sum FROM samples_v "
                      "WHERE tensor = 'g' AND step = 0"),
            "6000,-2.0,0.5,-4500.0");
  for (int r = 0; r < 2; ++r) {
    ncclCommDestroy(job[r]);
    std::filesystem::remove_all(dirs[r]);
  }
}

}  // namespace
