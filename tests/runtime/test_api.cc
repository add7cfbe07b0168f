// The C API end to end: every status path of every function, stored values against directly
// computed summaries (cpu and emulated backends), the sampler's cadence, and the non-finite alert
// of a NaN planted at a known step in a known tensor.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace {

namespace fs = std::filesystem;

using temp_run_dir = ttap::testing::temp_dir;

using ttap::testing::query;
using ttap::testing::query_one;

double as_double(const std::string &s) { return std::strtod(s.c_str(), nullptr); }

// ---- status paths ----

TEST(Api, OpenRejectsBadArguments) {
  temp_run_dir dir;
  ttap_session *s = reinterpret_cast<ttap_session *>(0x1);
  EXPECT_EQ(ttap_open(dir.path.c_str(), nullptr, nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_open(dir.path.c_str(), "every=0", &s), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(ttap_last_error()).find("every=0"), std::string::npos) << ttap_last_error();
  EXPECT_EQ(ttap_open(dir.path.c_str(), "colour=blue", &s), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("unknown option 'colour'"), std::string::npos);
  EXPECT_EQ(ttap_open(dir.path.c_str(), "every", &s), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_open(dir.path.c_str(), "backend=tpu", &s), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_open(dir.path.c_str(), "rank=2,world=2", &s), TTAP_ERR_INVALID_ARGUMENT);
  // A file where the run directory should be, and a directory nobody may write.
  std::string file = dir.path + "/not-a-dir";
  FILE *f = std::fopen(file.c_str(), "w");
  std::fclose(f);
  EXPECT_EQ(ttap_open(file.c_str(), nullptr, &s), TTAP_ERR_IO);
  EXPECT_NE(std::string(ttap_last_error()).find("not-a-dir"), std::string::npos)
      << ttap_last_error();
  if (geteuid() != 0) {  // root can write anywhere
    fs::create_directory(dir.path + "/ro");
    fs::permissions(dir.path + "/ro", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_EQ(ttap_open((dir.path + "/ro").c_str(), nullptr, &s), TTAP_ERR_IO);
  }
  EXPECT_EQ(ttap_open("/proc/ttap-cannot-be-here", nullptr, &s), TTAP_ERR_IO);
}

TEST(Api, NoDeviceForBackendCudaWithoutGpu) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ttap_status st = ttap_open(dir.path.c_str(), "backend=cuda", &s);
  if (st == TTAP_OK) {
    ttap_close(s);
    GTEST_SKIP() << "this machine has a GPU";
  }
  EXPECT_EQ(st, TTAP_ERR_NO_DEVICE);
  EXPECT_NE(std::string(ttap_last_error()).find("no CUDA device"), std::string::npos)
      << ttap_last_error();
}

TEST(Api, EveryFunctionRejectsNullAndClosedSessions) {
  float x[4] = {};
  int32_t h = 0;
  EXPECT_EQ(ttap_watch(nullptr, "x", x, TTAP_F32, 4, TTAP_GRAD, &h), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(ttap_last_error(), "session is NULL");
  EXPECT_EQ(ttap_rebind(nullptr, 0, x), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_unwatch(nullptr, 0), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_step(nullptr, 0, nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_observe(nullptr, "a", x, TTAP_F32, 4, TTAP_ACTIVATION, 0, nullptr),
            TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_log_scalar(nullptr, "loss", 1, 0), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_flush(nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_close(nullptr), TTAP_ERR_INVALID_ARGUMENT);
  ttap_session *bogus = reinterpret_cast<ttap_session *>(&h);
  EXPECT_EQ(ttap_step(bogus, 0, nullptr), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ttap_last_error()).find("not a session"), std::string::npos);

  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), nullptr, &s), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  EXPECT_EQ(ttap_close(s), TTAP_ERR_INVALID_ARGUMENT);  // double close
  EXPECT_STREQ(ttap_last_error(), "session already closed");
  EXPECT_EQ(ttap_step(s, 0, nullptr), TTAP_ERR_INVALID_ARGUMENT);  // use after close
  EXPECT_EQ(ttap_watch(s, "x", x, TTAP_F32, 4, TTAP_GRAD, &h), TTAP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ttap_flush(s), TTAP_ERR_INVALID_ARGUMENT);
}

TEST(Api, WatchValidatesEveryArgument) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), nullptr, &s), TTAP_OK) << ttap_last_error();
  float x[8] = {};
  int32_t h = -1;
  auto expect_invalid = [&](ttap_status st, const char *needle) {
    EXPECT_EQ(st, TTAP_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(ttap_last_error()).find(needle), std::string::npos) << ttap_last_error();
  };
  expect_invalid(ttap_watch(s, nullptr, x, TTAP_F32, 8, TTAP_GRAD, &h), "name is NULL");
  expect_invalid(ttap_watch(s, "", x, TTAP_F32, 8, TTAP_GRAD, &h), "name is empty");
  expect_invalid(ttap_watch(s, "x", nullptr, TTAP_F32, 8, TTAP_GRAD, &h), "ptr is NULL");
  expect_invalid(ttap_watch(s, "x", x, ttap_dtype(17), 8, TTAP_GRAD, &h), "dtype 17");
  expect_invalid(ttap_watch(s, "x", x, TTAP_F32, 8, ttap_kind(-1), &h), "kind -1");
  expect_invalid(ttap_watch(s, "x", x, TTAP_F32, (uint64_t(1) << 40) + 1, TTAP_GRAD, &h), "2^40");
  expect_invalid(ttap_watch(s, "x", x, TTAP_F32, 8, TTAP_GRAD, nullptr), "handle is NULL");
  ASSERT_EQ(ttap_watch(s, "x", x, TTAP_F32, 8, TTAP_GRAD, &h), TTAP_OK);
  expect_invalid(ttap_watch(s, "x", x, TTAP_F32, 8, TTAP_GRAD, &h), "already watched");
  int32_t empty = -1;
  EXPECT_EQ(ttap_watch(s, "empty", nullptr, TTAP_BF16, 0, TTAP_PARAM, &empty), TTAP_OK);  // numel 0
  expect_invalid(ttap_rebind(s, 99, x), "unknown handle 99");
  expect_invalid(ttap_rebind(s, h, nullptr), "ptr is NULL");
  EXPECT_EQ(ttap_rebind(s, h, x + 0), TTAP_OK);
  EXPECT_EQ(ttap_unwatch(s, h), TTAP_OK);
  expect_invalid(ttap_unwatch(s, h), "unknown handle");
  expect_invalid(ttap_step(s, -5, nullptr), "negative");
  EXPECT_EQ(ttap_step(s, 10, nullptr), TTAP_OK);
  expect_invalid(ttap_step(s, 9, nullptr), "goes backwards");
  expect_invalid(ttap_log_scalar(s, "", 1.0, 0), "name is empty");
  expect_invalid(ttap_observe(s, "empty", x, TTAP_F32, 8, TTAP_ACTIVATION, -1, nullptr),
                 "is a watched tensor");
  EXPECT_EQ(ttap_close(s), TTAP_OK);
}

