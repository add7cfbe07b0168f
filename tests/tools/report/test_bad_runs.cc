// Every reader verb (report in its three formats and of several runs, watch, export in its three
// formats, diff against a good run) on every way a run directory can be wrong: each ends within a
// deadline with exit status 2 and exactly one line on stderr that names the directory or file and
// the problem; none crashes or hangs.
// A store held by another writer is readable (WAL) or, at worst, the same one-line error.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/tools/report/report_test_support.h"

namespace ttap::test {
namespace {

namespace fs = std::filesystem;

// A good run for the verbs that read two (diff, a report of several runs), written once.
const std::string &good_run() {
  static temp_dir dir;
  static const std::string run = [] {
    write_run(dir.path("good"));
    return dir.path("good");
  }();
  return run;
}

// The verbs that read a run, as argument lists; `out` is a scratch path for the exporters.
std::vector<std::vector<std::string>> reader_verbs(const std::string &run, const std::string &out) {
  return {{"report", run},
          {"report", run, "--format", "json"},
          {"report", run, "--format", "html", "-o", out + ".html"},
          {"report", good_run(), run},
          {"report", good_run(), run, "--format", "html", "-o", out + "-runs.html"},
          {"watch", "--once", run},
          {"export", run, "--csv", out + ".csv"},
          {"export", run, "--jsonl", out + ".jsonl"},
          {"export", run, "--tensorboard", out + ".tb"},
          {"diff", good_run(), run},
          {"diff", run, good_run(), "--format", "json"}};
}

std::string joined(const std::vector<std::string> &args) {
  std::string s;
  for (const auto &a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Runs every reader verb on `run`; each must fail with one line containing `part` (and the run's
// path), or succeed when ok_allowed.
void expect_every_verb_refuses(const std::string &run, const temp_dir &dir, const std::string &part,
                               bool ok_allowed = false) {
  for (const auto &args : reader_verbs(run, dir.path("out"))) {
    SCOPED_TRACE(joined(args));
    const tool_run r = run_with_deadline(TTAP_BINARY, args, dir, 60);
    // ttap diff says 1 when a store it could read differs from the good run.
    if (ok_allowed && (r.status == 0 || (args[0] == "diff" && r.status == 1))) continue;
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
    EXPECT_TRUE(contains(r.err, run)) << "does not name the run: " << r.err;
    EXPECT_TRUE(contains(r.err, part)) << "does not say '" << part << "': " << r.err;
  }
}

void sql(const std::string &db_path, const std::string &statements) {
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char *message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

// A finished run in dir/name, its store checkpointed into one file (no -wal beside it).
std::string finished_run(const temp_dir &dir, const std::string &name) {
  const std::string run = dir.path(name);
  write_run(run);
  sql(run + "/ttap.db", "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
  return run;
}

TEST(BadRuns, MissingAndNotARun) {
  temp_dir dir;
  expect_every_verb_refuses(dir.path("missing"), dir, "no such directory");
  fs::create_directory(dir.path("empty"));
  expect_every_verb_refuses(dir.path("empty"), dir, "not a tensortap run");
  dir.write("plain-file", "x");
  expect_every_verb_refuses(dir.path("plain-file"), dir, "not a directory");
}

TEST(BadRuns, EmptyGarbageAndTruncatedStores) {
  temp_dir dir;
  fs::create_directory(dir.path("zero"));
  dir.write("zero/ttap.db", "");
  expect_every_verb_refuses(dir.path("zero"), dir, "not a tensortap store");
  fs::create_directory(dir.path("garbage"));
  dir.write("garbage/ttap.db", std::string(10000, '\x5a'));
  expect_every_verb_refuses(dir.path("garbage"), dir, "not a readable SQLite database");

  const std::string run = finished_run(dir, "truncated");
  const std::string db = run + "/ttap.db";
  fs::resize_file(db, fs::file_size(db) / 2);
  expect_every_verb_refuses(run, dir, "ttap.db");
}

TEST(BadRuns, ByteFlippedStore) {
  temp_dir dir;
  const std::string run = finished_run(dir, "flipped");
  const std::string db = run + "/ttap.db";
  // Past the 100-byte header (a flipped header is the garbage case): every 61st byte inverted.
  std::string bytes = read_whole_file(db);
  for (size_t i = 100; i < bytes.size(); i += 61) bytes[i] = char(~bytes[i]);
  std::ofstream(db, std::ios::binary | std::ios::trunc) << bytes;
  // SQLite finds some corruption only when it reads the page: a verb may still finish.
  expect_every_verb_refuses(run, dir, "ttap.db", /*ok_allowed=*/true);
}

TEST(BadRuns, DroppedTablesAndViewsAndForeignVersion) {
  temp_dir dir;
  // A verb that needs the missing table or view names it; one that never reads it (CSV has no
  // alerts) may succeed. The report reads every one of them, so it must refuse each.
  for (const std::string name : {"samples_v", "alerts", "tensors", "run_info", "samples"}) {
    SCOPED_TRACE(name);
    const std::string run = finished_run(dir, "dropped-" + name);
    sql(run + "/ttap.db", (name == "samples_v" ? "DROP VIEW " : "DROP TABLE ") + name + ";");
    expect_every_verb_refuses(run, dir, name, /*ok_allowed=*/true);
    const tool_run r = run_with_deadline(TTAP_BINARY, {"report", run}, dir, 60);
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, name)) << r.err;
  }
  const std::string run = finished_run(dir, "foreign");
  sql(run + "/ttap.db", "PRAGMA user_version=99;");
  expect_every_verb_refuses(run, dir, "99");
}

TEST(BadRuns, StoreHeldByAnotherWriter) {
  temp_dir dir;
  const std::string run = dir.path("held");
  write_run(run);
  sqlite3 *db = nullptr;
  ASSERT_EQ(sqlite3_open((run + "/ttap.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE; DELETE FROM alerts;", nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  expect_every_verb_refuses(run, dir, "ttap.db", /*ok_allowed=*/true);
  sqlite3_exec(db, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

TEST(BadRuns, DirectoryWithoutPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any directory: permissions cannot be tested";
  temp_dir dir;
  const std::string run = dir.path("private");
  write_run(run);
  ::chmod(run.c_str(), 0);
  expect_every_verb_refuses(run, dir, "ermission");
  ::chmod(run.c_str(), 0755);
}

}  // namespace
}  // namespace ttap::test
