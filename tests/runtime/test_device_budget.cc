// The overhead budget counts device time: on the emulated backend, whose timing events report a
// modeled device time (bytes / emulated_gbps plus a launch cost), a slow device thins sampling so
// that host + device time stays within the budget, and a fast one leaves every step sampled. The
// store, the report's source, splits the two.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <ttap/ttap.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/temp_dir.h"

namespace ttap {
namespace {

struct counters {
  double host = 0, device = 0, step = 0;
  long long samples = 0, skipped = 0;
};

counters read_counters(const std::string &run_dir) {
  counters c;
  sqlite3 *db = nullptr;
  EXPECT_EQ(sqlite3_open_v2((run_dir + "/ttap.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt *st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT overhead_seconds, device_seconds, step_seconds, "
                               "samples_taken, samples_skipped FROM run_counters",
                               -1, &st, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  if (st && sqlite3_step(st) == SQLITE_ROW) {
    c.host = sqlite3_column_double(st, 0);
    c.device = sqlite3_column_double(st, 1);
    c.step = sqlite3_column_double(st, 2);
    c.samples = sqlite3_column_int64(st, 3);
    c.skipped = sqlite3_column_int64(st, 4);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return c;
}

// `steps` steps of `step_ms` each, one 4 KiB tensor watched on the emulated backend.
counters train(const std::string &dir, const std::string &gbps, const std::string &budget,
               int steps, int step_ms) {
  ttap_session *s = nullptr;
  std::string options = "backend=emulated,budget=" + budget + ",emulated_gbps=" + gbps;
  EXPECT_EQ(ttap_open(dir.c_str(), options.c_str(), &s), TTAP_OK) << ttap_last_error();
  std::vector<float> weights(1024, 0.25f);
  int32_t handle;
  EXPECT_EQ(ttap_watch(s, "w", weights.data(), TTAP_F32, weights.size(), TTAP_PARAM, &handle),
            TTAP_OK);
  auto next = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    next += std::chrono::milliseconds(step_ms);
    std::this_thread::sleep_until(next);  // the "training" of this step
    EXPECT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
  }
  EXPECT_EQ(ttap_close(s), TTAP_OK);
  return read_counters(dir);
}

TEST(DeviceBudget, ASlowDeviceThinsSamplingToTheBudget) {
  testing::temp_dir dir;
  // 4 KiB at 2 MB/s: 2.053 ms of modeled device time per sample (with the 5 us launch cost),
  // twenty times the 1% of a 10 ms step. The host's share of a due step through the emulator on a
  // loaded machine reaches milliseconds too (its threads take the cores); 10 ms steps keep the
  // first sample, taken before any cost is known, a small part of the 5 s.
  counters c = train(dir.path, "0.002", "0.01", 500, 10);
  ASSERT_GT(c.step, 0);
  const double share = (c.host + c.device) / c.step;
  EXPECT_LE(share, 0.015) << "host " << c.host << " s, device " << c.device << " s, steps "
                          << c.step << " s, " << c.samples << " samples";
  EXPECT_NEAR(c.device, double(c.samples) * (5e-6 + 4096 / 2e6), 1e-6 * double(c.samples))
      << "every sample's modeled device time is counted";
  EXPECT_GE(c.samples, 2);
  EXPECT_LT(c.samples, 50) << "sampling was not thinned";
}

TEST(DeviceBudget, AFastDeviceSamplesEveryStep) {
  testing::temp_dir dir;
  // The budget must still pay the host's share of a due step, which through the emulator on a
  // loaded 2-core machine reaches milliseconds (its worker threads take the cores), hence a large
  // budget: what is tested is that 5 us of device time per sample thins nothing. A step whose
  // sample is not taken because the emulator still holds every result slot is skipped, not thinned.
  counters c = train(dir.path, "2000", "0.9", 30, 50);
  EXPECT_EQ(c.samples + c.skipped, 30) << "host " << c.host << " s, device " << c.device << " s";
  EXPECT_GE(c.samples, 6);
  EXPECT_NEAR(c.device, double(c.samples) * (5e-6 + 4096 / 2e12), 1e-9 * double(c.samples))
      << "device time is recorded for every sample";
}

}  // namespace
}  // namespace ttap