TEST(Api, StatusStrings) {
  for (int st = 0; st <= int(TTAP_NUM_STATUS) + 3; ++st) {
    const char *text = ttap_status_string(ttap_status(st));
    ASSERT_NE(text, nullptr);
    EXPECT_GT(std::string(text).size(), 1u);
  }
  EXPECT_STREQ(ttap_status_string(TTAP_OK), "ok");
  EXPECT_STREQ(ttap_status_string(TTAP_ERR_IO), "I/O error");
}

// ---- end to end ----

// Watches three host tensors of different dtypes, steps, and compares the stored rows with the
// cpu executor's summaries of the same data; then plants a NaN.
void end_to_end(const char *backend) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  std::string options = std::string("backend=") + backend + ",budget=0,every=2";
  ASSERT_EQ(ttap_open(dir.path.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  std::vector<float> w(10000);
  std::vector<double> d(333);
  std::vector<uint16_t> b(5000);
  int32_t hw, hd, hb;
  ASSERT_EQ(ttap_watch(s, "w", w.data(), TTAP_F32, w.size(), TTAP_PARAM, &hw), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "d", d.data(), TTAP_F64, d.size(), TTAP_GRAD, &hd), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "b", b.data(), TTAP_BF16, b.size(), TTAP_GRAD, &hb), TTAP_OK);
  std::vector<double> expected_l2_w;
  for (int step = 0; step < 10; ++step) {
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(double(i + step)) * (1 + step);
    for (size_t i = 0; i < d.size(); ++i) d[i] = double(i) - step;
    for (size_t i = 0; i < b.size(); ++i) b[i] = uint16_t(0x3f80 + (i + step) % 100);
    if (step == 6) b[77] = 0x7fc0;  // NaN in "b" at step 6
    if (step % 2 == 0) {
      ttap::cpu_executor ex;
      expected_l2_w.push_back(
          ttap::summary_finalize(ex.summarize({w.data(), ttap::dtype::f32, w.size()})).l2);
    }
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK) << ttap_last_error();
    // The emulated device reads the buffers asynchronously: wait before the next step changes them.
    ASSERT_EQ(ttap_flush(s), TTAP_OK) << ttap_last_error();
  }
  ASSERT_EQ(ttap_log_scalar(s, "loss", 2.5, 9), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();

  auto rows = query(dir.path,
                    "select step, l2, count, nan from samples_v where tensor = 'w' order by step");
  ASSERT_EQ(rows.size(), 5u) << "every=2 over steps 0..9";
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_EQ(rows[k][0], std::to_string(2 * k));
    EXPECT_NEAR(as_double(rows[k][1]), expected_l2_w[k], 1e-6 * expected_l2_w[k])
        << "step " << 2 * k;
    EXPECT_EQ(rows[k][2], "10000");
    EXPECT_EQ(rows[k][3], "0");
  }
  rows = query(dir.path,
               "select sum, min, max, kind, dtype from samples_v where tensor = 'd' and step = 4");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(as_double(rows[0][0]), 332.0 * 333 / 2 - 4.0 * 333);
  EXPECT_DOUBLE_EQ(as_double(rows[0][1]), -4.0);
  EXPECT_DOUBLE_EQ(as_double(rows[0][2]), 328.0);
  EXPECT_EQ(rows[0][3], "grad");
  EXPECT_EQ(rows[0][4], "F64");
  rows = query(dir.path, "select step, nan from samples_v where tensor = 'b' and nan > 0");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "6");
  EXPECT_EQ(rows[0][1], "1");
  rows =
      query(dir.path, "select step, tensor, type, message from alerts_v where type = 'nonfinite'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "6");
  EXPECT_EQ(rows[0][1], "b");
  EXPECT_NE(rows[0][3].find("NaN"), std::string::npos) << rows[0][3];
  EXPECT_NE(rows[0][3].find("1 of 5000"), std::string::npos) << rows[0][3];
  rows = query(dir.path, "select step, name, value from scalars_v");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][1], "loss");
}

