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

}  // namespace
