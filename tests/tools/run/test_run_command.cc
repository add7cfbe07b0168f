// `ttap run` end to end through the built binary: the environment reaches the command, the
// summary names the planted NaN, exit statuses pass through, directories are guarded, signals are
// forwarded, and the Prometheus endpoint serves parseable metrics while the run is live.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/temp_dir.h"

namespace {

namespace fs = std::filesystem;

using ttap::testing::temp_dir;

struct result {
  int status;
  std::string out;  // stdout and stderr together
};

// Runs a shell command line in `cwd`, capturing both streams.
result shell(const std::string &cwd, const std::string &cmd) {
  std::string line = "cd '" + cwd + "' && " + cmd + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen(line.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  int status = pclose(pipe.release());
  return {WEXITSTATUS(status), out};
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

TEST(RunCommand, OptionsReachTheCommandAsEnvironment) {
  temp_dir dir;
  result r =
      shell(dir.path, kTtap +
                          " run -o e --every 4 --budget 0.25 --on-nonfinite abort -- sh -c "
                          "'echo $TTAP_RUN_DIR $TTAP_EVERY $TTAP_BUDGET $TTAP_ON_NONFINITE'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("e 4 0.250000 abort"), std::string::npos) << r.out;
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

TEST(RunCommand, PrometheusEndpointServesMetricsWhileLive) {
  temp_dir dir;
  const std::string port = std::to_string(20000 + getpid() % 20000);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    chdir(dir.path.c_str());
    freopen("/dev/null", "w", stderr);
    execl(kTtap.c_str(), kTtap.c_str(), "run", "--prometheus", port.c_str(), "--", kTarget.c_str(),
          "400", "10", "20", "0", static_cast<char *>(nullptr));
    _exit(126);
  }
  std::string metrics;
  for (int attempt = 0; attempt < 40; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    result r = shell(dir.path, "curl -sf http://127.0.0.1:" + port + "/metrics");
    if (r.status == 0 && r.out.find("ttap_tensor_l2{tensor=\"fc.weight\"}") != std::string::npos &&
        r.out.find("ttap_alerts_total{type=\"nonfinite\"} 1") != std::string::npos) {
      metrics = r.out;
      break;
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_FALSE(metrics.empty()) << "no live metrics with the tensor gauges and the NaN alert";
  // Every sample line parses as `name{labels} value`.
  size_t lines = 0;
  for (size_t pos = 0; pos < metrics.size();) {
    size_t end = metrics.find('\n', pos);
    std::string line = metrics.substr(pos, end - pos);
    pos = end == std::string::npos ? metrics.size() : end + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    char *rest = nullptr;
    std::strtod(line.c_str() + space + 1, &rest);
    EXPECT_EQ(*rest, '\0') << line;
    ++lines;
  }
  EXPECT_GT(lines, 10u);
  EXPECT_NE(metrics.find("ttap_global_grad_norm "), std::string::npos);
  EXPECT_NE(metrics.find("ttap_step "), std::string::npos);
}

}  // namespace
