// `ttap ls` end to end: finished, crashed (killed writer) and live runs are told apart, runs are
// found up to three levels down and sorted by start time, the alert and first non-finite columns
// come from the store, JSON carries the same, a rank that stored nothing is a gap, and a missing
// directory is status 2.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/tools/compare/compare_test_runs.h"
#include "tests/tools/ttap/tool_runner.h"

namespace ttap::test {
namespace {

using json = nlohmann::json;

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

const json *run_named(const json &listing, const std::string &dir) {
  for (const auto &r : listing["runs"])
    if (r["dir"] == dir) return &r;
  return nullptr;
}

// A child that writes a few steps, commits, and then waits (alive, store open) until killed.
pid_t start_live_writer(const std::string &dir, int pipe_fd) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ttap_session *s = nullptr;
  std::vector<float> g(64, 1.0f);
  int32_t h;
  if (ttap_open(dir.c_str(), "backend=cpu,budget=0,flush_ms=50", &s) != TTAP_OK ||
      ttap_watch(s, "g.grad", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h) != TTAP_OK)
    ::_exit(1);
  for (int64_t step = 0; step < 5; ++step) ttap_step(s, step, nullptr);
  ttap_flush(s);
  const char ready = 'r';
  if (::write(pipe_fd, &ready, 1) != 1) ::_exit(1);
  for (;;) ::pause();
}

TEST(Ls, TellsFinishedCrashedAndLiveRunsApart) {
  temp_dir dir;
  const std::string root = dir.path("runs");
  run_recipe nan;
  nan.nan_step = 4;
  write_recipe_run_in_child(root + "/first", {});
  write_recipe_run_in_child(root + "/deep/er/second", nan);
  // Four levels down: past ttap ls's depth.
  write_recipe_run_in_child(root + "/a/b/c/too-deep", {});

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t live = start_live_writer(root + "/live", fds[1]);
  char ready = 0;
  ASSERT_EQ(::read(fds[0], &ready, 1), 1);
  // The same writer killed: its write-ahead log stays behind.
  int fds2[2];
  ASSERT_EQ(::pipe(fds2), 0);
  const pid_t doomed = start_live_writer(root + "/killed", fds2[1]);
  ASSERT_EQ(::read(fds2[0], &ready, 1), 1);
  ::kill(doomed, SIGKILL);
  ::waitpid(doomed, nullptr, 0);

  const tool_run r = run_ttap({"ls", root, "--format", "json"}, dir);
  ::kill(live, SIGKILL);
  ::waitpid(live, nullptr, 0);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 4u) << j;  // not too-deep

  const json *first = run_named(j, root + "/first");
  const json *second = run_named(j, root + "/deep/er/second");
  const json *live_run = run_named(j, root + "/live");
  const json *killed = run_named(j, root + "/killed");
  ASSERT_TRUE(first && second && live_run && killed) << j;
  EXPECT_EQ((*first)["state"], "finished");
  EXPECT_EQ((*second)["state"], "finished");
  EXPECT_EQ((*live_run)["state"], "live");
  EXPECT_EQ((*killed)["state"], "crashed");
  EXPECT_EQ((*first)["last_step"], 19);
  EXPECT_EQ((*first)["samples"], 20);
  EXPECT_EQ((*first)["alerts"], 0);
  EXPECT_TRUE((*first)["first_nonfinite"].is_null());
  EXPECT_EQ((*second)["first_nonfinite"]["step"], 4);
  EXPECT_EQ((*second)["first_nonfinite"]["tensor"], "b.grad");
  EXPECT_GE((*second)["alerts"].get<int>(), 1);
  EXPECT_EQ((*first)["ranks"], json::array({0}));
  // Sorted by start time: the order they were written in.
  std::vector<std::string> order;
  for (const auto &run : j["runs"]) order.push_back(run["dir"]);
  EXPECT_EQ(order, (std::vector<std::string>{root + "/first", root + "/deep/er/second",
                                             root + "/live", root + "/killed"}));

  const tool_run text = run_ttap({"ls", root}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "step 4 b.grad")) << text.out;
  EXPECT_TRUE(contains(text.out, "finished")) << text.out;
  EXPECT_TRUE(contains(text.out, "crashed")) << text.out;
}