TEST(ApiEndToEnd, CpuBackend) { end_to_end("cpu"); }
TEST(ApiEndToEnd, EmulatedBackend) { end_to_end("emulated"); }

// A rebind moves what the next sample reads (the watch list's address patched in place, the
// tensor behind it and its neighbours unchanged); an unwatch takes the tensor out of the next
// sample and a watch of the same name brings it back under its old id.
void rebind_and_unwatch(const char *backend) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  const std::string options = std::string("backend=") + backend + ",budget=0";
  ASSERT_EQ(ttap_open(dir.path.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  std::vector<float> a(100, 1.0f), b_first(50, 2.0f), b_second(50, 3.0f), c(10, 4.0f);
  int32_t ha, hb, hc;
  ASSERT_EQ(ttap_watch(s, "a", a.data(), TTAP_F32, a.size(), TTAP_PARAM, &ha), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "b", b_first.data(), TTAP_F32, 50, TTAP_GRAD, &hb), TTAP_OK);
  ASSERT_EQ(ttap_watch(s, "c", c.data(), TTAP_F32, c.size(), TTAP_GRAD, &hc), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_flush(s), TTAP_OK);  // the emulated device reads asynchronously
  ASSERT_EQ(ttap_rebind(s, hb, b_second.data()), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 1, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_flush(s), TTAP_OK);
  ASSERT_EQ(ttap_unwatch(s, ha), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 2, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_flush(s), TTAP_OK);
  int32_t ha_again = -1;
  ASSERT_EQ(ttap_watch(s, "a", a.data(), TTAP_F32, a.size(), TTAP_PARAM, &ha_again), TTAP_OK);
  EXPECT_EQ(ha_again, ha);
  ASSERT_EQ(ttap_step(s, 3, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  const auto rows =
      query(dir.path, "select step, tensor, max, count from samples_v order by step, tensor");
  const std::vector<std::vector<std::string>> expected = {
      {"0", "a", "1.0", "100"}, {"0", "b", "2.0", "50"}, {"0", "c", "4.0", "10"},
      {"1", "a", "1.0", "100"}, {"1", "b", "3.0", "50"}, {"1", "c", "4.0", "10"},
      {"2", "b", "3.0", "50"},  {"2", "c", "4.0", "10"}, {"3", "a", "1.0", "100"},
      {"3", "b", "3.0", "50"},  {"3", "c", "4.0", "10"}};
  EXPECT_EQ(rows, expected);
}

TEST(ApiEndToEnd, RebindAndUnwatchCpuBackend) { rebind_and_unwatch("cpu"); }
TEST(ApiEndToEnd, RebindAndUnwatchEmulatedBackend) { rebind_and_unwatch("emulated"); }

TEST(ApiEndToEnd, ObserveRecordsActivationsAtTheGivenStep) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_OK) << ttap_last_error();
  std::vector<float> act(1000, 0.5f);
  for (int step = 0; step < 3; ++step) {
    ASSERT_EQ(ttap_observe(s, "block0.out", act.data(), TTAP_F32, act.size(), TTAP_ACTIVATION, step,
                           nullptr),
              TTAP_OK)
        << ttap_last_error();
  }
  EXPECT_EQ(
      ttap_observe(s, "block0.out", act.data(), TTAP_F16, act.size(), TTAP_ACTIVATION, 3, nullptr),
      TTAP_ERR_INVALID_ARGUMENT);  // another dtype under the same name
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  auto rows = query(
      dir.path, "select step, kind, sum from samples_v where tensor = 'block0.out' order by step");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2][0], "2");
  EXPECT_EQ(rows[2][1], "activation");
  EXPECT_DOUBLE_EQ(as_double(rows[2][2]), 500.0);
}

