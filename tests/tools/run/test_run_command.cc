// `ttap run` end to end through the built binary: the environment reaches the command, the
// summary names the planted NaN, exit statuses pass through, directories are guarded, signals are
// forwarded, and the Prometheus endpoint serves parseable metrics while the run is live.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/command_output.h"
#include "tests/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using ttap::testing::temp_dir;

using result = ttap::testing::command_result;

// Runs a shell command line in `cwd`, capturing both streams.
result shell(const std::string &cwd, const std::string &cmd) {
  return ttap::testing::command_output("cd '" + cwd + "' && " + cmd + " 2>&1");
}

const std::string kTtap = TTAP_BINARY;
const std::string kTarget = RUN_TARGET;

TEST(RunCommand, SummaryNamesThePlantedNanAndTheDirectory) {
  temp_dir dir;
  result r = shell(dir.path, kTtap + " run --budget 0 -- " + kTarget + " 20 0 7 0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ttap: running `" + kTarget + " 20 0 7 0`"), std::string::npos) << r.out;
  // Fast toy steps: without --budget 0 the default 1% budget would thin the samples out.
  EXPECT_NE(r.out.find("first non-finite: step 7: NaN in fc.grad"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("norms that moved most"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fc.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("overhead"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote ttap-run-1"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir.path + "/ttap-run-1/ttap.db"));
  // The next run gets the next directory.
  r = shell(dir.path, kTtap + " run -- " + kTarget + " 2 0 -1 0");
  EXPECT_NE(r.out.find("wrote ttap-run-2"), std::string::npos) << r.out;
}

// --on-nonfinite skip+dump: the banner says every step is sampled, the program's verdict skips the
// NaN step, and the summary counts the actions and names the dump.
TEST(RunCommand, SkipAndDumpAreAnnouncedAndCounted) {
  temp_dir dir;
  result r =
      shell(dir.path, kTtap + " run -o run --on-nonfinite skip+dump -- " + kTarget + " 20 0 7 0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ttap: on_nonfinite=skip+dump: the watched tensors are sampled at every "
                       "step, whatever --every and --budget say"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("skipped step 7\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("skipped step", r.out.find("skipped step 7") + 1), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ttap: 2 actions (1 dump, 1 skip)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  dump: run/dumps/step-7-rank-0"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir.path + "/run/dumps/step-7-rank-0/tensors.safetensors"));
  // A bad policy is refused before anything runs.
  r = shell(dir.path, kTtap + " run -o run2 --on-nonfinite skip+jump -- " + kTarget + " 2 0 -1 0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("takes warn, skip, dump or abort"), std::string::npos) << r.out;
}

// No byte of `text` may drive a terminal: no ESC, BEL or other C0 control but newline, and only
// well-formed UTF-8 (a checker independent of the product's escaping).
std::string terminal_hazard(const std::string &text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return "control byte at " + std::to_string(i);
    if (c < 0x80) continue;
    const size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > text.size()) return "bad UTF-8 at " + std::to_string(i);
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80)
        return "bad UTF-8 at " + std::to_string(i);
    }
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0)
      return "C1 control at " + std::to_string(i);
    i += n - 1;
  }
  return "";
}

// A tensor named with an OSC title change, a clear-screen, a newline and invalid UTF-8: every
// verb that prints stored names shows it escaped (\x1b...), on one line.
TEST(RunCommand, HostileTensorNamesAreEscapedOnEveryTerminalPath) {
  temp_dir dir;
  const std::string escaped = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x0aname\\xff\\xfe";
  result r = shell(dir.path, kTtap + " run -o run --budget 0 -- " + kTarget + " 6 0 3 0 hostile");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(terminal_hazard(r.out), "") << r.out;
  EXPECT_NE(r.out.find(escaped), std::string::npos) << r.out;
  for (const std::string verb : {"report run", "watch --once run", "report run --format json"}) {
    r = shell(dir.path, kTtap + " " + verb);
    ASSERT_EQ(r.status, 0) << verb << ": " << r.out;
    EXPECT_EQ(terminal_hazard(r.out), "") << verb << ": " << r.out;
    if (verb.find("json") == std::string::npos) {
      EXPECT_NE(r.out.find(escaped), std::string::npos) << verb << ": " << r.out;
    }
  }
}

