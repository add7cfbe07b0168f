// The run reader on a run written through the C API, and on every way a directory can fail to be
// a run: missing, no store, not SQLite, SQLite of another kind or version.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/temp_dir.h"
#include "runtime/store/run_reader.h"
#include "runtime/store/store.h"
#include "tests/runtime/store_query.h"
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
  testing::rewrite_store_file(dir.path + "/ttap.db",
                              "DROP VIEW ranks_v; DROP TABLE rank_samples; DROP TABLE rank_steps; "
                              "ALTER TABLE run_info DROP COLUMN group_kind; "
                              "ALTER TABLE run_info DROP COLUMN group_size; "
                              "ALTER TABLE run_info DROP COLUMN group_rank; PRAGMA user_version = 1;");
  if (HasFatalFailure()) return;

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
  ASSERT_TRUE(r->samples(nullptr, false, &samples)) << r->last_error();
  EXPECT_EQ(samples.size(), 1u);
}

// A version 3 store (before actions) reads with no actions, alone and combined for SQL with a
// version 4 file of the same run; the version 4 file's actions are read.
TEST(RunReader, ReadsActionsAndStoresWithoutThem) {
  temp_dir dir;
  for (int32_t rank : {0, 1}) {
    run_info info;
    info.run_dir = dir.path;
    info.rank = rank;
    info.world = 2;
    info.append = true;
    std::string error;
    auto st = store::open(info, &error);
    ASSERT_TRUE(st) << error;
    ASSERT_TRUE(st->add_action({rank, 25, 1.7e9 + rank, action_kind::skip, "nonfinite", "w.grad"}));
    ASSERT_TRUE(st->close()) << st->last_error();
  }
  testing::rewrite_store_file(dir.path + "/ttap.db",
                              "DROP VIEW actions_v; DROP TABLE actions; PRAGMA user_version = 3;");
  if (HasFatalFailure()) return;

  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  std::vector<action_row> actions;
  ASSERT_TRUE(r->actions(nullptr, &actions)) << r->last_error();
  ASSERT_EQ(actions.size(), 1u);  // rank 1's file only
  EXPECT_EQ(actions[0].rank, 1);
  EXPECT_EQ(actions[0].step, 25);
  EXPECT_EQ(actions[0].action, "skip");
  EXPECT_EQ(actions[0].reason, "nonfinite");
  EXPECT_EQ(actions[0].detail, "w.grad");
  read_cursor cursor;
  ASSERT_TRUE(r->actions(&cursor, &actions));
  ASSERT_TRUE(r->actions(&cursor, &actions));
  EXPECT_TRUE(actions.empty());  // the cursor moved past them

  sqlite::db_handle combined;
  ASSERT_TRUE(open_combined_run(dir.path, &combined, &error)) << error;
  sqlite3_stmt *st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(combined.get(), "SELECT count(*), min(rank) FROM actions_v", -1, &st,
                               nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(combined.get());
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  EXPECT_EQ(sqlite3_column_int(st, 1), 1);
  sqlite3_finalize(st);
}

// run_counters.device_seconds joined version 4 after its first files were written. A run of one
// such file and a newer one reads as one: the reader takes 0 for the missing column, and the SQL
// views (UNION ALL, which needs the same columns in every file) have NULL there.
TEST(RunReader, CombinesFilesWithAndWithoutDeviceSeconds) {
  temp_dir dir;
  for (int32_t rank : {0, 1}) {
    run_info info;
    info.run_dir = dir.path;
    info.rank = rank;
    info.world = 2;
    info.append = true;
    std::string error;
    auto st = store::open(info, &error);
    ASSERT_TRUE(st) << error;
    ASSERT_TRUE(st->close()) << st->last_error();
  }
  testing::rewrite_store_file(dir.path + "/ttap.db",
                              "ALTER TABLE run_counters DROP COLUMN device_seconds");
  if (HasFatalFailure()) return;

  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  std::vector<run_counters_row> counters;
  ASSERT_TRUE(r->counters(&counters)) << r->last_error();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[0].device_seconds, 0);
  EXPECT_EQ(counters[1].device_seconds, 0);

  const auto rows =
      testing::query(dir.path, "SELECT rank, device_seconds FROM run_counters ORDER BY rank");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"0", "NULL"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "0.0"}));
  std::string script;
  ASSERT_TRUE(combined_views_sql(dir.path, &script, &error)) << error;
  EXPECT_NE(script.find("NULL AS \"device_seconds\" FROM r0.run_counters"), std::string::npos)
      << script;
  EXPECT_NE(script.find("SELECT * FROM r0.tensors"), std::string::npos)
      << "tables alike in every file are combined as they are:\n"
      << script;
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
  ASSERT_TRUE(r->samples(nullptr, true, &samples));
  ASSERT_EQ(samples.size(), 5u);
  double l2 = 0;
  for (int i = 0; i < 100; ++i)
    l2 += double(float(i) * 0.01f * 5.0f) * double(float(i) * 0.01f * 5.0f);
  // The executor's documented accuracy (fp32 lane sums, then fp64): 2e-6 relative.
  EXPECT_NEAR(*samples[4].l2, std::sqrt(l2), 2e-6 * std::sqrt(l2));
  EXPECT_EQ(samples[3].nan, 1u);
  ASSERT_TRUE(samples[4].hist.has_value());
  uint64_t binned = 0;
  for (uint64_t c : *samples[4].hist) binned += c;
  EXPECT_EQ(binned, 99u);  // 100 values, one zero
  std::vector<sample_row> later;
  read_cursor cursor;
  cursor.advance(samples[2].file, samples[2].rowid);
  ASSERT_TRUE(r->samples(&cursor, false, &later));
  EXPECT_EQ(later.size(), 2u);  // incremental reads after a cursor
  ASSERT_TRUE(r->samples(&cursor, false, &later));
  EXPECT_TRUE(later.empty());  // the cursor moved past them
  std::vector<alert_row> alerts;
  ASSERT_TRUE(r->alerts(nullptr, &alerts));
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

