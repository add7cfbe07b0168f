// `ttap watch` end to end: one frame of a finished run, the watch ending by itself when the run's
// writer has exited, a run written by a thread of this process while the watch reads it (one
// frame, then refreshing frames ended by SIGINT; on a pseudo-terminal, redrawn in place with the
// cursor restored at the end), a gap line per rank that is missing something, and its errors.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>

#include "tests/tools/report/report_test_support.h"

namespace ttap::test {
namespace {

// The steps named in "step N" of each frame header, in order.
std::vector<int64_t> frame_steps(const std::string &out) {
  std::vector<int64_t> steps;
  static const std::regex header(R"(ttap watch  .*  \|  step (\d+)  \|)");
  for (const auto &line : lines_of(out)) {
    std::smatch m;
    if (std::regex_search(line, m, header)) steps.push_back(std::stoll(m[1]));
  }
  return steps;
}

void expect_nan_shown(const std::string &out) {
  EXPECT_TRUE(contains(
      out, "first non-finite: step " + std::to_string(kNanStep) + ", " + kNanTensor + " (rank 0)"))
      << out;
  EXPECT_TRUE(
      contains(out, "  step " + std::to_string(kNanStep) + "  nonfinite  NaN in " + kNanTensor))
      << out;
}

TEST(WatchCommand, OneFrameOfAFinishedRun) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run_in_child(run);
  const tool_run r = run_with_deadline(TTAP_BINARY, {"watch", run, "--once"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(frame_steps(r.out), std::vector<int64_t>{kSteps - 1}) << r.out;
  expect_nan_shown(r.out);
  EXPECT_TRUE(contains(r.out, "finished (every writer closed its store)")) << r.out;
  // The NaN tensor leads the table, with its count and a '!' in its sparkline at the NaN sample.
  const auto lines = lines_of(r.out);
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("tensor ", 0) != 0) ++header;
  ASSERT_LT(header + 4, lines.size()) << r.out;
  EXPECT_EQ(lines[header + 1].rfind(kNanTensor, 0), 0u) << r.out;
  EXPECT_TRUE(contains(lines[header + 1], "1!")) << lines[header + 1];
  EXPECT_TRUE(contains(lines[header + 1], "!\u2587") || contains(lines[header + 1], "!\u2588") ||
              contains(lines[header + 1], "!\u2586"))
      << "the NaN sample is marked in the sparkline: " << lines[header + 1];
  // Every sampled tensor is listed, with a sparkline of block characters.
  for (const char *name : {kParamTensor, kAttnGrad, kActTensor}) {
    EXPECT_TRUE(contains(r.out, std::string("\n") + name + " ")) << name << "\n" << r.out;
  }
  EXPECT_TRUE(contains(r.out, "\u2581") && contains(r.out, "\u2588")) << r.out;
  EXPECT_TRUE(contains(r.out, "loss ")) << r.out;
  EXPECT_FALSE(contains(r.out, "\x1b[")) << "no escape codes into a file";
}

TEST(WatchCommand, EndsByItselfWhenTheWriterHasExited) {
  temp_dir dir;
  const std::string run = dir.path("run");
  write_run_in_child(run);
  const tool_run r = run_with_deadline(TTAP_BINARY, {"watch", run}, dir, 20);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(frame_steps(r.out).size(), 1u) << r.out;
  EXPECT_TRUE(contains(r.out, "finished (every writer closed its store)")) << r.out;
}

// Steps a run in a thread of this process, slowly, until stopped; `ready` once the NaN step and a
// few more are committed.
class live_run {
 public:
  explicit live_run(const std::string &dir) : m_writer(dir, 100) {
    m_thread = std::thread([this] {
      for (int64_t s = 0; !m_stop.load(); ++s) {
        m_writer.step(s);
        if (s == kNanStep + 3) {
          m_writer.flush();
          std::lock_guard<std::mutex> lock(m_mutex);
          m_ready = true;
          m_cv.notify_all();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      m_writer.close();
    });
  }
  ~live_run() {
    m_stop.store(true);
    m_thread.join();
  }
  void wait_ready() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_cv.wait(lock, [this] { return m_ready; });
  }

 private:
  run_writer m_writer;
  std::atomic<bool> m_stop{false};
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_ready = false;
  std::thread m_thread;
};

TEST(WatchCommand, FollowsALiveRun) {
  temp_dir dir;
  const std::string run = dir.path("run");
  live_run writer(run);
  writer.wait_ready();

  const tool_run once = run_with_deadline(TTAP_BINARY, {"watch", run, "--once"}, dir);
  ASSERT_EQ(once.status, 0) << once.err;
  const auto steps = frame_steps(once.out);
  ASSERT_EQ(steps.size(), 1u) << once.out;
  EXPECT_GE(steps[0], kNanStep + 3) << once.out;
  expect_nan_shown(once.out);
  EXPECT_TRUE(contains(once.out, "live, last write")) << once.out;

  // Refreshing: frames keep coming while the run grows, and SIGINT ends the watch cleanly.
  child watch(TTAP_BINARY, {"watch", run, "--interval", "1"}, dir, "watch");
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  watch.signal(SIGINT);
  bool timed_out = false;
  const tool_run live = watch.wait(10, &timed_out);
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(live.status, 0) << live.err;
  EXPECT_EQ(live.err, "");
  const auto live_steps = frame_steps(live.out);
  ASSERT_GE(live_steps.size(), 2u) << live.out;
  EXPECT_GT(live_steps.back(), live_steps.front()) << live.out;
  EXPECT_GE(live_steps.front(), steps[0]);
  expect_nan_shown(live.out);
}

// Reads what the child on the other side of `master` writes, until `deadline` or its end.
void read_pty(int master, std::string *out, std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    struct pollfd p = {master, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) return;  // EIO once the child has closed the terminal
    out->append(buf, size_t(n));
  }
}

TEST(WatchCommand, RedrawsInPlaceOnATerminal) {
  temp_dir dir;
  const std::string run = dir.path("run");
  live_run writer(run);
  writer.wait_ready();
  int master = -1;
  struct winsize size = {40, 120, 0, 0};
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("TERM", "xterm", 1);
    ::unsetenv("NO_COLOR");
    ::execl(TTAP_BINARY, TTAP_BINARY, "watch", run.c_str(), "--interval", "1", (char *)nullptr);
    ::_exit(127);
  }
  std::string out;
  read_pty(master, &out, std::chrono::steady_clock::now() + std::chrono::milliseconds(2600));
  ::kill(pid, SIGINT);
  read_pty(master, &out, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_EQ(out.rfind("\x1b[?25l", 0), 0u) << "the cursor is hidden first";
  EXPECT_TRUE(std::regex_search(out, std::regex("\x1b\\[[0-9]+A\r"))) << "later frames go back up";
  EXPECT_TRUE(contains(out, "\x1b[K")) << "lines are cleared as they are rewritten";
  EXPECT_TRUE(
      contains(out, std::string("\x1b[31mfirst non-finite: step ") + std::to_string(kNanStep)))
      << "colored on a terminal";
  ASSERT_GE(out.size(), 6u);
  EXPECT_EQ(out.substr(out.size() - 6), "\x1b[?25h") << "the cursor is shown again on Ctrl-C";
}

// A rank of the job that never stored anything is a gap line of its own; a complete run has none.
TEST(WatchCommand, SaysPerRankWhatIsMissing) {
  temp_dir dir;
  const std::string run = dir.path("run");
  {
    run_writer rank0(run, 1000, nullptr, "rank=0,world=2");  // rank 1 never opens its store
    for (int64_t s = 0; s < kSteps; ++s) rank0.step(s);
    rank0.close();
  }
  tool_run r = run_with_deadline(TTAP_BINARY, {"watch", run, "--once"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\ngap: rank 1: no store file and no rows")) << r.out;
  EXPECT_EQ(r.out.find("gap:"), r.out.rfind("gap:")) << "one gap: " << r.out;

  const std::string complete = dir.path("complete");
  write_run(complete);
  r = run_with_deadline(TTAP_BINARY, {"watch", complete, "--once"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.out, "gap:")) << r.out;
}

TEST(WatchCommand, Errors) {
  temp_dir dir;
  tool_run r = run_with_deadline(TTAP_BINARY, {"watch", dir.path("missing"), "--once"}, dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "ttap watch: error: " + dir.path("missing") + ": no such directory\n");
  r = run_with_deadline(TTAP_BINARY, {"watch", dir.path("."), "--once"}, dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "not a tensortap run")) << r.err;
  const std::string run = dir.path("run");
  write_run(run);
  r = run_with_deadline(TTAP_BINARY, {"watch", run, "--interval", "0.2"}, dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.err, "--interval")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

}  // namespace
}  // namespace ttap::test