TEST(RunCommand, ExitStatusesPassThrough) {
  temp_dir dir;
  EXPECT_EQ(shell(dir.path, kTtap + " run -- " + kTarget + " 2 0 -1 7").status, 7);
  result r = shell(dir.path, kTtap + " run -- /no/such/command --flag");
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.out.find("cannot start '/no/such/command': No such file or directory"),
            std::string::npos)
      << r.out;
  r = shell(dir.path, kTtap + " run");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no command to run"), std::string::npos) << r.out;
}

TEST(RunCommand, ExistingDirectoryNeedsForce) {
  temp_dir dir;
  ASSERT_EQ(shell(dir.path, kTtap + " run -o out -- " + kTarget + " 3 0 -1 0").status, 0);
  result r = shell(dir.path, kTtap + " run -o out -- " + kTarget + " 3 0 -1 0");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("out already exists (pass --force"), std::string::npos) << r.out;
  r = shell(dir.path, kTtap + " run -o out --force --budget 0 -- " + kTarget + " 3 0 1 0");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("first non-finite: step 1"), std::string::npos) << r.out;
  r = shell(dir.path, "sqlite3 out/ttap.db 'select count(*) from run_info'");
  EXPECT_EQ(r.out, "1\n") << "--force replaces the store, it does not append a session";
}

// store=off (--set or the environment): the command's session keeps no store, so ttap run says
// so at the start and at the end instead of a summary, never "wrote DIR" or "never opened a
// session"; the trainer's own alert line still reaches stderr, and a jsonl stream is named.
TEST(RunCommand, StoreOffSaysNoStoreWasKeptInsteadOfASummary) {
  temp_dir dir;
  result r =
      shell(dir.path, kTtap + " run -o off --budget 0 --set store=off -- " + kTarget + " 5 0 2 0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("with store=off: tensors it watches are sampled, but no store is kept in "
                       "off"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("NaN in fc.grad"), std::string::npos) << "the alert printer's line\n"
                                                             << r.out;
  EXPECT_NE(r.out.find("ttap: store=off: no store was kept, so there is no summary (and no run "
                       "in off for `ttap report`)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("wrote "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("never opened a tensortap session"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ttap.db"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path + "/off/ttap.db"));

  // From the environment, with a JSONL stream: the end names where the samples went.
  r = shell(dir.path, "TTAP_STORE=off " + kTtap + " run -o env --budget 0 --set jsonl=" + dir.path +
                          "/s.jsonl -- " + kTarget + " 5 0 -1 0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("no store was kept"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("samples and alerts were streamed to " + dir.path + "/s.jsonl"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("wrote "), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path + "/env/ttap.db"));
  EXPECT_GT(fs::file_size(dir.path + "/s.jsonl"), 0u);
  // A flag wins over the environment: --set store=on keeps the store again.
  r = shell(dir.path,
            "TTAP_STORE=off " + kTtap + " run -o on --set store=on -- " + kTarget + " 3 0 -1 0");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("wrote on"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir.path + "/on/ttap.db"));

  // The metrics endpoint is fed from the store: with none it is refused before CMD starts.
  r = shell(dir.path, kTtap + " run -o prom --prometheus 127.0.0.1:0 --set store=off -- " +
                          kTarget + " 3 0 -1 0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--prometheus serves what the run's store holds, and store=off keeps none"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(dir.path + "/prom"));
}