// A damaged file whose samples b-tree holds rowids out of order (rowid 0 after 8; found by
// fuzz_store, kept in its corpus) answers "rowid > 8" with the same rows every time: reading in
// batches until none come must end, with an error naming the file, not loop forever.
TEST(RunReader, ADamagedStoreWithRowidsOutOfOrderEndsWithAnError) {
  temp_dir dir;
  std::filesystem::copy_file(
      std::string(TTAP_SOURCE_DIR) + "/tests/fuzz/corpus/store/regression-rowid-out-of-order",
      dir.path + "/ttap.db");
  std::string error;
  auto run = run_reader::open(dir.path, &error);
  ASSERT_TRUE(run) << error;
  auto read_until_empty = [&](auto read_batch) {
    read_cursor cursor;
    for (int batch = 0; batch < 1000; ++batch) {
      int rows = 0;
      if (!read_batch(&cursor, &rows)) return run->last_error();
      if (rows == 0) return std::string("ended without an error");
    }
    return std::string("still returning rows after 1000 batches");
  };
  for (size_t limit : {size_t(0), size_t(3), size_t(16384)}) {
    const std::string samples_error = read_until_empty([&](read_cursor *c, int *rows) {
      std::vector<sample_row> out;
      bool ok = run->samples(c, false, &out, limit);
      *rows = int(out.size());
      return ok;
    });
    EXPECT_NE(samples_error.find("ttap.db: reading samples: rowid 0 out of order"),
              std::string::npos)
        << samples_error;
    const std::string values_error = read_until_empty([&](read_cursor *c, int *rows) {
      std::vector<sample_values_row> out;
      bool ok = run->sample_values(c, limit, &out);
      *rows = int(out.size());
      return ok;
    });
    EXPECT_NE(values_error.find("the database file is damaged"), std::string::npos)
        << values_error;
  }
}

// ---- Runs made of several store files ----

run_info writer_info(const std::string &dir, int32_t rank) {
  run_info info;
  info.run_dir = dir;
  info.rank = rank;
  info.world = 2;
  info.options = "every=1";
  info.version = "test";
  info.host = "node";
  info.pid = 1;
  info.start_time = 1.7e9;
  return info;
}

sample_record sample_at(int32_t rank, int64_t step, double time) {
  sample_record r;
  r.rank = rank;
  r.step = step;
  r.time = time;
  r.tensor_id = 0;
  summary_clear(r.stats);
  r.stats.count = 4;
  r.stats.sum = r.stats.sum_abs = r.stats.sum_sq = 4;
  r.stats.min = r.stats.max = r.stats.abs_max = 1;
  return r;
}

