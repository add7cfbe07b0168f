// Crash safety of the run store: a writer killed with SIGKILL at a random moment (mid-insert,
// mid-commit, mid-checkpoint) leaves a database that passes integrity_check and holds every
// transaction it acknowledged, whole; a new writer reopens it and goes on.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "runtime/store/store.h"
#include "tests/runtime/store/store_test_util.h"

namespace ttap {
namespace {

using testing::reader;
using testing::temp_run_dir;

constexpr int kTensors = 200;
constexpr int kSamplesPerCommit = 10;  // 2000 rows and one alert per transaction

// What the child reports after each commit returned true.
struct progress {
  uint64_t commits;
  int64_t last_step;
};

// A bell-shaped summary of `n` values, built directly (no executor threads in a forked child).
summary make_summary(uint64_t n, int64_t step) {
  summary s;
  summary_clear(s);
  s.count = n;
  for (int e = -30; e <= -4; ++e)
    s.exp_hist[e - kExpHistMin] = n / uint64_t(4 + (e + 17) * (e + 17));
  s.min = -0.1 - 1e-6 * double(step);
  s.max = 0.1;
  s.abs_max = -s.min;
  s.sum = 1e-3 * double(step);
  s.sum_abs = 0.01 * double(n);
  s.sum_sq = 4e-4 * double(n);
  return s;
}

// The child: writes samples and commits until killed, reporting each acknowledged commit. Its
// steps continue from first_step so every round of the test appends to the same file.
[[noreturn]] void write_until_killed(const std::string &run_dir, int64_t first_step, int fd) {
  run_info info;
  info.run_dir = run_dir;
  info.pid = getpid();
  info.append = true;  // every round adds a session to the same file
  std::string error;
  std::unique_ptr<store> s = store::open(info, &error);
  if (!s) _exit(2);
  for (int t = 0; t < kTensors; ++t) {
    tensor_info ti;
    ti.id = t;
    ti.name = "layers." + std::to_string(t) + ".grad";
    if (!s->add_tensor(ti)) _exit(3);
  }
  std::vector<sample_record> batch(kTensors);
  for (int t = 0; t < kTensors; ++t) batch[t].tensor_id = t;
  progress p{0, first_step - 1};
  for (int64_t step = first_step;; ++step) {
    for (sample_record &r : batch) {
      r.step = step;
      r.time = 1.7e9 + double(step);
      r.stats = make_summary(uint64_t(1) << 20, step);
    }
    if (!s->add_samples(batch)) _exit(4);
    if ((step - first_step + 1) % kSamplesPerCommit != 0) continue;
    alert a;
    a.step = step;
    a.tensor_id = 0;
    a.tensor = "layers.0.grad";
    a.type = alert_type::spike;
    a.message = "acknowledged with the commit of step " + std::to_string(step);
    if (!s->add_alert(a) || !s->commit()) _exit(5);
    ++p.commits;
    p.last_step = step;
    if (write(fd, &p, sizeof p) != sizeof p) _exit(6);
  }
}

TEST(StoreCrash, SigkillMidWriteKeepsEveryAcknowledgedCommit) {
  temp_run_dir dir;
  std::mt19937 rng(12345);
  int64_t rows_before = 0, alerts_before = 0;
  int64_t first_step = 0;
  // Kill points spread over the child's life, from its first commits on; the WAL checkpoints
  // (every 16 MiB, about 60 commits here) run in the rounds together, so some kills land on a
  // writer that has started copying the WAL into the database.
  for (int round = 0; round < 5; ++round) {
    uint64_t wait_commits = 1 + rng() % 60;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      write_until_killed(dir.path(), first_step, fds[1]);
    }
    close(fds[1]);
    progress last{0, first_step - 1}, p;
    while (last.commits < wait_commits && read(fds[0], &p, sizeof p) == sizeof p) last = p;
    ASSERT_GE(last.commits, wait_commits) << "the writer stopped early (round " << round << ")";
    // Land the kill anywhere inside the next transaction or its commit.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // Commits acknowledged between the last read and the kill count too.
    while (read(fds[0], &p, sizeof p) == sizeof p) last = p;
    close(fds[0]);

    reader r(dir.db());
    ASSERT_EQ(r.rows("PRAGMA integrity_check")[0][0], "ok") << "round " << round;
    int64_t rows = r.integer("SELECT count(*) FROM samples") - rows_before;
    int64_t alerts = r.integer("SELECT count(*) FROM alerts") - alerts_before;
    int64_t per_commit = int64_t(kTensors) * kSamplesPerCommit;
    // Every acknowledged transaction is there; at most one more (committed, killed before it
    // could report) may be; nothing partial.
    EXPECT_GE(rows, int64_t(last.commits) * per_commit) << "round " << round;
    EXPECT_LE(rows, int64_t(last.commits + 1) * per_commit) << "round " << round;
    EXPECT_EQ(rows % per_commit, 0) << "a partial transaction survived, round " << round;
    EXPECT_EQ(alerts, rows / per_commit) << "round " << round;
    EXPECT_GE(r.integer("SELECT max(step) FROM samples_v WHERE tensor = 'layers.199.grad'"),
              last.last_step);
    EXPECT_EQ(r.integer("SELECT count(*) FROM alerts_v WHERE message = "
                        "'acknowledged with the commit of step " +
                        std::to_string(last.last_step) + "'"),
              1);
    std::printf("round %d: killed after %llu acknowledged commits; %lld rows, %lld alerts kept\n",
                round, (unsigned long long)last.commits, (long long)rows, (long long)alerts);
    rows_before += rows;
    alerts_before += alerts;
    first_step = r.integer("SELECT max(step) FROM samples") + 1;
  }
  // Pages reach the main file only through checkpoints: they did run under the killed writers.
  EXPECT_GT(std::filesystem::file_size(dir.db()), uintmax_t(8) << 20);
}

}  // namespace
}  // namespace ttap