TEST(RunCommand, OptionsReachTheCommandAsEnvironment) {
  temp_dir dir;
  result r =
      shell(dir.path, kTtap +
                          " run -o e --every 4 --budget 0.25 --on-nonfinite abort -- sh -c "
                          "'echo $TTAP_RUN_DIR $TTAP_EVERY $TTAP_BUDGET $TTAP_ON_NONFINITE'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("e 4 0.25 abort"), std::string::npos) << r.out;
  // Any session knob through --set; values are checked by the knob registry before CMD starts.
  r = shell(dir.path, kTtap +
                          " run -o s --set spike_threshold=5 --set vanishing_samples=2 -- sh -c "
                          "'echo $TTAP_SPIKE_THRESHOLD $TTAP_VANISHING_SAMPLES'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("5 2"), std::string::npos) << r.out;
  r = shell(dir.path, kTtap + " run -o t --set spike_window=1 -- true");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("spike_window (TTAP_SPIKE_WINDOW) takes an integer from 3 to 100000"),
            std::string::npos)
      << r.out;
  r = shell(dir.path, kTtap + " run -o u --every 0 -- true");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("every=0 is out of range"), std::string::npos) << r.out;
  // on_nonfinite=abort ends the command at the NaN with status 3.
  r = shell(dir.path,
            kTtap + " run -o a --budget 0 --on-nonfinite abort -- " + kTarget + " 50 0 5 0");
  EXPECT_EQ(r.status, 3) << r.out;
}