// Every writer's file is read: the reader combines the ranks' rows, in time order, and a cursor
// reads each row exactly once even in batches smaller than the run.
TEST(RunReaderFiles, CombinesEveryWritersFile) {
  temp_dir dir;
  {
    std::string error;
    auto r0 = store::open(writer_info(dir.path, 0), &error);
    auto r1 = store::open(writer_info(dir.path, 1), &error);
    ASSERT_TRUE(r0 && r1) << error;
    for (store *s : {r0.get(), r1.get()}) {
      tensor_info t;
      t.id = 0;
      t.name = "w";
      ASSERT_TRUE(s->add_tensor(t));
    }
    for (int step = 0; step < 10; ++step) {
      std::vector<sample_record> a{sample_at(0, step, 1.7e9 + step)};
      std::vector<sample_record> b{sample_at(1, step, 1.7e9 + step + 0.5)};
      ASSERT_TRUE(r0->add_samples(a));
      ASSERT_TRUE(r1->add_samples(b));
    }
    alert a;
    a.rank = 1;
    a.step = 7;
    a.tensor = "w";
    a.message = "NaN in w";
    ASSERT_TRUE(r1->add_alert(a));
    ASSERT_TRUE(r0->commit() && r1->commit());
  }
  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  ASSERT_EQ(r->files().size(), 2u);
  EXPECT_EQ(r->files()[0].name, "ttap.db");
  EXPECT_EQ(r->files()[1].name, "ttap.rank-1.db");
  EXPECT_EQ(r->files()[1].closed_sessions, 1u);
  EXPECT_FALSE(r->live());
  std::vector<sample_row> all;
  ASSERT_TRUE(r->samples(nullptr, false, &all));
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].rank, int32_t(i % 2)) << i;
  read_cursor cursor;
  std::vector<sample_row> batch;
  size_t seen = 0;
  for (int guard = 0; guard < 100; ++guard) {
    ASSERT_TRUE(r->samples(&cursor, false, &batch, 3));
    if (batch.empty()) break;
    EXPECT_LE(batch.size(), 3u);
    seen += batch.size();
  }
  EXPECT_EQ(seen, 20u);
  std::vector<alert_row> alerts;
  ASSERT_TRUE(r->alerts(nullptr, &alerts));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rank, 1);
  std::vector<run_session_info> sessions;
  ASSERT_TRUE(r->sessions(&sessions));
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_TRUE(sessions[0].end_time && sessions[1].end_time);
}

// A run of `ranks` store files (one per rank), each with three samples of "w"; rank 1 stores an
// action, the last rank an alert.
void write_ranks(const std::string &dir, int32_t ranks) {
  for (int32_t rank = 0; rank < ranks; ++rank) {
    run_info info = writer_info(dir, rank);
    info.world = ranks;
    info.append = true;  // written one after another: the earlier ranks' files are closed
    std::string error;
    auto s = store::open(info, &error);
    ASSERT_TRUE(s) << error;
    tensor_info t;
    t.id = 0;
    t.name = "w";
    ASSERT_TRUE(s->add_tensor(t));
    for (int step = 0; step < 3; ++step) {
      std::vector<sample_record> r{sample_at(rank, step, 1.7e9 + step)};
      ASSERT_TRUE(s->add_samples(r));
    }
    if (rank == 1) ASSERT_TRUE(s->add_action({rank, 2, 1.7e9, action_kind::skip, "nonfinite", "w"}));
    if (rank == ranks - 1) {
      alert a;
      a.rank = rank;
      a.step = 2;
      a.tensor = "w";
      a.message = "NaN in w";
      ASSERT_TRUE(s->add_alert(a));
    }
    ASSERT_TRUE(s->close()) << s->last_error();
  }
}

// The first row of `sql` on the combined run, its columns joined by '|'.
std::string combined_query(const std::string &dir, const std::string &sql) {
  sqlite::db_handle db;
  std::string error;
  if (!open_combined_run(dir, &db, &error)) return "open failed: " + error;
  sqlite3_stmt *st = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    return std::string("prepare failed: ") + sqlite3_errmsg(db.get());
  std::string row;
  if (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const unsigned char *t = sqlite3_column_text(st, c);
      row += (c ? "|" : "") + std::string(t ? reinterpret_cast<const char *>(t) : "NULL");
    }
  } else {
    row = std::string("no row: ") + sqlite3_errmsg(db.get());
  }
  sqlite3_finalize(st);
  return row;
}