TEST(ApiEndToEnd, IntervalAndEveryThinTheSamples) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,every=5,budget=0", &s), TTAP_OK);
  float x[16] = {1};
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "x", x, TTAP_F32, 16, TTAP_PARAM, &h), TTAP_OK);
  for (int step = 0; step < 23; ++step) ASSERT_EQ(ttap_step(s, -1, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  auto rows = query(dir.path, "select step from samples_v order by step");
  ASSERT_EQ(rows.size(), 5u);  // steps 0, 5, 10, 15, 20
  EXPECT_EQ(rows[4][0], "20");
}

// A trainer whose steps are fast: the budget must make tensortap sample less often.
TEST(ApiEndToEnd, BudgetSlowsSamplingOfExpensiveTensors) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0.05", &s), TTAP_OK);
  std::vector<float> big(1 << 22, 1.0f);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "big", big.data(), TTAP_F32, big.size(), TTAP_PARAM, &h), TTAP_OK);
  for (int step = 0; step < 200; ++step) {
    volatile double spin = 0;
    for (int i = 0; i < 20000; ++i) spin = spin + i;  // a few tens of microseconds of "training"
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  }
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  auto rows = query(dir.path, "select count(*) from samples_v");
  ASSERT_EQ(rows.size(), 1u);
  int samples = std::atoi(rows[0][0].c_str());
  EXPECT_GE(samples, 1);
  EXPECT_LT(samples, 50) << "a 16 MB summary per tiny step cannot fit a 5% budget";
}

}  // namespace

