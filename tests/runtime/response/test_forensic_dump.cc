// Forensic dumps (on_nonfinite=dump): the offending gradient and its parameter as .safetensors
// with their shapes, the last 16 summaries of every watched tensor and the recent scalars as JSON,
// the dump_max and dump_max_mb caps (what was left out listed), and a run directory where the dump
// cannot be written (read-only, full): the error is said once, the attempts are recorded, and
// training goes on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/runtime/store_query.h"
#include "tests/temp_dir.h"
#include "ttap/ttap.h"

namespace ttap {
namespace {

using nlohmann::json;
using testing::query;
using testing::temp_dir;

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A .safetensors file: its header and its data section.
struct safetensors {
  json header;
  std::string data;
};

safetensors read_safetensors(const std::string &path) {
  const std::string bytes = read_file(path);
  safetensors st;
  if (bytes.size() < 8) return st;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  st.header = json::parse(bytes.substr(8, n));
  st.data = bytes.substr(8 + n);
  return st;
}

// A 16 x 16 gradient with a NaN at (2, 5) on the NaN steps, its parameter, and the loss.
struct shaped_trainer {
  static constexpr uint64_t kRows = 16, kCols = 16;
  std::vector<float> param = std::vector<float>(kRows * kCols, 0.25f);
  std::vector<float> grad = std::vector<float>(kRows * kCols);
  std::vector<float> grad_at_nan;       // the gradient as it was at the first NaN step
  std::vector<float> *extra = nullptr;  // watched as "big.grad" when set, a NaN on the NaN steps

  void run(ttap_session *s, int steps, int first_nan, int last_nan) {
    const uint64_t shape[] = {kRows, kCols};
    int32_t h;
    ASSERT_EQ(ttap_watch_shaped(s, "fc.weight", param.data(), TTAP_F32, shape, 2, TTAP_PARAM, &h),
              TTAP_OK)
        << ttap_last_error();
    ASSERT_EQ(
        ttap_watch_shaped(s, "fc.weight.grad", grad.data(), TTAP_F32, shape, 2, TTAP_GRAD, &h),
        TTAP_OK)
        << ttap_last_error();
    if (extra) {
      ASSERT_EQ(ttap_watch(s, "big.grad", extra->data(), TTAP_F32, extra->size(), TTAP_GRAD, &h),
                TTAP_OK);
    }
    for (int step = 0; step < steps; ++step) {
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = 1e-2f * std::cos(float(i * 7 + step));
      if (extra) (*extra)[7] = 1.0f;
      if (step >= first_nan && step <= last_nan) {
        grad[2 * kCols + 5] = NAN;
        if (extra) (*extra)[7] = NAN;
      }
      if (step == first_nan) grad_at_nan = grad;
      ASSERT_EQ(ttap_log_scalar(s, "loss", 3.0 - 0.01 * step, step), TTAP_OK);
      ASSERT_EQ(ttap_step(s, step, nullptr), TTAP_OK) << ttap_last_error();
      ttap_verdict_t v;
      ASSERT_EQ(ttap_verdict(s, step, &v), TTAP_OK) << ttap_last_error();
      if (v.action == TTAP_ACTION_SKIP) continue;
      for (size_t i = 0; i < param.size(); ++i) param[i] -= grad[i];
    }
  }
};

TEST(ForensicDump, HoldsTheGradientItsParameterTheHistoryAndTheScalars) {
  temp_dir dir;
  ttap_session *s = nullptr;
  ASSERT_EQ(ttap_open(dir.path.c_str(), "backend=cpu,on_nonfinite=skip+dump", &s), TTAP_OK)
      << ttap_last_error();
  shaped_trainer t;
  t.run(s, 30, 20, 20);
  const std::vector<float> param_at_end = t.param;
  ASSERT_EQ(ttap_close(s), TTAP_OK);

  const std::string dump = dir.path + "/dumps/step-20-rank-0";
  ASSERT_TRUE(std::filesystem::is_directory(dump));
  const safetensors st = read_safetensors(dump + "/tensors.safetensors");
  ASSERT_TRUE(st.header.contains("fc.weight.grad")) << st.header.dump();
  ASSERT_TRUE(st.header.contains("fc.weight")) << st.header.dump();
  EXPECT_EQ(st.header["__metadata__"]["step"], "20");
  const json &g = st.header["fc.weight.grad"];
  EXPECT_EQ(g["dtype"], "F32");
  EXPECT_EQ(g["shape"], json::array({16, 16}));
  const uint64_t begin = g["data_offsets"][0], end = g["data_offsets"][1];
  ASSERT_EQ(end - begin, t.grad_at_nan.size() * 4);
  EXPECT_EQ(std::memcmp(st.data.data() + begin, t.grad_at_nan.data(), end - begin), 0)
      << "the dumped gradient is not the step's";
  const json &p = st.header["fc.weight"];
  EXPECT_EQ(p["shape"], json::array({16, 16}));

  const json j = json::parse(read_file(dump + "/summaries.json"));
  EXPECT_EQ(j["step"], 20);
  EXPECT_EQ(j["reason"], "nonfinite");
  ASSERT_EQ(j["tensors"].size(), 2u);
  EXPECT_EQ(j["tensors"][1]["why"], "parameter of fc.weight.grad");
  EXPECT_TRUE(j["left_out"].empty());
  const json &history = j["history"]["fc.weight.grad"];
  ASSERT_EQ(history.size(), 16u);  // the last 16 summaries up to the step
  EXPECT_EQ(history.front()["step"], 5);
  EXPECT_EQ(history.back()["step"], 20);
  EXPECT_EQ(history.back()["nan"], 1);
  EXPECT_EQ(j["history"]["fc.weight"].size(), 16u);
  ASSERT_FALSE(j["scalars"].empty());
  EXPECT_EQ(j["scalars"].back()["name"], "loss");
  EXPECT_EQ(j["scalars"].back()["step"], 20);

  const auto actions = query(dir.path, "SELECT step, action, detail FROM actions_v ORDER BY time");
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0], (std::vector<std::string>{"20", "skip", "fc.weight.grad"}));
  EXPECT_EQ(actions[1], (std::vector<std::string>{"20", "dump", dump}));
  for (float w : param_at_end) ASSERT_TRUE(std::isfinite(w));
}