TEST(RunCommand, ForwardsTerminationAndStillSummarizes) {
  temp_dir dir;
  std::string out_file = dir.path + "/out.txt";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    chdir(dir.path.c_str());
    freopen(out_file.c_str(), "w", stderr);
    execl(kTtap.c_str(), kTtap.c_str(), "run", "--", kTarget.c_str(), "100000", "10", "-1", "0",
          static_cast<char *>(nullptr));
    _exit(126);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  result r = shell(dir.path, "cat out.txt");
  EXPECT_NE(r.out.find("exited with status 143"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote ttap-run-1"), std::string::npos) << r.out;
}

// The endpoint's address from the run's file_sd target file ("" until it is written).
std::string target_of(const std::string &run_dir) {
  result r = shell(run_dir, "cat prometheus-targets.json 2>/dev/null");
  const size_t at = r.out.find("\"127.0.0.1:");
  if (at == std::string::npos) return "";
  return r.out.substr(at + 1, r.out.find('"', at + 1) - at - 1);
}

// Forks `ttap run ARGS` in `cwd` with stderr to `err_file` and extra environment `env`.
pid_t spawn_ttap(const std::string &cwd, const std::string &err_file,
                 const std::vector<std::string> &args,
                 const std::vector<std::pair<std::string, std::string>> &env = {}) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  chdir(cwd.c_str());
  freopen(err_file.c_str(), "w", stderr);
  for (const auto &[k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char *> argv{const_cast<char *>(kTtap.c_str())};
  for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  execv(kTtap.c_str(), argv.data());
  _exit(126);
}

// Every sample line parses as `name{labels} value`; returns how many there are.
size_t check_exposition(const std::string &metrics) {
  size_t lines = 0;
  for (size_t pos = 0; pos < metrics.size();) {
    size_t end = metrics.find('\n', pos);
    std::string line = metrics.substr(pos, end - pos);
    pos = end == std::string::npos ? metrics.size() : end + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    char *rest = nullptr;
    std::strtod(line.c_str() + space + 1, &rest);
    EXPECT_EQ(*rest, '\0') << line;
    ++lines;
  }
  return lines;
}

TEST(RunCommand, PrometheusEndpointServesLabelledMetricsThenGoesStale) {
  temp_dir dir;
  const std::string err = dir.path + "/err.txt";
  // Port 0: the endpoint takes a free port and says which in the target file. Budget 0: every
  // step is sampled, so the final ttap_step is the last step (with the default budget a slow
  // build, e.g. under ASan, thinned the sampling and the last sampled step was 394).
  pid_t pid = spawn_ttap(dir.path, err,
                         {"run", "-o", "live", "--budget", "0", "--prometheus", "127.0.0.1:0",
                          "--prometheus-linger", "60", "--", kTarget, "400", "10", "20", "0"});
  ASSERT_GT(pid, 0);
  const std::string run_dir = dir.path + "/live";
  std::string metrics, target;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const std::string labels = std::string("host=\"") + host + "\",rank=\"0\",run=\"live\"";
  for (int attempt = 0; attempt < 80 && metrics.empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (target.empty()) target = target_of(run_dir);
    if (target.empty()) continue;
    result r = shell(dir.path, "curl -sf http://" + target + "/metrics");
    if (r.status == 0 &&
        r.out.find("ttap_tensor_l2{" + labels + ",tensor=\"fc.weight\"}") != std::string::npos &&
        r.out.find("ttap_alerts_total{" + labels + ",type=\"nonfinite\"} 1") != std::string::npos)
      metrics = r.out;
  }
  ASSERT_FALSE(metrics.empty()) << "no live metrics at '" << target
                                << "' with the labelled tensor gauges and the NaN alert";
  EXPECT_GT(check_exposition(metrics), 10u);
  for (const char *name : {"ttap_global_grad_norm{", "ttap_step{", "ttap_loss{",
                           "ttap_last_sample_timestamp_seconds{", "ttap_overhead_budget_fraction{"})
    EXPECT_NE(metrics.find(name + labels + "}"), std::string::npos) << name << "\n" << metrics;
  // Every alert type is exported from 0, so increase() sees the first one.
  EXPECT_NE(metrics.find("ttap_alerts_total{" + labels + ",type=\"divergence\"} 0"),
            std::string::npos);

  // The command ends; the final values stay up for the linger, then a signal ends it and the
  // target file lists nothing (Prometheus marks the series stale).
  bool lingering = false;
  for (int attempt = 0; attempt < 120 && !lingering; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    lingering = shell(dir.path, "grep -c 'serving the final metrics' err.txt").out == "1\n";
  }
  ASSERT_TRUE(lingering) << shell(dir.path, "cat err.txt").out;
  result last = shell(dir.path, "curl -sf http://" + target + "/metrics");
  EXPECT_EQ(last.status, 0);
  EXPECT_NE(last.out.find("ttap_step{" + labels + "} 399"), std::string::npos) << last.out;
  EXPECT_NE(target_of(run_dir), "");
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(shell(run_dir, "tr -d ' \\n' < prometheus-targets.json").out, "[]");
}

// A SIGTERM that stops the command (a scheduler ending the job) ends the run without the linger:
// it used to be forwarded to the command and then wait out the whole linger for a second signal.
TEST(RunCommand, ASignalThatStopsTheCommandSkipsTheLinger) {
  temp_dir dir;
  pid_t pid = spawn_ttap(dir.path, dir.path + "/err.txt",
                         {"run", "-o", "stopped", "--prometheus", "127.0.0.1:0",
                          "--prometheus-linger", "60", "--", "sleep", "60"});
  ASSERT_GT(pid, 0);
  const std::string run_dir = dir.path + "/stopped";
  bool serving = false;
  for (int attempt = 0; attempt < 240 && !serving; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    serving = !target_of(run_dir).empty();
  }
  ASSERT_TRUE(serving) << shell(dir.path, "cat err.txt").out;
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  EXPECT_EQ(shell(dir.path, "grep -c 'serving the final metrics' err.txt").out, "0\n");
  EXPECT_EQ(shell(run_dir, "tr -d ' \\n' < prometheus-targets.json").out, "[]");
}

TEST(RunCommand, RankZeroServesEveryRankOfTheRun) {
  temp_dir dir;
  const std::string sd = dir.path + "/sd";
  fs::create_directories(sd);
  // Rank 1 of a two-rank job first, alone (two processes writing one store file at once is the
  // store's business, not this test's): it serves nothing and lists no target.
  result r1 = shell(dir.path, "RANK=1 WORLD_SIZE=2 " + kTtap +
                                  " run -o job --budget 0 --prometheus 127.0.0.1:0 "
                                  "--prometheus-sd-dir " +
                                  sd + " -- " + kTarget + " 60 0 30 0");
  ASSERT_EQ(r1.status, 0) << r1.out;
  EXPECT_EQ(r1.out.find("metrics on"), std::string::npos) << r1.out;
  EXPECT_FALSE(fs::exists(dir.path + "/job/prometheus-targets.json"));
  // Rank 0: its endpoint serves both ranks, as one target, listed in the shared directory.
  pid_t pid = spawn_ttap(
      dir.path, dir.path + "/err0.txt",
      {"run", "-o", "job", "--budget", "0", "--prometheus", "127.0.0.1:0", "--prometheus-sd-dir",
       sd, "--prometheus-linger", "60", "--", kTarget, "60", "0", "-1", "0"},
      // The directory already holds rank 1's finished part: join it (one run per directory).
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TTAP_MODE", "append"}});
  ASSERT_GT(pid, 0);
  std::string metrics, target;
  for (int attempt = 0; attempt < 120 && metrics.empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (target.empty()) target = target_of(dir.path + "/job");
    if (target.empty()) continue;
    result r = shell(dir.path, "curl -sf http://" + target + "/metrics");
    if (r.status == 0 && r.out.find("rank=\"0\",run=\"job\"} 59") != std::string::npos &&
        r.out.find("rank=\"1\",run=\"job\",type=\"nonfinite\"} 1") != std::string::npos)
      metrics = r.out;
  }
  result listed = shell(sd, "ls");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n"
                                                             << shell(dir.path, "cat err0.txt").out;
  ASSERT_FALSE(metrics.empty()) << "rank 0's endpoint did not serve both ranks";
  EXPECT_NE(metrics.find("ttap_step{"), std::string::npos);
  EXPECT_NE(metrics.find("rank=\"1\",run=\"job\"} 59"), std::string::npos) << metrics;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 1) << listed.out;
  EXPECT_EQ(listed.out.rfind("job-", 0), 0u) << listed.out;
  // The job ended: the shared directory lists no run.
  EXPECT_EQ(shell(sd, "ls").out, "");
}

// A free loopback port: bound to port 0, read back, released (ttap run binds it a moment later;
// several agents run tests at once, so a fixed port would collide).
std::string free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    close(fd);
    return "";
  }
  close(fd);
  return std::to_string(ntohs(addr.sin_port));
}

// A client that connects and then sends nothing.
int idle_connection(const std::string &port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(std::stoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Silent clients, more of them than the server has threads, cannot stall a scrape: each gets a
// short request timeout (one idle client used to hold the single server thread for 30 s). The
// hostile tensor name comes out as a valid, one-line label value.
TEST(RunCommand, PrometheusEndpointIsNotStalledByIdleClients) {
  temp_dir dir;
  const std::string port = free_port();
  ASSERT_FALSE(port.empty());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    chdir(dir.path.c_str());
    freopen("/dev/null", "w", stderr);
    execl(kTtap.c_str(), kTtap.c_str(), "run", "--prometheus", port.c_str(), "--", kTarget.c_str(),
          "3000", "10", "2", "0", "hostile", static_cast<char *>(nullptr));
    _exit(126);
  }
  // The endpoint is up once a scrape shows the hostile tensor (non-finite: always published).
  std::string metrics;
  for (int attempt = 0; attempt < 80 && metrics.empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    result r = shell(dir.path, "curl -sf --max-time 60 http://127.0.0.1:" + port + "/metrics");
    if (r.status == 0 && r.out.find("tensor=\"evil") != std::string::npos) metrics = r.out;
  }
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) idle.push_back(idle_connection(port));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  result r = shell(dir.path, "curl -sf --max-time 60 http://127.0.0.1:" + port + "/metrics");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int fd : idle) close(fd);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_FALSE(metrics.empty()) << "the endpoint never showed the hostile tensor";
  EXPECT_EQ(r.status, 0) << r.out;
  // Twice the server's 2 s request timeout plus slack for a loaded machine; the stall was 30 s.
  EXPECT_LT(seconds, 10.0) << "a scrape behind 6 idle clients took " << seconds << " s";
  EXPECT_EQ(terminal_hazard(metrics), "");
  // Labels run, rank, host come first (sorted); the tensor label is escaped.
  const size_t series = metrics.find("ttap_tensor_l2{host=");
  ASSERT_NE(series, std::string::npos) << metrics;
  EXPECT_NE(metrics.find(",tensor=\"evil\\\\x1b]0;pwned\\\\x07", series), std::string::npos)
      << metrics;
}

}  // namespace