namespace {

// A writer process killed with SIGKILL mid-run leaves a database that passes integrity_check and
// holds every sample up to the last flush it acknowledged, and the non-finite alert.
TEST(ApiKill, KilledWriterLeavesAConsistentStore) {
  temp_run_dir dir;
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(TTAP_KILL_WRITER, TTAP_KILL_WRITER, dir.path.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE *from_child = fdopen(out[0], "r");
  long acknowledged = -1, step;
  while (acknowledged < 40 && std::fscanf(from_child, "%ld", &step) == 1) acknowledged = step;
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(from_child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended on its own: " << status;
  ASSERT_GE(acknowledged, 40);

  auto rows = query(dir.path, "pragma integrity_check");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "ok");
  rows =
      query(dir.path, "select count(distinct step) from samples_v where tensor = 'a' and step <= " +
                          std::to_string(acknowledged));
  EXPECT_EQ(rows[0][0], std::to_string(acknowledged + 1)) << "every flushed step must be stored";
  rows = query(dir.path, "select step, tensor from alerts_v where type = 'nonfinite'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "5");
  EXPECT_EQ(rows[0][1], "b");
}

// on_nonfinite=abort: the process ends with status 3 right after the alert is committed.
TEST(ApiKill, AbortOnNonfiniteExitsWithStatus3AfterStoringTheAlert) {
  temp_run_dir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(TTAP_KILL_WRITER, TTAP_KILL_WRITER, dir.path.c_str(), "on_nonfinite=abort",
          static_cast<char *>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  auto rows = query(dir.path, "select step, tensor from alerts_v where type = 'nonfinite'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "5");
  EXPECT_EQ(rows[0][1], "b");
  rows =
      query(dir.path, "select count(*) from samples_v where tensor = 'b' and step = 5 and nan = 1");
  EXPECT_EQ(rows[0][0], "1");
}

// Two sessions of one rank on one run directory at the same time (the hooks next to a program's
// own session, or a resumed run): each keeps its own tensors, nothing is overwritten.
TEST(ApiEndToEnd, TwoSessionsOfOneRankShareARunDirectory) {
  temp_run_dir dir;
  ttap_session *a = nullptr, *b = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0", &a), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0", &b), TTAP_OK) << ttap_last_error();
  std::vector<float> x(10, 1.0f), y(10, 2.0f);
  int32_t hx, hy;
  ASSERT_EQ(ttap_watch(a, "x", x.data(), TTAP_F32, x.size(), TTAP_PARAM, &hx), TTAP_OK);
  ASSERT_EQ(ttap_watch(b, "y", y.data(), TTAP_F32, y.size(), TTAP_PARAM, &hy), TTAP_OK);
  EXPECT_EQ(hx, hy) << "both sessions number their first tensor 0";
  for (int step = 0; step < 3; ++step) {
    ASSERT_EQ(ttap_step(a, step, nullptr), TTAP_OK);
    ASSERT_EQ(ttap_step(b, step, nullptr), TTAP_OK);
  }
  ASSERT_EQ(ttap_close(a), TTAP_OK);
  ASSERT_EQ(ttap_close(b), TTAP_OK);
  auto rows = query(
      dir.path, "select tensor, count(*), max(sum) from samples_v group by tensor order by tensor");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "x");
  EXPECT_EQ(rows[0][1], "3");
  EXPECT_DOUBLE_EQ(as_double(rows[0][2]), 10.0);
  EXPECT_EQ(rows[1][0], "y");
  EXPECT_EQ(rows[1][1], "3");
  EXPECT_DOUBLE_EQ(as_double(rows[1][2]), 20.0);
}

// One run per directory: a directory that holds a finished run is refused, naming the ways out;
// mode=append adds to it.
TEST(ApiRunDirectory, AFinishedRunIsRefusedUnlessAppending) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_OK) << ttap_last_error();
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(ttap_open(dir.path.c_str(), "backend=cpu", &s), TTAP_ERR_IO);
  const std::string error = ttap_last_error();
  EXPECT_NE(error.find("already holds a run"), std::string::npos) << error;
  EXPECT_NE(error.find("ttap run --force"), std::string::npos) << error;
  EXPECT_NE(error.find("mode=append"), std::string::npos) << error;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,mode=append", &s), TTAP_OK)
      << ttap_last_error();
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  EXPECT_EQ(query_one(dir.path, "select count(*) from run_info"), "2");
}