TEST(ForensicDump, AtMostDumpMaxAndEachWithinDumpMaxMb) {
  temp_dir dir;
  ttap_session *s = nullptr;
  // 1000 bytes: the 1024-byte gradient does not fit, and is listed as left out.
  ASSERT_EQ(ttap_open(dir.path.c_str(),
                      "backend=cpu,on_nonfinite=dump,dump_max=2,dump_max_mb=0.00095", &s),
            TTAP_OK)
      << ttap_last_error();
  shaped_trainer t;
  t.run(s, 20, 10, 15);
  ASSERT_EQ(ttap_close(s), TTAP_OK);
  std::vector<std::string> dumps;
  for (const auto &e : std::filesystem::directory_iterator(dir.path + "/dumps"))
    dumps.push_back(e.path().filename().string());
  std::sort(dumps.begin(), dumps.end());
  EXPECT_EQ(dumps, (std::vector<std::string>{"step-10-rank-0", "step-11-rank-0"}));
  const json j = json::parse(read_file(dir.path + "/dumps/step-10-rank-0/summaries.json"));
  EXPECT_TRUE(j["tensors"].empty());
  ASSERT_EQ(j["left_out"].size(), 2u) << j.dump();
  EXPECT_EQ(j["left_out"][0]["name"], "fc.weight.grad");
  EXPECT_NE(j["left_out"][0]["why"].get<std::string>().find("over dump_max_mb"), std::string::npos);
  EXPECT_EQ(query(dir.path, "SELECT count(*) FROM actions_v WHERE action = 'dump'")[0][0], "2");
  EXPECT_EQ(query(dir.path, "SELECT count(*) FROM actions_v WHERE action = 'skip'")[0][0], "0");
}

// In a child process: a trainer whose dumps cannot be written. `prepare` runs in the child first
// (dropping privileges, limiting file sizes). The child's stderr is returned; it exits 0 once every
// step ran.
std::string run_failing_dumps(const std::string &run_dir, void (*prepare)(), int *exit_status) {
  const std::string err_path = run_dir + ".stderr";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0 || dup2(fd, 2) < 0) _exit(10);
    prepare();
    ttap_session *s = nullptr;
    if (ttap_open(run_dir.c_str(), "backend=cpu,on_nonfinite=skip+dump", &s) != TTAP_OK) {
      fprintf(stderr, "open: %s\n", ttap_last_error());
      _exit(11);
    }
    shaped_trainer t;
    std::vector<float> big(1 << 20, 1.0f);  // 4 MiB, dumped with the other gradient
    t.extra = &big;
    t.run(s, 30, 10, 20);
    if (ttap_close(s) != TTAP_OK) _exit(13);
    _exit(::testing::Test::HasFailure() ? 14 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
  return read_file(err_path);
}

size_t count_of(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

void check_failed_dumps(const std::string &run_dir, const std::string &err, int status,
                        const std::string &cause) {
  EXPECT_EQ(status, 0) << err;
  EXPECT_EQ(count_of(err, "a forensic dump could not be written"), 1u) << err;
  EXPECT_NE(err.find(cause), std::string::npos) << err;
  // Each of the dump_max attempts is recorded as failed; every NaN step was still skipped.
  const auto dumps = query(run_dir, "SELECT detail FROM actions_v WHERE action = 'dump'");
  ASSERT_EQ(dumps.size(), 3u);
  for (const auto &d : dumps) EXPECT_EQ(d[0].rfind("failed: ", 0), 0u) << d[0];
  EXPECT_EQ(query(run_dir, "SELECT count(*) FROM actions_v WHERE action = 'skip'")[0][0], "11");
  EXPECT_EQ(query(run_dir, "SELECT max(step) FROM samples_v")[0][0], "29");  // training went on
}

// Root ignores permissions: the child runs as nobody, as a real user would meet it.
TEST(ForensicDump, AReadOnlyDumpDirectoryIsReportedOnceAndTrainingGoesOn) {
  temp_dir dir;
  const std::string run = dir.path + "/run";
  std::filesystem::create_directories(run + "/dumps");
  ASSERT_EQ(chmod(dir.path.c_str(), 0777), 0);
  ASSERT_EQ(chmod(run.c_str(), 0777), 0);
  ASSERT_EQ(chmod((run + "/dumps").c_str(), 0555), 0);
  int status = -1;
  const std::string err = run_failing_dumps(
      run,
      [] {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(15);
      },
      &status);
  check_failed_dumps(run, err, status, "Permission denied");
}

// A full disk, made real for the child by a file-size limit: the 4 MiB tensor does not fit (the
// store's few hundred kilobytes do).
TEST(ForensicDump, AFullDiskIsReportedOnceAndTrainingGoesOn) {
  temp_dir dir;
  const std::string run = dir.path + "/run";
  int status = -1;
  const std::string err = run_failing_dumps(
      run,
      [] {
        signal(SIGXFSZ, SIG_IGN);
        rlimit limit{2 << 20, 2 << 20};
        setrlimit(RLIMIT_FSIZE, &limit);
      },
      &status);
  check_failed_dumps(run, err, status, "tensors.safetensors: File too large");
}

}  // namespace
}  // namespace ttap