// A reader that has the store open while the writer closes (ttap run's status line does) must not
// make a clean close look like a crash: the writer still empties the write-ahead log.
TEST(Ls, ARunClosedWhileAReaderHasItOpenIsFinished) {
  temp_dir dir;
  const std::string run = dir.path("watched");
  int opened[2], go[2];
  ASSERT_EQ(::pipe(opened), 0);
  ASSERT_EQ(::pipe(go), 0);
  const pid_t writer = ::fork();
  if (writer == 0) {
    ttap_session *s = nullptr;
    std::vector<float> g(64, 1.0f);
    int32_t h;
    char c = 'o';
    if (ttap_open(run.c_str(), "backend=cpu,budget=0,flush_ms=50", &s) != TTAP_OK ||
        ttap_watch(s, "g.grad", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h) != TTAP_OK ||
        ttap_step(s, 0, nullptr) != TTAP_OK || ttap_flush(s) != TTAP_OK ||
        ::write(opened[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1)
      ::_exit(1);
    for (int64_t step = 1; step < 20; ++step) ttap_step(s, step, nullptr);
    ::_exit(ttap_close(s) == TTAP_OK ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(::read(opened[0], &c, 1), 1);
  sqlite3 *reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2((run + "/ttap.db").c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "SELECT count(*) FROM samples", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ::waitpid(writer, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const tool_run r = run_ttap({"ls", run, "--format", "json"}, dir);
  sqlite3_close(reader);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 1u);
  EXPECT_EQ(j["runs"][0]["state"], "finished") << j;
  EXPECT_EQ(j["runs"][0]["last_step"], 19);
}

// A reader inside a read through the whole close: the writer cannot fold its WAL in and leaves it
// (nothing lost). Every session is marked closed, so the run is finished, not crashed.
TEST(Ls, ARunClosedWhileAReaderIsInsideAReadIsFinished) {
  temp_dir dir;
  const std::string run = dir.path("held");
  int opened[2], go[2];
  ASSERT_EQ(::pipe(opened), 0);
  ASSERT_EQ(::pipe(go), 0);
  const pid_t writer = ::fork();  // a writer that has exited, as after a finished job
  if (writer == 0) {
    ttap_session *s = nullptr;
    std::vector<float> g(64, 1.0f);
    int32_t h;
    char c = 'o';
    if (ttap_open(run.c_str(), "backend=cpu,budget=0,flush_ms=50", &s) != TTAP_OK ||
        ttap_watch(s, "g.grad", g.data(), TTAP_F32, g.size(), TTAP_GRAD, &h) != TTAP_OK)
      ::_exit(1);
    for (int64_t step = 0; step < 5; ++step) ttap_step(s, step, nullptr);
    if (ttap_flush(s) != TTAP_OK || ::write(opened[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1)
      ::_exit(1);
    ::_exit(ttap_close(s) == TTAP_OK ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(::read(opened[0], &c, 1), 1);
  sqlite3 *reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2((run + "/ttap.db").c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM samples", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ::waitpid(writer, &status, 0);
  sqlite3_close_v2(reader);  // read-only: does not checkpoint
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_GT(std::filesystem::file_size(run + "/ttap.db-wal"), 0u);
  const tool_run r = run_ttap({"ls", run, "--format", "json"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 1u);
  EXPECT_EQ(j["runs"][0]["state"], "finished") << j;
  EXPECT_EQ(j["runs"][0]["last_step"], 4);
}

TEST(Ls, ListsTheCurrentDirectoryByDefaultAndNamesBadInput) {
  temp_dir dir;
  write_recipe_run(dir.path("only"), {});
  std::filesystem::create_directories(dir.path("broken"));
  dir.write("broken/ttap.db", "not a database at all, just text");
  const tool_run missing = run_ttap({"ls", dir.path("nope")}, dir);
  EXPECT_EQ(missing.status, 2);
  EXPECT_TRUE(contains(missing.err, "ttap ls: error: " + dir.path("nope") + ": no such directory"))
      << missing.err;
  const tool_run r = run_ttap({"ls", dir.path(""), "--format", "json"}, dir);
  EXPECT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 2u) << j;
  // An unreadable store is listed (last) with the reason, and named on stderr.
  EXPECT_EQ(j["runs"][1]["state"], "unreadable");
  EXPECT_TRUE(contains(j["runs"][1]["error"], "not a readable SQLite database"));
  EXPECT_TRUE(contains(r.err, "broken")) << r.err;
}

// A rank of the job that stored nothing is a gap of that run, in JSON and under the table; a run
// whose ranks all stored has none.
TEST(Ls, SaysPerRankWhatIsMissing) {
  temp_dir dir;
  const std::string root = dir.path("runs");
  run_recipe rank0, rank1;
  rank0.world = rank1.world = 2;
  rank1.rank = 1;
  write_recipe_run(root + "/complete", rank0);
  write_recipe_run(root + "/complete", rank1);
  write_recipe_run(root + "/missing", rank0);  // rank 1 never opens its store

  const tool_run r = run_ttap({"ls", root, "--format", "json"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  const json *complete = run_named(j, root + "/complete");
  const json *missing = run_named(j, root + "/missing");
  ASSERT_TRUE(complete && missing) << j;
  EXPECT_EQ((*complete)["gaps"], json::array()) << j;
  ASSERT_EQ((*missing)["gaps"].size(), 1u) << j;
  EXPECT_EQ((*missing)["gaps"][0]["rank"], 1);
  EXPECT_TRUE(contains((*missing)["gaps"][0]["what"], "no store file and no rows")) << j;

  const tool_run text = run_ttap({"ls", root}, dir);
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "\ngap  " + root + "/missing  rank 1: no store file and no rows"))
      << text.out;
  EXPECT_FALSE(contains(text.out, "gap  " + root + "/complete")) << text.out;
}

TEST(Ls, AnEmptyTreeSaysSo) {
  temp_dir dir;
  std::filesystem::create_directories(dir.path("nothing/here"));
  const tool_run r = run_ttap({"ls", dir.path("nothing")}, dir);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "no runs found\n");
}

}  // namespace
}  // namespace ttap::test