// More rank files than SQLite attaches to one connection (10 in most builds, 125 at most): the
// combined run still answers every query over all of them (their tables copied into one
// temporary database, with the store's views and indexes), also with a file of an older schema
// version among them (rank 0's, without actions) and a version 4 file without
// run_counters.device_seconds (rank 1's: NULL there). The sqlite3 shell's --setup script, which can
// only attach, is refused with a message naming ttap sql.
TEST(RunReaderFiles, MoreRankFilesThanSqliteAttachesAreCombined) {
  for (int32_t ranks : {12, 130}) {
    temp_dir dir(testing::memory_backed_parent());
    write_ranks(dir.path, ranks);
    if (HasFatalFailure()) return;
    testing::rewrite_store_file(dir.path + "/ttap.db",
                                "DROP VIEW actions_v; DROP TABLE actions; PRAGMA user_version = 3; "
                                "ALTER TABLE run_counters DROP COLUMN device_seconds;");
    if (HasFatalFailure()) return;
    // Rank 1's is a version 4 file from before run_counters.device_seconds: the first file copied
    // (the newest version first, in rank order), so the copy gets the column from a later one.
    testing::rewrite_store_file(dir.path + "/ttap.rank-1.db",
                                "ALTER TABLE run_counters DROP COLUMN device_seconds");
    if (HasFatalFailure()) return;

    const std::string n = std::to_string(ranks);
    EXPECT_EQ(combined_query(dir.path,
                             "SELECT count(*), count(DISTINCT rank), min(rank), max(rank), "
                             "count(tensor), sum(l2) FROM samples_v"),
              std::to_string(3 * ranks) + "|" + n + "|0|" + std::to_string(ranks - 1) + "|" +
                  std::to_string(3 * ranks) + "|" + std::to_string(3 * ranks * 2) + ".0")
        << ranks;
    EXPECT_EQ(combined_query(dir.path, "SELECT count(*), count(DISTINCT rank) FROM run_info"),
              n + "|" + n);
    EXPECT_EQ(combined_query(dir.path, "SELECT rank, step, message FROM alerts_v"),
              std::to_string(ranks - 1) + "|2|NaN in w");
    EXPECT_EQ(combined_query(dir.path, "SELECT count(*), rank FROM actions_v"), "1|1");
    EXPECT_EQ(combined_query(dir.path, "SELECT count(*) FROM tensors WHERE name = 'w'"), n);
    EXPECT_EQ(combined_query(dir.path, "SELECT count(*), count(device_seconds) FROM run_counters"),
              n + "|" + std::to_string(ranks - 2));

    std::string setup, error;
    EXPECT_FALSE(combined_views_sql(dir.path, &setup, &error));
    EXPECT_NE(error.find(n + " store files"), std::string::npos) << error;
    EXPECT_NE(error.find("ttap sql " + dir.path + " \"QUERY\""), std::string::npos) << error;
  }
}

// A store file that is not a regular file is refused before anything opens it (a FIFO would
// block forever), with one message naming the file and what it is.
TEST(RunReaderFiles, RefusesWhatIsNotARegularDatabaseFile) {
  auto refused = [](const std::string &dir, const std::string &expected) {
    std::string error;
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(run_reader::open(dir, &error));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_NE(error.find(dir + "/ttap.db"), std::string::npos) << error;
    EXPECT_NE(error.find(expected), std::string::npos) << error;
  };
  {
    temp_dir dir;
    ASSERT_EQ(mkfifo((dir.path + "/ttap.db").c_str(), 0644), 0);
    refused(dir.path, "a FIFO");
  }
  {
    temp_dir dir;
    std::filesystem::create_directory(dir.path + "/ttap.db");
    refused(dir.path, "a directory");
  }
  {
    temp_dir dir;
    std::filesystem::create_symlink("ttap.db", dir.path + "/ttap.db");
    refused(dir.path, "a symlink loop");
  }
  {
    temp_dir dir;
    std::ofstream(dir.path + "/ttap.db").close();  // what a writer that failed at start leaves
    refused(dir.path, "an empty database, not a tensortap store yet: its writer failed");
  }
}

// A writer that died without closing leaves a readable run that says so.
TEST(RunReaderFiles, AWriterThatDiedLeavesAReadableRunMarkedNotClosed) {
  temp_dir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string error;
    auto s = store::open(writer_info(dir.path, 0), &error);
    if (!s) _exit(2);
    tensor_info t;
    t.id = 0;
    t.name = "w";
    std::vector<sample_record> a{sample_at(0, 1, 1.7e9)};
    if (!s->add_tensor(t) || !s->add_samples(a) || !s->commit()) _exit(3);
    _exit(0);  // no close: the process dies with the store open
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::string error;
  auto r = run_reader::open(dir.path, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_FALSE(r->live());
  ASSERT_EQ(r->files().size(), 1u);
  EXPECT_EQ(r->files()[0].sessions, 1u);
  EXPECT_EQ(r->files()[0].closed_sessions, 0u);
  std::vector<sample_row> all;
  ASSERT_TRUE(r->samples(nullptr, false, &all));
  EXPECT_EQ(all.size(), 1u);
}

}  // namespace
}  // namespace ttap