// Without a run directory, a second run does not land in the first one's: it takes ttap-run-2.
TEST(ApiRunDirectory, WithoutADirectoryTheNextFreeOneIsTaken) {
  if (std::getenv("TTAP_RUN_DIR")) GTEST_SKIP() << "TTAP_RUN_DIR is set";
  temp_run_dir dir;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path);
  const std::string here = std::filesystem::current_path().string();
  for (int run = 0; run < 2; ++run) {
    ttap_session *s = nullptr;
    ASSERT_EQ(ttap_open(nullptr, "backend=cpu", &s), TTAP_OK) << ttap_last_error();
    // The session says which directory it took, absolute.
    const std::string expected = here + (run == 0 ? "/ttap-run" : "/ttap-run-2");
    size_t length = 0;
    ASSERT_EQ(ttap_get_run_dir(s, nullptr, 0, &length), TTAP_OK) << ttap_last_error();
    EXPECT_EQ(length, expected.size());
    std::vector<char> buf(length + 1, 'x');
    ASSERT_EQ(ttap_get_run_dir(s, buf.data(), buf.size(), &length), TTAP_OK) << ttap_last_error();
    EXPECT_EQ(std::string(buf.data()), expected);
    // A buffer without room for the NUL is refused, never filled with a cut path.
    EXPECT_EQ(ttap_get_run_dir(s, buf.data(), length, &length), TTAP_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(buf.data(), "");
    EXPECT_NE(std::string(ttap_last_error()).find("too small"), std::string::npos);
    EXPECT_EQ(length, expected.size());
    EXPECT_EQ(ttap_get_run_dir(s, nullptr, 4, &length), TTAP_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(ttap_get_run_dir(s, buf.data(), buf.size(), nullptr), TTAP_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(ttap_close(s), TTAP_OK);
    EXPECT_EQ(ttap_get_run_dir(s, buf.data(), buf.size(), &length), TTAP_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(ttap_last_error(), "session already closed");
  }
  std::filesystem::current_path(cwd);
  EXPECT_TRUE(std::filesystem::exists(dir.path + "/ttap-run/ttap.db"));
  EXPECT_TRUE(std::filesystem::exists(dir.path + "/ttap-run-2/ttap.db"));
  EXPECT_EQ(query_one(dir.path + "/ttap-run", "select count(*) from run_info"), "1");
}

// A store held locked by another process for 5 s while the trainer steps: the trainer is not held
// up, nothing is lost once the lock is released, and the failure is counted.
TEST(ApiRunDirectory, AStoreLockedForFiveSecondsLosesNothing) {
  temp_run_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0,flush_ms=100", &s), TTAP_OK)
      << ttap_last_error();
  std::vector<float> g(4096, 1.0f);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "g", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_flush(s), TTAP_OK) << ttap_last_error();
  // Another process (Python's sqlite3, as a monitoring script would) takes the write lock.
  const std::string locker = "python3 -c \"import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], "
                             "isolation_level=None); db.execute('BEGIN IMMEDIATE'); print('locked', "
                             "flush=True); time.sleep(5)\" " +
                             dir.path + "/ttap.db";
  FILE *child = popen(locker.c_str(), "r");
  ASSERT_TRUE(child);
  char line[16] = {};
  ASSERT_TRUE(std::fgets(line, sizeof line, child));
  ASSERT_EQ(std::string(line), "locked\n");
  double slowest = 0;
  int step = 1;
  for (auto start = std::chrono::steady_clock::now();
       std::chrono::steady_clock::now() - start < std::chrono::milliseconds(6500); ++step) {
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK) << ttap_last_error();
    slowest = std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(pclose(child), 0);
  ASSERT_EQ(ttap_close(s), TTAP_OK) << ttap_last_error();
  std::printf("%d steps, the slowest ttap_step took %.1f ms\n", step, slowest * 1e3);
  EXPECT_LT(slowest, 1.0) << "a step waited for the locked store";
  EXPECT_EQ(query_one(dir.path, "select count(distinct step) from samples_v"), std::to_string(step));
  EXPECT_EQ(query_one(dir.path, "select records_lost from run_counters"), "0");
  EXPECT_NE(query_one(dir.path, "select store_failures from run_counters"), "0");
}

}  // namespace
