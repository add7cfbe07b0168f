// Test support for `ttap report` and `ttap watch`: real runs written through the public C API
// (in this process, in a thread, or in a child process that then exits), and child processes with
// a deadline so a verb that never ends fails its test instead of hanging it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/ttap/tool_runner.h"
#include "ttap/ttap.h"

namespace ttap::test {

// The tensors of the test runs, in watch order. The NaN goes into kNanTensor at kNanStep.
inline constexpr const char *kParamTensor = "embed.weight";
inline constexpr const char *kAttnGrad = "layers.0.attn.grad";
inline constexpr const char *kNanTensor = "layers.1.mlp.grad";
inline constexpr const char *kActTensor = "layers.1.act";
inline constexpr int64_t kNanStep = 17;
inline constexpr int kSteps = 30;

// bf16 of a float, by truncation (exact for the values used here).
inline uint16_t bf16_of(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return uint16_t(bits >> 16);
}

// The values every test run holds at `step`, so tests can recompute what the report must say.
struct run_values {
  std::vector<float> param = std::vector<float>(512);
  std::vector<float> attn = std::vector<float>(256);
  std::vector<float> mlp = std::vector<float>(1024);
  std::vector<uint16_t> act = std::vector<uint16_t>(128);  // bf16

  void fill(int64_t step, int64_t nan_step) {
    for (size_t i = 0; i < param.size(); ++i) param[i] = 0.01f * float(i % 7 + 1);
    for (size_t i = 0; i < attn.size(); ++i)
      attn[i] = 1e-3f * float(step + 1) * std::sin(float(i + 1));
    for (size_t i = 0; i < mlp.size(); ++i) mlp[i] = 1e-2f * float(step + 1) * std::cos(float(i));
    if (step == nan_step) mlp[5] = NAN;
    // A few values of 1024 (2^10), past fp8 e4m3's largest bin (2^8): an e4m3 overflow risk.
    for (size_t i = 0; i < act.size(); ++i) act[i] = bf16_of(i % 4 == 0 ? 1024.0f : 0.5f);
  }
};

// sqrt(sum of squares) in double, as summary_finalize computes l2 for F32 data.
inline double l2_of(const std::vector<float> &v) {
  double s = 0;
  for (float x : v) {
    if (std::isfinite(x)) s += double(x) * double(x);
  }
  return std::sqrt(s);
}

class run_writer {
 public:
  // Opens the session and watches the four tensors. flush_ms: the store's commit interval; group:
  // a ttap_set_group kind that needs no communicator ("single"), or null for none; more_options:
  // further session options ("mode=append", "world=2").
  run_writer(const std::string &dir, int flush_ms = 1000, const char *group = nullptr,
             const std::string &more_options = "") {
    const std::string options = "backend=cpu,budget=0,flush_ms=" + std::to_string(flush_ms) +
                                (more_options.empty() ? "" : "," + more_options);
    check(ttap_open(dir.c_str(), options.c_str(), &m_session), "ttap_open");
    if (group) check(ttap_set_group(m_session, group, nullptr), "ttap_set_group");
    int32_t h;
    check(ttap_watch(m_session, kParamTensor, m_values.param.data(), TTAP_F32,
                     m_values.param.size(), TTAP_PARAM, &h),
          "ttap_watch");
    check(ttap_watch(m_session, kAttnGrad, m_values.attn.data(), TTAP_F32, m_values.attn.size(),
                     TTAP_GRAD, &h),
          "ttap_watch");
    check(ttap_watch(m_session, kNanTensor, m_values.mlp.data(), TTAP_F32, m_values.mlp.size(),
                     TTAP_GRAD, &h),
          "ttap_watch");
    check(ttap_watch(m_session, kActTensor, m_values.act.data(), TTAP_BF16, m_values.act.size(),
                     TTAP_ACTIVATION, &h),
          "ttap_watch");
  }
  ~run_writer() {
    if (m_session) ttap_close(m_session);
  }
  run_writer(const run_writer &) = delete;
  run_writer &operator=(const run_writer &) = delete;

  // One training step: new values (the NaN at kNanStep), a sample, and the loss.
  void step(int64_t step) {
    m_values.fill(step, kNanStep);
    check(ttap_step(m_session, step, nullptr), "ttap_step");
    check(ttap_log_scalar(m_session, "loss", 4.0 / double(step + 1), step), "ttap_log_scalar");
  }
  void flush() { check(ttap_flush(m_session), "ttap_flush"); }
  void close() {
    check(ttap_close(m_session), "ttap_close");
    m_session = nullptr;
  }

 private:
  static void check(ttap_status st, const char *what) {
    if (st != TTAP_OK) throw std::runtime_error(std::string(what) + ": " + ttap_last_error());
  }
  ttap_session *m_session = nullptr;
  run_values m_values;
};

// A finished run of kSteps steps written by this process.
inline void write_run(const std::string &dir) {
  run_writer w(dir);
  for (int64_t s = 0; s < kSteps; ++s) w.step(s);
  w.close();
}

// The same run written by a child process that has exited (and been reaped) on return, so the
// run's writer pid no longer exists.
inline void write_run_in_child(const std::string &dir) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    try {
      write_run(dir);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("the child writing the run failed");
  }
}

// A child process with stdout and stderr going to files, waited for with a deadline.
class child {
 public:
  child(const std::string &binary, const std::vector<std::string> &args, const temp_dir &dir,
        const std::string &name = "child")
      : m_out(dir.path(name + ".stdout")), m_err(dir.path(name + ".stderr")) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<char *> argv;
    argv.push_back(const_cast<char *>(binary.c_str()));
    for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&m_pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + binary + ": " + std::strerror(rc));
  }
  ~child() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  child(const child &) = delete;
  child &operator=(const child &) = delete;

  void signal(int sig) { ::kill(m_pid, sig); }

  // Waits up to `seconds`; past that, kills the child and reports timed_out.
  tool_run wait(double seconds, bool *timed_out) {
    *timed_out = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int wstatus = 0;
    while (::waitpid(m_pid, &wstatus, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        *timed_out = true;
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, &wstatus, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_pid = -1;
    tool_run run;
    run.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    run.out = read_whole_file(m_out);
    run.err = read_whole_file(m_err);
    return run;
  }

 private:
  std::string m_out, m_err;
  pid_t m_pid = -1;
};

// Runs `binary args...` to completion within `seconds` (a hang fails the test, not the suite).
inline tool_run run_with_deadline(const std::string &binary, const std::vector<std::string> &args,
                                  const temp_dir &dir, double seconds = 60) {
  child c(binary, args, dir);
  bool timed_out = false;
  tool_run run = c.wait(seconds, &timed_out);
  if (timed_out) run.err = "timed out after " + std::to_string(seconds) + " s\n" + run.err;
  return run;
}

inline std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

}  // namespace ttap::test
