// The run reader on a run written through the C API, and on every way a directory can fail to be
// a run: missing, no store, not SQLite, SQLite of another kind or version.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/temp_dir.h"
#include "runtime/store/run_reader.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

using testing::temp_dir;

// A run stored before groups existed (schema version 1) stays readable: its run_info has no group
// columns and it has no per-rank tables. Made from a current store by removing what version 2
// added.
TEST(RunReader, ReadsAVersionOneStore) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0", &s), TTAP_OK) << ttap_last_error();
  std::vector<float> g(10, 1.0f);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "g", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h), TTAP_OK);
  ASSERT_EQ(ttap_step(s, 0, nullptr), TTAP_OK);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path + "/ttap.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP VIEW ranks_v; DROP TABLE rank_samples; DROP TABLE rank_steps; "
                         "ALTER TABLE run_info DROP COLUMN group_kind; "
                         "ALTER TABLE run_info DROP COLUMN group_size; "
                         "ALTER TABLE run_info DROP COLUMN group_rank; PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  std::vector<run_session_info> sessions;
  ASSERT_TRUE(r->sessions(&sessions)) << r->last_error();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].group_kind, "");
  std::vector<rank_total_row> ranks;
  ASSERT_TRUE(r->rank_totals(&ranks)) << r->last_error();
  EXPECT_TRUE(ranks.empty());
  std::vector<sample_row> samples;
  ASSERT_TRUE(r->samples(0, false, &samples)) << r->last_error();
  EXPECT_EQ(samples.size(), 1u);
}

TEST(RunReader, ReadsWhatTheApiWrote) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,budget=0", &s), TTAP_OK) << ttap_last_error();
  std::vector<float> g(100);
  int32_t h;
  ASSERT_EQ(ttap_watch(s, "g", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h), TTAP_OK);
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < g.size(); ++i) g[i] = float(i) * 0.01f * float(step + 1);
    if (step == 3) g[7] = NAN;
    ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK);
    ASSERT_EQ(ttap_log_scalar(s, "loss", 10.0 - step, step), TTAP_OK);
  }
  ASSERT_EQ(ttap_close(s), TTAP_OK);

  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  std::vector<run_session_info> sessions;
  ASSERT_TRUE(r->sessions(&sessions));
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].world, 1);
  std::vector<tensor_row> tensors;
  ASSERT_TRUE(r->tensors(&tensors));
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].name, "g");
  EXPECT_EQ(tensors[0].kind, "grad");
  std::vector<sample_row> samples;
  ASSERT_TRUE(r->samples(0, true, &samples));
  ASSERT_EQ(samples.size(), 5u);
  double l2 = 0;
  for (int i = 0; i < 100; ++i)
    l2 += double(float(i) * 0.01f * 5.0f) * double(float(i) * 0.01f * 5.0f);
  EXPECT_NEAR(*samples[4].l2, std::sqrt(l2), 1e-9 * std::sqrt(l2));
  EXPECT_EQ(samples[3].nan, 1u);
  ASSERT_TRUE(samples[4].hist.has_value());
  uint64_t binned = 0;
  for (uint64_t c : *samples[4].hist) binned += c;
  EXPECT_EQ(binned, 99u);  // 100 values, one zero
  std::vector<sample_row> later;
  ASSERT_TRUE(r->samples(samples[2].rowid, false, &later));
  EXPECT_EQ(later.size(), 2u);  // incremental reads after a rowid
  std::vector<alert_row> alerts;
  ASSERT_TRUE(r->alerts(0, &alerts));
  ASSERT_GE(alerts.size(), 1u);
  bool found = false;
  for (const auto &a : alerts)
    found = found || (a.type == "nonfinite" && a.step == 3 && a.tensor == "g");
  EXPECT_TRUE(found);
  std::vector<scalar_row> loss;
  ASSERT_TRUE(r->scalars("loss", &loss));
  ASSERT_EQ(loss.size(), 5u);
  EXPECT_EQ(*loss[4].value, 6.0);
  int64_t latest = 0;
  ASSERT_TRUE(r->latest_step(&latest));
  EXPECT_EQ(latest, 4);
}

TEST(RunReader, ExplainsWhatIsNotARun) {
  temp_dir dir;
  std::string error;
  EXPECT_FALSE(run_reader::open(dir.path + "/missing", &error));
  EXPECT_NE(error.find("no such directory"), std::string::npos) << error;
  EXPECT_FALSE(run_reader::open(dir.path, &error));
  EXPECT_NE(error.find("not a tensortap run (no ttap.db"), std::string::npos) << error;
  std::ofstream(dir.path + "/plain-file") << "x";
  EXPECT_FALSE(run_reader::open(dir.path + "/plain-file", &error));
  EXPECT_NE(error.find("not a directory"), std::string::npos) << error;

  std::ofstream(dir.path + "/ttap.db") << std::string(4096, 'Z');  // garbage
  EXPECT_FALSE(run_reader::open(dir.path, &error));
  EXPECT_NE(error.find("not a readable SQLite database"), std::string::npos) << error;

  std::filesystem::remove(dir.path + "/ttap.db");
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path + "/ttap.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE unrelated (x); PRAGMA user_version = 7;", nullptr, nullptr,
               nullptr);
  sqlite3_close(db);
  EXPECT_FALSE(run_reader::open(dir.path, &error));
  EXPECT_NE(error.find("schema version 7"), std::string::npos) << error;
}

}  // namespace
}  // namespace ttap
